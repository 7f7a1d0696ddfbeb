"""Agents: the people who answer chats, their presence, and what they keep at hand.

One Agent per Django user that works in the dashboard. Presence is derived, never stored as a
flag that could go stale: an agent is connected while one of their dashboard sockets has sent a
heartbeat recently (AgentConnection), and online or away by their own choice (`availability`).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from chat.models import Inbox


class Agent(models.Model):
    class Role(models.TextChoices):
        AGENT = "agent", _("Agent")
        # Sees and manages every inbox, and may reassign any chat.
        ADMIN = "admin", _("Admin")

    class Availability(models.TextChoices):
        ONLINE = "online", _("Online")
        AWAY = "away", _("Away")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent"
    )
    display_name = models.CharField(max_length=100)
    # The face visitors see in the widget's header and beside this agent's replies; without one,
    # their initials on a colour derived from the name (chat.templatetags.avatars).
    avatar = models.ImageField(
        _("avatar"),
        upload_to="agent-avatars/",
        blank=True,
        help_text=_("A square photo, at least 96 px; shown to visitors in the chat widget."),
    )
    inboxes = models.ManyToManyField("chat.Inbox", related_name="agents", blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    availability = models.CharField(
        max_length=10,
        choices=Availability.choices,
        default=Availability.ONLINE,
        help_text=_("Set by the agent; an agent with no open dashboard is offline regardless."),
    )
    capacity = models.PositiveSmallIntegerField(
        default=3, help_text=_("How many active chats automatic assignment gives this agent.")
    )
    # Round-robin among equally busy agents: the one assigned longest ago goes first.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN

    def visible_inboxes(self) -> QuerySet[Inbox]:
        """The inboxes this agent sees: the ones they work in, or every one for an admin."""
        return Inbox.objects.all() if self.is_admin else self.inboxes.all()


class AgentConnection(models.Model):
    """One open dashboard socket. Deleted on disconnect; a crashed server's rows go stale and
    stop counting once `last_seen_at` is older than the presence timeout."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="connections")
    channel_name = models.CharField(max_length=200, unique=True)
    connected_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["agent", "last_seen_at"])]

    def __str__(self) -> str:
        return f"{self.agent_id} on {self.channel_name}"


class ReadMark(models.Model):
    """How far one agent has read one conversation: a watermark, not a row per message."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="read_marks")
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.CASCADE, related_name="read_marks"
    )
    seq = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "conversation"], name="readmark_unique")
        ]

    def __str__(self) -> str:
        return f"agent {self.agent_id} read {self.conversation_id} to {self.seq}"


def message_length_limit() -> int:
    """SUPPORTDESK_MAX_MESSAGE_LENGTH, read when a form validates (settings may change)."""
    return settings.SUPPORTDESK_MAX_MESSAGE_LENGTH


class CannedResponse(models.Model):
    """A saved reply: shared by an inbox's agents, or personal to one agent (any inbox)."""

    inbox = models.ForeignKey(
        "chat.Inbox",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="canned_responses",
    )
    agent = models.ForeignKey(
        Agent, on_delete=models.CASCADE, null=True, blank=True, related_name="canned_responses"
    )
    shortcut = models.SlugField(
        max_length=40, help_text=_("Typed after “/” in the reply box, e.g. “refund”.")
    )
    # At most a message's length: a saved reply is inserted into the reply box and sent.
    body = models.TextField(validators=[MaxLengthValidator(message_length_limit)])

    class Meta:
        ordering = ["shortcut"]
        constraints = [
            models.CheckConstraint(
                condition=Q(inbox__isnull=True) ^ Q(agent__isnull=True),
                name="canned_shared_xor_personal",
            ),
            models.UniqueConstraint(
                fields=["inbox", "shortcut"],
                condition=Q(agent__isnull=True),
                name="canned_shortcut_unique_per_inbox",
            ),
            models.UniqueConstraint(
                fields=["agent", "shortcut"],
                condition=Q(inbox__isnull=True),
                name="canned_shortcut_unique_per_agent",
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class Activity(models.Model):
    """The audit log: every agent action, with its time and actor."""

    class Verb(models.TextChoices):
        LOGIN = "login", _("logged in")
        LOGOUT = "logout", _("logged out")
        STATUS = "status", _("changed status")
        CLAIM = "claim", _("claimed")
        ASSIGN = "assign", _("was assigned")
        TRANSFER = "transfer", _("transferred")
        END = "end", _("ended")
        NOTE = "note", _("wrote a note")
        CALL = "call", _("called")

    actor = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="activities"
    )
    verb = models.CharField(max_length=20, choices=Verb.choices)
    conversation = models.ForeignKey(
        "chat.Conversation",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="activities",
    )
    target_agent = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = _("activities")
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self) -> str:
        return f"{self.actor or 'system'} {self.get_verb_display()} {self.detail}".strip()
