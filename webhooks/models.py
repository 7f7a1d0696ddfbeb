"""Webhook endpoints per inbox, and the outbox of their deliveries (docs/API.md, "Webhooks").

A delivery row is written in the transaction of the change it reports (webhooks.services), so
a rolled-back change sends nothing and a crash after the commit loses nothing: the row waits
until a worker (webhooks.outbox) has it acknowledged with a 2xx, retrying with backoff.
"""

from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from supportdesk.cryptofields import EncryptedJSONField


class Event(models.TextChoices):
    CONVERSATION_CREATED = "conversation.created", _("A conversation was created")
    CONVERSATION_ASSIGNED = "conversation.assigned", _("A conversation was assigned")
    CONVERSATION_ENDED = "conversation.ended", _("A conversation ended")
    CONVERSATION_RATED = "conversation.rated", _("A conversation was rated")
    MESSAGE_CREATED = "message.created", _("A message was stored")
    # For a webhook bot's service only (bots.services): the visitor wrote and it is the bot's
    # turn to answer. Not among a new endpoint's default events.
    BOT_TURN = "bot.turn", _("The inbox's webhook bot is to answer a visitor")


def new_secret() -> str:
    """A signing secret: 32 random bytes, URL-safe text, recognisable by its prefix."""
    return "whsec_" + secrets.token_urlsafe(32)


def all_events() -> list[str]:
    """A new endpoint's events: all but the bot's (a CRM does not answer visitors)."""
    return [event for event in Event.values if event != Event.BOT_TURN]


class WebhookEndpoint(models.Model):
    inbox = models.ForeignKey(
        "chat.Inbox", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(_("URL"), max_length=2000)
    secret = models.CharField(
        _("signing secret"),
        max_length=100,
        default=new_secret,
        help_text=_("Receivers check the Supportdesk-Webhook-Signature header with it."),
    )
    events = models.JSONField(_("events"), default=all_events)
    include_internal_notes = models.BooleanField(
        _("include internal notes"),
        default=False,
        help_text=_("message.created also for agents' internal notes (never shown to visitors)."),
    )
    allow_private_network = models.BooleanField(
        _("allow a private-network address"),
        default=False,
        help_text=_(
            "Let this URL reach loopback, private or link-local addresses. Needs "
            "SUPPORTDESK_WEBHOOKS_ALLOW_PRIVATE on the server as well (docs/SECURITY.md)."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    disabled_reason = models.CharField(_("why it was disabled"), max_length=500, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        indexes = [models.Index(fields=["inbox", "is_active"], name="webhooks_endpoint_inbox")]

    def __str__(self) -> str:
        return self.url

    def wants(self, event: str, *, internal: bool = False) -> bool:
        """Whether this endpoint takes `event` (an internal note only if it asked for them)."""
        return event in self.events and (not internal or self.include_internal_notes)


class WebhookDelivery(models.Model):
    """One event for one endpoint: the outbox row and the state of its delivery."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed (gave up)")
        CANCELLED = "cancelled", _("cancelled")

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The id receivers de-duplicate on: one per event (the same for every endpoint that gets
    # it), kept by every retry and redelivery.
    event_id = models.UUIDField(default=uuid.uuid4, editable=False)
    event = models.CharField(max_length=40, choices=Event.choices)
    # Erasing a visitor, or the retention purge, deletes their conversations' deliveries too:
    # a payload holds what they wrote (chat.privacy counts it through this cascade).
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    seq = models.PositiveIntegerField(help_text=_("The conversation's last seq at the event."))
    # A copy of what was written (a message's text): encrypted at rest like the message itself
    # when a key is set (supportdesk.cryptofields, docs/SECURITY.md "Encryption at rest").
    payload = EncryptedJSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhooks_event_once")
        ]
        indexes = [
            # The worker: what is due; and the head of each (endpoint, conversation) line.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state="pending"),
                name="webhooks_due",
            ),
            models.Index(
                fields=["endpoint", "conversation", "id"],
                condition=models.Q(state="pending"),
                name="webhooks_line",
            ),
            models.Index(fields=["created_at"], name="webhooks_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id}"
