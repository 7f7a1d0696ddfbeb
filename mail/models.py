"""Email: the outbound queue, the unsubscribe list, and who wants which notice.

The queue is a table, not a thread or a task runner: a row is written in the transaction that
decides to send (so a rolled-back decision sends nothing) and sent later by `mail.outbox`, from
housekeeping or `manage.py send_queued_mail`, retried with backoff until the SMTP server takes
it. A row keeps the message as composed (subject, both parts, headers, Message-ID), so a retry
sends the very same email. Nothing else saves these models: the writes are `mail.services`.
"""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from chat.models import Conversation, Inbox
from supportdesk.cryptofields import EncryptedTextField

DEFAULT_NOTICE_MINUTES = 5


class InboxMailSettings(models.Model):
    """An inbox's email notices. An inbox without a row has the defaults (`for_inbox`)."""

    inbox = models.OneToOneField(
        Inbox, on_delete=models.CASCADE, primary_key=True, related_name="mail_settings"
    )
    missed_reply_minutes = models.PositiveIntegerField(
        _("email a visitor an unseen reply after (minutes)"),
        null=True,
        blank=True,
        default=DEFAULT_NOTICE_MINUTES,
        validators=[MinValueValidator(1)],
        help_text=_(
            "A visitor who left an email address gets the agents' replies they have not seen "
            "after this long, with a link back to the chat. Empty: never."
        ),
    )
    missed_chat_minutes = models.PositiveIntegerField(
        _("email agents about a waiting chat after (minutes)"),
        null=True,
        blank=True,
        default=DEFAULT_NOTICE_MINUTES,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Agents who asked for it are emailed when a chat has waited this long while nobody "
            "was online in the inbox. Empty: never."
        ),
    )

    class Meta:
        verbose_name = _("inbox email settings")
        verbose_name_plural = _("inbox email settings")

    def __str__(self) -> str:
        return str(self.inbox)


class AgentMailSettings(models.Model):
    """What an agent asked to be emailed about (opt-in: no row, no email)."""

    agent = models.OneToOneField(
        "agents.Agent", on_delete=models.CASCADE, primary_key=True, related_name="mail_settings"
    )
    missed_chats = models.BooleanField(
        _("email me about chats that wait in my inboxes while nobody is online"), default=False
    )

    class Meta:
        verbose_name = _("agent email settings")
        verbose_name_plural = _("agent email settings")

    def __str__(self) -> str:
        return str(self.agent)


class OutboundEmail(models.Model):
    class Kind(models.TextChoices):
        MISSED_REPLIES = "missed_replies", _("Replies the visitor missed")
        TRANSCRIPT = "transcript", _("Transcript")
        MISSED_CHAT = "missed_chat", _("Missed chat (to an agent)")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        # Not sent on purpose: the address unsubscribed after the email was queued.
        CANCELLED = "cancelled", _("Cancelled")

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The same notice is never queued twice: "missed_replies:<conversation>:<read seq>", ...
    dedupe_key = models.CharField(max_length=200, unique=True)
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    # The conversation it is about: deleting it (a visitor's erasure, retention) deletes the
    # copies of its messages held here too. Not a hidden relation ("+"): chat.privacy finds what
    # an erasure deletes among the conversation's visible ones, to count it first.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="outbound_emails"
    )
    # An agent's notice; a visitor's email has none.
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    to = models.EmailField()
    subject = models.CharField(max_length=300)
    # Copies of the messages it shows: encrypted at rest like the messages themselves when a
    # key is set (supportdesk.cryptofields, docs/SECURITY.md "Encryption at rest").
    text = EncryptedTextField()
    html = EncryptedTextField()
    headers = models.JSONField(default=dict, blank=True)
    # Ours, unique: a reply's In-Reply-To / References name it (mail.services.inbound_receive).
    message_id = models.CharField(max_length=255, unique=True)
    # The visitor's messages it shows: after `since_seq`, up to `covers_seq`. A reply to it
    # means the visitor read up to `covers_seq`.
    since_seq = models.PositiveIntegerField(null=True, blank=True)
    covers_seq = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("outbound email")
        indexes = [
            # The worker: the pending rows that are due, oldest due first.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="outbound_email_due",
            ),
            # The scans: is there a notice about this conversation already?
            models.Index(fields=["conversation", "kind"], name="outbound_email_conversation"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sent", "failed", "cancelled"]),
                name="outbound_email_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["missed_replies", "transcript", "missed_chat"]),
                name="outbound_email_kind_valid",
            ),
            # An agent's notice names the agent; a visitor's does not.
            models.CheckConstraint(
                condition=Q(kind="missed_chat", agent__isnull=False)
                | (~Q(kind="missed_chat") & Q(agent__isnull=True)),
                name="outbound_email_agent_iff_missed_chat",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to} ({self.status})"

    @property
    def to_visitor(self) -> bool:
        return self.kind != self.Kind.MISSED_CHAT


class Unsubscribe(models.Model):
    """An address that asked for no more visitor emails from an inbox (RFC 8058 one-click).

    Holds a hash of the address (`mail.tokens.address_key`), not the address: the list must
    outlive the visitor (erasing a visitor must not start the emails again), and a hash lets it
    without keeping the address itself."""

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    address_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["inbox", "address_key"], name="unsubscribe_unique")
        ]

    def __str__(self) -> str:
        return f"{self.inbox_id}:{self.address_key[:12]}…"
