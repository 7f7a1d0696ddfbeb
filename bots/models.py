"""An inbox's bot and its rules, configured in the admin.

A bot sees an inbox's new conversations first (status `bot`, chat.models.Conversation): it
answers each visitor message from its rules and hands the chat to the team (the queue) when the
visitor asks for a person, when a rule or its fallback says so, or after `max_turns` answers.
"""

from __future__ import annotations

import re

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

DEFAULT_HANDOVER_KEYWORDS = "human, person, agent, someone, operator, Mensch, Mitarbeiter"
DEFAULT_FALLBACK = "I'm not sure; let me get you a person."


def keyword_list(text: str) -> list[str]:
    """Comma-separated keywords (or phrases), spaces collapsed, empty ones left out."""
    return [k for part in text.split(",") if (k := " ".join(part.split()))]


def matches_any(text: str, keywords: list[str]) -> bool:
    """Whether `text` holds one of `keywords` as whole words, ignoring case ("agent" is in
    "An agent, please" but not in "agents" or "reagent")."""
    return any(
        re.search(rf"(?<!\w){re.escape(k)}(?!\w)", text, flags=re.IGNORECASE) for k in keywords
    )


class Bot(models.Model):
    """The bot of one inbox, of one of two kinds:

    - rules: the desk answers from the bot's rules (BotRule) itself;
    - webhook: the desk posts each visitor message it is the bot's turn to answer to the
      inbox's webhook endpoints that take the `bot.turn` event (webhooks app: signed, retried,
      in order), and the bot's own service answers through the API with the bot's token
      (docs/API.md, "Bots"). A bot that does not answer within `answer_timeout_seconds` hands
      the chat to the team, so a bot that is down never strands a visitor.

    Both kinds hand over the same way (bots.services.bot_turn): the visitor asks for a person,
    the answers are used up (`max_turns`), or the bot says so (a rule; the API's handover)."""

    class Kind(models.TextChoices):
        RULES = "rules", _("Rules (keyword → answer)")
        WEBHOOK = "webhook", _("Webhook (your service answers through the API)")

    inbox = models.OneToOneField(
        "chat.Inbox", on_delete=models.CASCADE, related_name="bot", verbose_name=_("inbox")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.RULES)
    name = models.CharField(
        _("name"),
        max_length=100,
        default="Assistant",
        help_text=_("Shown with its messages, with a small “Bot” mark."),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_(
            "New conversations of the inbox start with the bot. Switching it off hands the"
            " conversations it has to the team."
        ),
    )
    max_turns = models.PositiveSmallIntegerField(
        _("answers before handing over"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text=_("After this many answers, the visitor's next message goes to the team."),
    )
    handover_keywords = models.CharField(
        _("words that ask for a person"),
        max_length=500,
        blank=True,
        default=DEFAULT_HANDOVER_KEYWORDS,
        help_text=_(
            "Comma-separated; a visitor message with one of them (whole words, any case) goes"
            " to the team at once. The “Talk to a person” button always does."
        ),
    )
    handover_message = models.CharField(
        _("message when handing over"),
        max_length=500,
        blank=True,
        help_text=_("Optional: what the bot says before the team takes over."),
    )
    fallback_message = models.CharField(
        _("answer when no rule matches"),
        max_length=500,
        default=DEFAULT_FALLBACK,
    )
    fallback_hands_over = models.BooleanField(
        _("hand over when no rule matches"),
        default=True,
        help_text=_("Off: the bot answers with the text above and keeps the chat."),
    )
    answer_timeout_seconds = models.PositiveSmallIntegerField(
        _("seconds to wait for a webhook bot"),
        default=20,
        validators=[MinValueValidator(5), MaxValueValidator(600)],
        help_text=_(
            "Webhook bots only: a visitor message the bot has not answered in this time goes"
            " to the team."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("bot")
        verbose_name_plural = _("bots")
        ordering = ["inbox__name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.inbox})"


class BotRule(models.Model):
    """Keyword → answer: the first rule (by position) with a keyword in the visitor's message
    answers it."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    keywords = models.CharField(
        _("keywords"),
        max_length=500,
        help_text=_("Comma-separated words or phrases, matched as whole words in any case."),
    )
    answer = models.TextField(_("answer"), max_length=2000)
    quick_replies = models.TextField(
        _("suggested replies"),
        blank=True,
        max_length=1000,
        help_text=_(
            "One a line: buttons under the answer in the widget; a click sends its text."
            " “Talk to a person” is always offered."
        ),
    )
    hands_over = models.BooleanField(
        _("hand over after answering"),
        default=False,
        help_text=_("The team takes the chat right after this answer."),
    )

    class Meta:
        verbose_name = _("rule")
        verbose_name_plural = _("rules")
        ordering = ["position", "pk"]
        indexes = [models.Index(fields=["bot", "position"])]

    def __str__(self) -> str:
        return self.keywords

    def matches(self, text: str) -> bool:
        return matches_any(text, keyword_list(self.keywords))

    @property
    def quick_reply_list(self) -> list[str]:
        return [line for r in self.quick_replies.splitlines() if (line := " ".join(r.split()))]
