"""Inboxes, visitors, conversations and their messages.

Every write goes through `chat.services` / `agents.services`; nothing else saves these models.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator, validate_email
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from chat.contrast import accent_on_white, ink_on
from chat.keymodels import DataKey, EncryptionProgress  # noqa: F401 - the models of encryption
from supportdesk.cryptofields import BlindIndexed, BlindIndexField, EncryptedTextField

DEFAULT_ACCENT = "#3b5bdb"
ACCENT_RE = re.compile(r"#[0-9a-fA-F]{6}")


class AgentRef(Protocol):
    """An agent (`agents.Agent`) as chat's functions use one. The agents' app sits above chat
    (docs/ARCHITECTURE.md): chat names it only in foreign keys, and types it by this."""

    @property
    def pk(self) -> Any: ...

    display_name: str

    @property
    def is_admin(self) -> bool: ...


def new_public_key() -> str:
    return secrets.token_urlsafe(16)


def new_identity_secret() -> str:
    return secrets.token_hex(32)


# scheme://host[:port], the host a DNS name (optionally `*.` for its subdomains, as CSP allows),
# an IPv4 address or a bracketed IPv6 one. Nothing else: a `;` or a space would add directives to
# the widget page's Content-Security-Policy, which these lines are written into.
ORIGIN = re.compile(
    r"https?://(?:(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}"
    r"[a-z0-9])?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?",
    re.IGNORECASE,
)


def validate_origins(value: str) -> None:
    """Each non-empty line an origin (`ORIGIN`); the error names the lines that are not."""
    bad = [
        line.strip()
        for line in value.splitlines()
        if line.strip() and not ORIGIN.fullmatch(line.strip().rstrip("/"))
    ]
    if bad:
        raise ValidationError(
            _("Not an origin (scheme://host[:port], e.g. https://www.example.com): %(lines)s"),
            code="invalid_origin",
            params={"lines": ", ".join(bad[:5])},
        )


class Inbox(models.Model):
    name = models.CharField(_("name"), max_length=100)
    # Public by design: it sits in the customer's HTML. It names the inbox, it grants nothing.
    public_key = models.CharField(
        _("public key"), max_length=64, unique=True, default=new_public_key, editable=False
    )
    # Secret: only the customer's server knows it, to sign its logged-in users (chat.identity).
    identity_secret = models.CharField(
        _("identity verification secret"),
        max_length=64,
        default=new_identity_secret,
        editable=False,
    )
    greeting = models.CharField(
        _("greeting"),
        max_length=500,
        blank=True,
        default="Hi! Ask us anything, we usually reply in a few minutes.",
    )
    allowed_origins = models.TextField(
        _("allowed embedding origins"),
        blank=True,
        max_length=4000,
        validators=[validate_origins],
        help_text=_(
            "One origin per line, e.g. https://www.example.com. Empty: any site may embed."
        ),
    )

    class LauncherPosition(models.TextChoices):
        RIGHT = "right", _("Bottom right")
        LEFT = "left", _("Bottom left")

    widget_title = models.CharField(
        _("widget title"), max_length=100, blank=True, help_text=_("Empty: the inbox's name.")
    )
    accent_color = models.CharField(
        _("accent colour"),
        max_length=7,
        default="#3b5bdb",
        validators=[
            RegexValidator(r"^#[0-9a-fA-F]{6}$", _("A colour like #3b5bdb (# and six hex digits)."))
        ],
    )
    launcher_position = models.CharField(
        _("launcher position"),
        max_length=5,
        choices=LauncherPosition.choices,
        default=LauncherPosition.RIGHT,
    )

    logo = models.ImageField(
        _("logo"),
        upload_to="inbox-logos/",
        blank=True,
        help_text=_(
            "Shown beside the widget's greeting instead of a letter; square, at least 96 px."
        ),
    )

    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", help_text=_("e.g. Europe/Berlin")
    )
    opens_at = models.TimeField(
        _("opens at"), null=True, blank=True, help_text=_("Empty: always open.")
    )
    closes_at = models.TimeField(_("closes at"), null=True, blank=True)
    open_days = models.CharField(
        _("open days"),
        max_length=7,
        default="12345",
        validators=[RegexValidator(r"^[1-7]{1,7}$", _("Weekday digits, 1 = Monday … 7 = Sunday."))],
        help_text=_("Weekday digits: 12345 = Monday to Friday."),
    )

    prechat_form = models.BooleanField(
        _("ask for name and email before the chat"),
        default=False,
    )

    class Assignment(models.TextChoices):
        MANUAL = "manual", _("Manual: agents claim chats")
        AUTO = "auto", _("Automatic: the least busy online agent gets the next chat")

    assignment = models.CharField(
        _("assignment"), max_length=10, choices=Assignment.choices, default=Assignment.MANUAL
    )
    # Triage on the dashboard: a chat's wait shows amber past the first, red past the second.
    wait_warn_minutes = models.PositiveIntegerField(
        _("wait warning after (minutes)"),
        default=2,
        validators=[MinValueValidator(1)],
        help_text=_("A waiting visitor's time turns amber on the dashboard after this long."),
    )
    wait_alert_minutes = models.PositiveIntegerField(
        _("wait alert after (minutes)"),
        default=5,
        validators=[MinValueValidator(1)],
        help_text=_("… and red after this long."),
    )
    auto_end_minutes = models.PositiveIntegerField(
        _("end chats after visitor inactivity (minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "An active chat is closed when the agent answered last and the visitor has not "
            "written for this long. Empty: chats stay open until an agent ends them."
        ),
    )
    # Voice and video calls (chat.calls): an agent may call the visitor from an active chat.
    # Off by default: a call asks for the visitor's camera and microphone.
    calls_enabled = models.BooleanField(
        _("voice and video calls"),
        default=False,
        db_default=False,
        help_text=_(
            "Agents can call the visitor from an active chat; the visitor accepts or declines "
            "in the widget. Media goes between the two browsers, never through the desk."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = _("inboxes")
        ordering = ["name"]
        # The admins' status page shows every inbox, queue, agent and their presence: staff
        # see it only with this (superusers have every permission).
        permissions = [("view_desk_status", _("Can see the desk's status page"))]

    def __str__(self) -> str:
        return self.name

    @property
    def title(self) -> str:
        return self.widget_title or self.name

    @property
    def accent(self) -> str:
        """The accent colour, safe to put in a style attribute whatever the database holds."""
        return self.accent_color if ACCENT_RE.fullmatch(self.accent_color or "") else DEFAULT_ACCENT

    @property
    def accent_ink(self) -> str:
        """Text on the accent (header, the visitor's bubbles, buttons): white or near-black,
        whichever is readable (WCAG AA) on it."""
        return ink_on(self.accent)

    @property
    def accent_mark(self) -> str:
        """The accent for marks on the white page (read ticks, focus rings): darkened as far as
        they need to stand out (3:1)."""
        return accent_on_white(self.accent)

    @property
    def allowed_origin_list(self) -> list[str]:
        """The lines that are origins (`validate_origins`); a line saved before that check that
        is not one is left out, so nothing else reaches the page's Content-Security-Policy."""
        lines = (line.strip().rstrip("/") for line in self.allowed_origins.splitlines())
        return [line for line in lines if ORIGIN.fullmatch(line)]


class Visitor(BlindIndexed, models.Model):
    """Someone on a customer's site. Anonymous unless they give a name or email."""

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="visitors")
    # Encrypted at rest when a key is set (supportdesk.crypto): `text` columns, as a ciphertext
    # is longer than its plaintext; the lengths bound the plaintext. SQL cannot search them then.
    name = EncryptedTextField(max_length=100, blank=True)
    email = EncryptedTextField(max_length=254, blank=True, validators=[validate_email])
    # With a key set, a keyed token of the address (case folded), for the API's look-up by
    # email (api.views.VisitorList); "" without a key.
    email_token = BlindIndexField(source="email", whole=True, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # What the widget reports as the visitor moves around the host site (agents see it live).
    current_url = models.CharField(max_length=2000, blank=True)
    page_title = models.CharField(max_length=300, blank=True)
    referrer = models.CharField(max_length=2000, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    language = models.CharField(max_length=35, blank=True)
    context_updated_at = models.DateTimeField(null=True, blank=True)
    # The customer's own user id, vouched for by their server (chat.identity): the same person
    # on every device. Empty for anonymous visitors.
    external_id = models.CharField(_("user id on the customer's site"), max_length=255, blank=True)
    identity_verified_at = models.DateTimeField(null=True, blank=True)
    # Each visitor token carries the generation it was issued in (chat.tokens); one from an
    # earlier generation is refused. An admin's "Sign out everywhere" counts it up.
    token_generation = models.PositiveIntegerField(default=0, editable=False)
    # Custom attributes the customer's systems set ({"plan": "pro"}): through the REST API and the
    # JavaScript SDK's setAttributes, both by `chat.services.visitor_attributes_set` (its limits).
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["inbox", "created_at"]),
            models.Index(
                fields=["email_token"], condition=~Q(email_token=""), name="visitor_email_token"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["inbox", "external_id"],
                condition=~Q(external_id=""),
                name="visitor_one_per_external_id",
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return visitor_display_name(self.pk, self.name, self.email)


def visitor_display_name(pk: int | None, name: str, email: str) -> str:
    """What agents call a visitor (also for rows read without a Visitor instance): their name,
    else their email, else their friendly name ("Blue Otter", `friendly_name`)."""
    return name or email or friendly_name(pk)


# Friendly names of anonymous visitors: an adjective and an animal, 48 x 48 pairs. Derived from
# the visitor's id, so it is theirs from the moment they exist, the same on every page and
# socket, and stored nowhere; it says nothing about how many widgets were loaded before.
FRIENDLY_ADJECTIVES = (
    "Amber", "Azure", "Blue", "Brave", "Bright", "Calm", "Clever", "Coral", "Cosy", "Crimson",
    "Curious", "Daring", "Eager", "Gentle", "Golden", "Green", "Happy", "Honest", "Indigo",
    "Jolly", "Kind", "Lively", "Lucky", "Mellow", "Merry", "Mint", "Misty", "Noble", "Olive",
    "Patient", "Plum", "Polite", "Quick", "Quiet", "Rosy", "Ruby", "Sandy", "Silver", "Sky",
    "Smart", "Snowy", "Sunny", "Swift", "Teal", "Tidy", "Violet", "Warm", "Witty",
)  # fmt: skip
FRIENDLY_ANIMALS = (
    "Badger", "Bear", "Beaver", "Bison", "Crane", "Deer", "Dolphin", "Eagle", "Falcon", "Ferret",
    "Finch", "Fox", "Gecko", "Heron", "Hedgehog", "Ibis", "Koala", "Lark", "Lemur", "Lynx",
    "Marten", "Meerkat", "Moose", "Newt", "Ocelot", "Orca", "Osprey", "Otter", "Owl", "Panda",
    "Parrot", "Pelican", "Penguin", "Puffin", "Quail", "Rabbit", "Raven", "Robin", "Salmon",
    "Seal", "Sparrow", "Squirrel", "Swan", "Tapir", "Tiger", "Toucan", "Walrus", "Wren",
)  # fmt: skip


def friendly_name(pk: int | None) -> str:
    """An anonymous visitor's stable friendly name. Neighbouring ids get unrelated names (a
    multiplication modulo the number of names), and a name repeats only every 2,304 visitors."""
    if pk is None:
        return "Visitor"
    # 1031 is prime to 48 * 48: ids 1 to 2,304 get 2,304 different names.
    n = pk * 1031 % (len(FRIENDLY_ADJECTIVES) * len(FRIENDLY_ANIMALS))
    adjective, animal = divmod(n, len(FRIENDLY_ANIMALS))
    return f"{FRIENDLY_ADJECTIVES[adjective]} {FRIENDLY_ANIMALS[animal]}"


class Conversation(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        ACTIVE = "active", _("Active")
        ENDED = "ended", _("Ended")
        # An inbox's bot (the `bots` app) answers first: not in the queue, assigned to nobody,
        # until it hands over (then waiting) or an agent claims it (then active).
        BOT = "bot", _("With the bot")

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="conversations")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    assigned_agent = models.ForeignKey(
        "agents.Agent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_conversations",
    )
    # The visitor's conversation before this one, when they wrote again after it ended.
    previous = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="follow_up"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The seq of the newest message; the next message gets last_seq + 1 under a row lock.
    last_seq = models.PositiveIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # The visitor's rating of an ended chat (CSAT), 1-5 with an optional comment.
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rating_comment = models.CharField(max_length=1000, blank=True)
    rated_at = models.DateTimeField(null=True, blank=True)
    # Read receipts: how far the visitor, and (the furthest of) the agents, have read. Watermarks,
    # not a row per message; they only move forward.
    visitor_read_seq = models.PositiveIntegerField(default=0)
    agent_read_seq = models.PositiveIntegerField(default=0)
    # The newest message of each side (not system lines or notes). Auto-end after inactivity
    # closes an active chat whose agent wrote last and whose visitor has not answered since.
    last_visitor_message_at = models.DateTimeField(null=True, blank=True)
    last_agent_message_at = models.DateTimeField(null=True, blank=True)
    # For analytics (agents.analytics, docs/ANALYTICS.md), set once by the services: when the
    # chat first left the queue (`assigned_at` moves on with every transfer), and when an agent
    # first wrote to the visitor (a join line or an internal note is no answer).
    first_assigned_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    # Triage (agents.triage services in chat.services): the inbox's labels on the chat, and a
    # snooze, which keeps an open chat out of the dashboard's lists until `snoozed_until` (None:
    # until the visitor writes; their message always ends a snooze).
    labels = models.ManyToManyField("chat.Label", blank=True, related_name="conversations")
    snoozed_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("view_analytics", _("Can view the analytics of their inboxes"))]
        indexes = [
            # The dashboard's lists: by inbox and status, oldest waiting first.
            models.Index(fields=["inbox", "status", "created_at"]),
            # The widget: a visitor's newest conversation.
            models.Index(fields=["visitor", "-created_at"]),
            # A dashboard socket's resync: the newest activity in an agent's inboxes.
            models.Index(fields=["inbox", "last_message_at"]),
            # Auto-end: active conversations whose agent's last answer is oldest.
            models.Index(fields=["status", "last_agent_message_at"]),
            # The dashboard's Ended list, newest first: an admin's (every inbox), and an agent's
            # (the newest of each of their inboxes, merged). Partial: the open conversations,
            # updated on every message, never touch them.
            models.Index(
                fields=["ended_at", "id"],
                condition=Q(status="ended"),
                name="conversation_ended_list",
            ),
            models.Index(
                fields=["inbox", "ended_at", "id"],
                condition=Q(status="ended"),
                name="conversation_ended_by_inbox",
            ),
            # Waking snoozed chats whose time came (partial: only the snoozed ones).
            models.Index(
                fields=["snoozed_until"],
                condition=Q(snoozed_at__isnull=False),
                name="conversation_snoozed",
            ),
            # Analytics: the conversations started in a period, of every inbox or of some.
            models.Index(fields=["created_at"], name="conversation_created"),
            models.Index(fields=["inbox", "created_at"], name="conversation_inbox_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["waiting", "active", "ended", "bot"]),
                name="conversation_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(assigned_agent__isnull=False),
                name="conversation_active_has_agent",
            ),
            models.CheckConstraint(
                condition=Q(status="ended", ended_at__isnull=False)
                | (~Q(status="ended") & Q(ended_at__isnull=True)),
                name="conversation_ended_at_iff_ended",
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="conversation_rating_1_to_5",
            ),
            # At most one open conversation per visitor: two tabs cannot start two chats.
            models.UniqueConstraint(
                fields=["visitor"],
                condition=~Q(status="ended"),
                name="conversation_one_open_per_visitor",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.visitor} ({self.status})"


class Label(models.Model):
    """A tag agents put on an inbox's chats ("Billing", "Bug"): coloured, per inbox; filtered
    by in the dashboard's lists, found by search, counted in analytics."""

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(_("name"), max_length=40)
    color = models.CharField(
        _("colour"),
        max_length=7,
        default="#868e96",
        validators=[
            RegexValidator(r"^#[0-9a-fA-F]{6}$", _("A colour like #3b5bdb (# and six hex digits)."))
        ],
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["inbox", "name"], name="label_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def colour(self) -> str:
        """The colour, safe in a style attribute whatever the database holds."""
        return self.color if ACCENT_RE.fullmatch(self.color or "") else "#868e96"


class Message(BlindIndexed, models.Model):
    class SenderKind(models.TextChoices):
        VISITOR = "visitor", _("Visitor")
        AGENT = "agent", _("Agent")
        SYSTEM = "system", _("System")
        # An internal note: agents only. Visitors get an empty placeholder with its seq, so
        # their cursor stays gap-free and the note's text never leaves the server for them.
        NOTE = "note", _("Internal note")
        # An inbox's bot (the `bots` app): on the team's side, shown with `author_label`.
        BOT = "bot", _("Bot")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.PositiveIntegerField()
    sender_kind = models.CharField(max_length=10, choices=SenderKind.choices)
    author_agent = models.ForeignKey(
        "agents.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    body = EncryptedTextField()  # encrypted at rest when a key is set (supportdesk.crypto)
    # The body's blind index with a key set: keyed tokens of its words, what search matches
    # (agents.search); "" without a key. The fast path (chat.posting) writes it too.
    body_tokens = BlindIndexField(source="body", blank=True, default="", db_default="")
    # A bot's message: the bot's name, stored with it (a bot is no agent, and renaming or
    # deleting it later changes no history), and the answers it suggests to the visitor, one a
    # line (buttons under it in the widget). Database defaults: the message fast path
    # (chat.posting) inserts without naming them.
    author_label = models.CharField(max_length=100, blank=True, default="", db_default="")
    quick_replies = models.TextField(blank=True, default="", db_default="")

    # Who sees a system line: everyone, or the agents alone (a transfer between agents names
    # internal accounts). An agents' line may carry the visitor's own version of it
    # (`visitor_body`, "You're now chatting with Alice."); without one the visitor's side gets
    # an empty placeholder with its seq, as for a note (chat.payloads.visitor_copy). Database
    # defaults: the message fast path (chat.posting) inserts without naming them.
    class Audience(models.TextChoices):
        EVERYONE = "everyone", _("Everyone")
        AGENTS = "agents", _("Agents only")

    audience = models.CharField(
        max_length=10, choices=Audience.choices, default=Audience.EVERYONE, db_default="everyone"
    )
    visitor_body = models.CharField(max_length=500, blank=True, default="", db_default="")
    # Made by the client; a retried send carries the same one and gets the stored message back.
    client_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            # Also the index for history and resume: conversation = ? AND seq > ? ORDER BY seq.
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"], name="message_client_id_unique"
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="message_seq_positive"),
            models.CheckConstraint(
                condition=Q(sender_kind__in=["visitor", "agent", "system", "note", "bot"]),
                name="message_sender_kind_valid",
            ),
            models.CheckConstraint(
                condition=~Q(sender_kind="visitor") | Q(author_agent__isnull=True),
                name="message_visitor_has_no_agent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq} {self.sender_kind}: {self.body[:40]}"

    @property
    def visible_to_visitor(self) -> bool:
        """Whether the visitor may see this message as it is (its text, its files): not a note,
        not an agents-only line (whose `visitor_body`, if any, is all they get of it)."""
        return self.sender_kind != self.SenderKind.NOTE and self.audience != self.Audience.AGENTS


class UsedSignature(models.Model):
    """An identity signature that signed someone in (chat.identity): a signature signs in once.
    A row, not a cache entry: a cache may evict it (the embedded default's in-memory one forgot
    used signatures after ~360 ordinary requests, and a replay signed the attacker in as the
    victim). Kept until the signature could no longer be accepted anyway (`expires_at`), then
    swept by housekeeping."""

    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    signature = models.CharField(max_length=128)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["inbox", "signature"], name="used_signature_unique")
        ]

    def __str__(self) -> str:
        return f"{self.inbox_id}:{self.signature[:12]}…"


def new_attachment_key() -> str:
    return secrets.token_urlsafe(18)


def attachment_path(attachment: Attachment, filename: str) -> str:
    """Where a file lies in the storage: under its random key, never a name a visitor chose
    alone (`filename` is the cleaned name: chat.files.clean_name)."""
    return f"attachments/{attachment.key}/{filename}"


def thumbnail_path(attachment: Attachment, filename: str) -> str:
    return f"attachments/{attachment.key}/thumbnail/{filename}"


class Attachment(models.Model):
    """A file sent in a conversation: uploaded first (`message` is empty: pending, seen only by
    who uploaded it), then sent as part of a message, which shows it to whoever sees the
    message. A pending upload older than a day is removed by housekeeping.

    The file is never served from a public URL: downloads go through `chat.views.file_download`,
    which checks the viewer (chat.attachments). An image is stored re-encoded (chat.files)."""

    key = models.CharField(max_length=32, unique=True, default=new_attachment_key, editable=False)
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="+")
    # Who uploaded it: a visitor, or an agent (empty again if that agent is deleted).
    visitor = models.ForeignKey(
        Visitor, on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    position = models.PositiveSmallIntegerField(default=0)  # order within its message
    file = models.FileField(upload_to=attachment_path, max_length=255)
    thumbnail = models.FileField(upload_to=thumbnail_path, max_length=255, blank=True)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(visitor__isnull=True) | Q(agent__isnull=True),
                name="attachment_one_uploader",
            ),
        ]
        indexes = [models.Index(fields=["message", "position"], name="attachment_message_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_image(self) -> bool:
        return bool(self.thumbnail)


class Call(models.Model):
    """A voice or video call in a conversation (chat.calls): an agent rings the visitor, who
    accepts or declines; media flows between the two browsers (WebRTC), never through the desk,
    which only relays the signalling and keeps this record: who, when, how long, how it ended.

    ringing -> active (accepted) -> ended; ringing -> declined | missed (not answered in time)
    | ended (the agent hung up first: cancelled)."""

    class Kind(models.TextChoices):
        VOICE = "voice", _("Voice")
        VIDEO = "video", _("Video")

    class Status(models.TextChoices):
        RINGING = "ringing", _("Ringing")
        ACTIVE = "active", _("Active")
        ENDED = "ended", _("Ended")
        DECLINED = "declined", _("Declined")
        MISSED = "missed", _("Missed")

    class Party(models.TextChoices):
        AGENT = "agent", _("Agent")
        VISITOR = "visitor", _("Visitor")
        DESK = "desk", _("Desk")  # the desk ended it: the chat ended, a party vanished

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="calls")
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.SET_NULL, null=True, blank=True, related_name="calls"
    )
    kind = models.CharField(max_length=5, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RINGING)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(max_length=7, choices=Party.choices, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One call at a time per conversation: a second Call button press is refused.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["ringing", "active"]),
                name="call_one_live_per_conversation",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["ringing", "active", "ended", "declined", "missed"]),
                name="call_status_valid",
            ),
        ]
        indexes = [
            # Housekeeping's sweep of calls rung too long; analytics by period.
            models.Index(fields=["status", "created_at"], name="call_status_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} call in {self.conversation_id} ({self.status})"

    @property
    def live(self) -> bool:
        return self.status in (self.Status.RINGING, self.Status.ACTIVE)

    @property
    def duration_seconds(self) -> int | None:
        """How long the two talked: from the answer to the end; None if never answered."""
        if self.answered_at is None or self.ended_at is None:
            return None
        return max(0, round((self.ended_at - self.answered_at).total_seconds()))
