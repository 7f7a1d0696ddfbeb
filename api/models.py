"""API tokens: how the customer's scripts act as an agent through the REST API (docs/API.md).

A token belongs to an agent (it acts as that agent) or to an inbox's webhook bot (it can only
post the bot's answers and hand over: docs/API.md, "Bots"). It is `sd_<prefix>_<secret>`. Only
the prefix (to find the row) and the SHA-256 of the secret are stored: the token is shown once,
when it is made, and a copy of the database does not hold a usable one. The secret is 256
random bits, so a plain hash (no slow KDF) is enough: there is nothing to guess from the hash.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ApiToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read", _("Read")
        WRITE = "write", _("Write")

    agent = models.ForeignKey(
        "agents.Agent",
        on_delete=models.CASCADE,
        related_name="api_tokens",
        null=True,
        blank=True,
        verbose_name=_("agent"),
    )
    bot = models.ForeignKey(
        "bots.Bot",
        on_delete=models.CASCADE,
        related_name="api_tokens",
        null=True,
        blank=True,
        verbose_name=_("bot"),
        help_text=_("A webhook bot's token: it posts the bot's answers and hands over."),
    )
    name = models.CharField(_("name"), max_length=100)
    # Looked up by the prefix; the hash is compared in constant time (api.selectors).
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # Updated at most once a minute (api.services.api_token_used): not a write per request.
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["agent", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=~Q(prefix=""), name="api_token_prefix_not_empty"),
            models.CheckConstraint(
                condition=Q(agent__isnull=True) ^ Q(bot__isnull=True),
                name="api_token_agent_or_bot",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (sd_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
