"""A desk's worth of made-up history, written fast: for benchmarks and for trying the dashboard
at scale (`manage.py generate_data`, bench/dashboard_queries.py).

Rows are built in Python as plain tuples and written in batches: PostgreSQL through COPY
(psycopg's `cursor.copy()`), SQLite through `executemany` of values the fields prepare themselves
(`bulk_create` would overwrite the made-up `created_at` times with now: `auto_now_add`). The
services are bypassed on purpose, for speed; the rows still satisfy every database constraint
and the invariants the services keep (seq gap-free from 1, `last_seq`, at most one open
conversation per visitor, an agent on every active chat, `ended_at` exactly on ended ones).

Ids are given here, from the highest one in each table, and the sequences are set past them at
the end: run it against a database nobody else writes to at the same time.

The shape, per conversation: the visitor writes first; an agent joins ("Alice joined the
chat."), they talk, now and then an agent leaves an internal note, and an ended chat closes with
a system line (the agent's, or the inactivity one when no agent ever came). The newest
conversations are the open ones (about a third waiting, the rest active; by default 1% of them,
at most four per agent, as a busy desk has), one visitor in five has come back for earlier
chats, and the agents' read marks leave some active chats with unread messages.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from agents.models import Agent, ReadMark
from agents.services import agent_create
from chat.models import Conversation, Inbox, Message, Visitor
from supportdesk import crypto
from supportdesk.cryptofields import BlindIndexField, EncryptedTextField

INBOX_PREFIX = "Generated inbox"
USERNAME_PREFIX = "gen-agent-"
HISTORY_DAYS = 180
OPEN_SHARE = 0.01  # of the conversations, by default
OPEN_PER_AGENT = 4  # by default at most: three active (the default capacity) and a queue
BATCH_CONVERSATIONS = 5000

FIRST_NAMES = [
    "Alice", "Bruno", "Chiara", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ines", "Jonas",
    "Kai", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tomoko",
]  # fmt: skip
LAST_NAMES = ["Martin", "Okafor", "Novak", "Silva", "Berg", "Kowalski", "Tanaka", "Moreau"]
VISITOR_LINES = [
    "Hi, I can't log in to my account",
    "Where is my order? It was supposed to arrive yesterday",
    "How do I change the email address on my account?",
    "The payment went through twice, can you refund one?",
    "Is there a student discount?",
    "Thanks, that worked!",
    "I still get an error when I click save",
    "Can I upgrade my plan in the middle of the month?",
    "Do you ship to Norway?",
    "ok",
    "One more question: can I export my invoices as PDF?",
    "The app crashes when I open the settings page on my phone",
]
AGENT_LINES = [
    "Hi! Let me have a look at that for you.",
    "Could you tell me the email address you signed up with?",
    "I've sent you a password reset link, it's valid for one hour.",
    "Your order left our warehouse this morning; here is the tracking number.",
    "Refunds go back to the original payment method within 3-5 business days.",
    "Yes, you can upgrade at any time; we charge the difference pro rata.",
    "Could you send me a screenshot of the error?",
    "Glad I could help. Have a great day!",
    "I've passed this on to our engineers and will get back to you by email.",
]
NOTES = [
    "Customer since 2019, be nice",
    "Second time this month, escalate if it happens again",
    "Refund approved by finance",
]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
]
PAGES = [
    ("/pricing", "Pricing"), ("/account", "Your account"), ("/checkout", "Checkout"), ("/", "Home"),
]  # fmt: skip
TIMEZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Europe/London", ""]
LANGUAGES = ["en-GB", "de-DE", "en-US", "fr-FR", ""]
AUTO_END_LINE = "This chat was closed after 30 minutes of inactivity."


Line = tuple[str, int | None, str]  # sender_kind, author_agent_id, body


@dataclass(eq=False)  # hashable by identity: the generator keys its buffers by table
class Table:
    """One table's COPY shape: the fields the generator fills, in row order, then every other
    concrete field at its default (a column added later does not break the generator)."""

    model: type[models.Model]
    attnames: Sequence[str]
    fields: list[models.Field] = field(init=False)
    extra: tuple[Any, ...] = field(init=False)

    def __post_init__(self) -> None:
        concrete = {f.attname: f for f in self.model._meta.concrete_fields}
        rest = [f for name, f in concrete.items() if name not in self.attnames]
        self.fields = [concrete[name] for name in self.attnames] + rest
        self.extra = tuple(f.get_default() for f in rest)

    def _derived(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """The row with its blind indexes computed from their sources (supportdesk.crypto):
        the generated messages are found by search with a key set, as typed ones are."""
        indexes = [(i, f) for i, f in enumerate(self.fields) if isinstance(f, BlindIndexField)]
        if not indexes:
            return row
        values = list(row)
        names = [f.name for f in self.fields]
        for i, f in indexes:
            values[i] = crypto.search_tokens(values[names.index(f.source)] or "")
        return tuple(values)

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in self.fields)
        table = quote(self.model._meta.db_table)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # The defaults as the fields store them (a JSONField's {} as JSON, not a dict
                # psycopg cannot put in a COPY row); encrypted columns encrypted (a key set).
                rest = self.fields[len(self.attnames) :]
                extra = tuple(
                    f.get_db_prep_save(v, connection) for f, v in zip(rest, self.extra, strict=True)
                )
                encrypted = [
                    (i, f) for i, f in enumerate(self.fields) if isinstance(f, EncryptedTextField)
                ]
                prepared_rows = []
                # Before the COPY: the first encryption may read the key table, which the
                # connection cannot do in the middle of a COPY.
                for row in rows:
                    values = list(self._derived(row + extra))
                    for i, f in encrypted:
                        values[i] = f.get_db_prep_save(values[i], connection)
                    prepared_rows.append(values)
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for values in prepared_rows:
                        copy.write_row(values)
                return
            rows = [self._derived(row + self.extra) for row in rows]
            prepared = [
                tuple(
                    f.get_db_prep_save(v, connection) for f, v in zip(self.fields, row, strict=True)
                )
                for row in rows
            ]
            placeholders = ", ".join(["%s"] * len(self.fields))
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",  # noqa: S608
                prepared,
            )


VISITORS = Table(
    Visitor,
    [
        "id", "inbox_id", "name", "email", "created_at", "current_url", "page_title", "referrer",
        "user_agent", "timezone", "language", "context_updated_at",
    ],
)  # fmt: skip
CONVERSATIONS = Table(
    Conversation,
    [
        "id", "inbox_id", "visitor_id", "status", "assigned_agent_id", "previous_id",
        "created_at", "assigned_at", "ended_at", "last_seq", "last_message_at", "rating",
        "rating_comment", "rated_at", "visitor_read_seq", "agent_read_seq",
        "last_visitor_message_at", "first_assigned_at", "first_response_at",
        "last_agent_message_at",
    ],
)  # fmt: skip
MESSAGES = Table(
    Message,
    [
        "id", "conversation_id", "seq", "sender_kind", "author_agent_id", "body", "client_id",
        "created_at",
    ],
)  # fmt: skip
READ_MARKS = Table(ReadMark, ["id", "agent_id", "conversation_id", "seq"])


@dataclass
class Totals:
    visitors: int = 0
    conversations: int = 0
    messages: int = 0
    read_marks: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


def message_counts(rng: random.Random, conversations: int, messages: int) -> list[int]:
    """`conversations` counts that add up to exactly `messages`, each at least 1, spread like
    real chats: most short, a few long (exponential weights)."""
    counts = [1] * conversations
    spare = messages - conversations
    weights = [rng.expovariate(1.0) for _ in range(conversations)]
    total = sum(weights) or 1.0
    for i, w in enumerate(weights):
        counts[i] += int(spare * w / total)
    for i in range(messages - sum(counts)):  # the rounding's remainder
        counts[i % conversations] += 1
    return counts


def default_open(conversations: int, agents: int) -> int:
    return min(max(2, round(conversations * OPEN_SHARE)), OPEN_PER_AGENT * agents)


def staff(
    *, inboxes: int, agents: int, rng: random.Random, reuse: bool
) -> tuple[list[Inbox], list[Agent]]:
    """The generated inboxes and their agents (the first one an admin), through the services;
    with `reuse` (an --append run) the ones an earlier run made, if there are any."""
    if reuse:
        found = list(Inbox.objects.filter(name__startswith=INBOX_PREFIX).order_by("pk"))
        members = list(
            Agent.objects.filter(user__username__startswith=USERNAME_PREFIX).order_by("pk")
        )
        if found and members:
            return found, members
    tag = uuid.UUID(int=rng.getrandbits(128)).hex[:6]
    made = [Inbox.objects.create(name=f"{INBOX_PREFIX} {i + 1} ({tag})") for i in range(inboxes)]
    users = get_user_model().objects
    team = []
    for i in range(agents):
        user = users.create_user(username=f"{USERNAME_PREFIX}{tag}-{i + 1}", password=None)
        name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[i % len(LAST_NAMES)]}"
        home = [made[i % inboxes]]
        if inboxes > 1 and rng.random() < 0.3:  # some work in two inboxes
            home.append(made[(i + 1) % inboxes])
        agent = agent_create(user=user, display_name=name, inboxes=home)
        if i == 0:
            agent.role = Agent.Role.ADMIN
            agent.save(update_fields=["role"])
        team.append(agent)
    return made, team


class Generator:
    """Builds the rows of one visitor after another and writes them in batches."""

    def __init__(
        self,
        *,
        rng: random.Random,
        inboxes: list[Inbox],
        agents: list[Agent],
        counts: list[int],
        open_count: int,
        progress: Callable[[str], None],
    ) -> None:
        self.rng = rng
        self.counts = counts
        self.open_count = min(open_count, len(counts))
        self.progress = progress
        self.now = timezone.now()
        self.start = self.now - timedelta(days=HISTORY_DAYS)
        self.inbox_ids = [i.pk for i in inboxes]
        self.inbox_weights = [len(inboxes) - i for i in range(len(inboxes))]  # uneven, like life
        self.names = {a.pk: a.display_name for a in agents}
        self.admin_ids = [a.pk for a in agents if a.is_admin]
        through = Agent.inboxes.through.objects.filter(agent__in=agents, inbox__in=inboxes)
        self.members: dict[int, list[int]] = {pk: [] for pk in self.inbox_ids}
        for agent_id, inbox_id in through.values_list("agent_id", "inbox_id"):
            self.members[inbox_id].append(agent_id)
        for ids in self.members.values():
            if not ids:  # an inbox nobody joined: its chats go to the admins (they work anywhere)
                ids.extend(self.admin_ids or list(self.names))
        self.next_id = {t: (t.model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1 for t in TABLES}
        self.rows: dict[Table, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
        self.totals = Totals()

    def run(self, batch: int = BATCH_CONVERSATIONS) -> Totals:
        began = time.monotonic()
        n = len(self.counts)
        recent_from = n - self.open_count
        done = 0
        while done < n:
            # Recent ones: new visitors, whose first chat is still going on.
            k = 1 if done >= recent_from else min(recent_from - done, self._visits())
            self._visitor(range(done, done + k), recent_from=recent_from)
            done += k
            if len(self.rows[CONVERSATIONS]) >= batch or done == n:
                self._flush()
                self.progress(
                    f"{self.totals.conversations:>10,} conversations {self.totals.messages:>11,}"
                    f" messages  {time.monotonic() - began:6.1f} s"
                )
        self._reset_sequences()
        return self.totals

    def _visits(self) -> int:
        r = self.rng.random()
        return 1 if r < 0.8 else 2 if r < 0.95 else 3 if r < 0.99 else 4

    def _id(self, table: Table) -> int:
        pk = self.next_id[table]
        self.next_id[table] = pk + 1
        return pk

    def _status(self, index: int, recent_from: int) -> str:
        if index < recent_from:
            return "ended"
        # The first two open ones make sure both open states are there, however small the run.
        forced = {recent_from: "waiting", recent_from + 1: "active"}
        if index in forced:
            return forced[index]
        return "waiting" if self.rng.random() < 0.35 else "active"

    def _visitor(self, indexes: range, *, recent_from: int) -> None:
        rng = self.rng
        inbox_id = rng.choices(self.inbox_ids, self.inbox_weights)[0]
        visitor_id = self._id(VISITORS)
        statuses = [self._status(i, recent_from) for i in indexes]
        recent = indexes[-1] >= recent_from
        # Old chats fall in order over the history, roughly as their ids do; recent ones in
        # the last three hours.
        if recent:
            at = self.now - timedelta(minutes=rng.uniform(5, 180))
        else:
            share = indexes[0] / max(recent_from, 1)
            at = self.start + timedelta(days=HISTORY_DAYS * share * 0.94)  # room for returns
        first_seen = at - timedelta(minutes=rng.uniform(1, 30))
        previous_id = None
        for index, status in zip(indexes, statuses, strict=True):
            at, previous_id = self._conversation(
                index, status, inbox_id, visitor_id, previous_id, at
            )
            at += timedelta(days=rng.uniform(0.5, 3))
        page, title = rng.choice(PAGES)
        named = rng.random() < 0.5
        first = rng.choice(FIRST_NAMES)
        self.rows[VISITORS].append((
            visitor_id,
            inbox_id,
            f"{first} {rng.choice(LAST_NAMES)}" if named else "",
            f"{first.lower()}{visitor_id}@example.com" if rng.random() < 0.4 else "",
            first_seen,
            f"https://www.example.com{page}",
            title,
            rng.choice(["https://www.google.com/", "", "https://news.ycombinator.com/"]),
            rng.choice(USER_AGENTS),
            rng.choice(TIMEZONES),
            rng.choice(LANGUAGES),
            first_seen,
        ))  # fmt: skip
        self.totals.visitors += 1

    def _conversation(
        self,
        index: int,
        status: str,
        inbox_id: int,
        visitor_id: int,
        previous_id: int | None,
        created: datetime,
    ) -> tuple[datetime, int]:
        """Write one conversation and its messages; return when it ended (or its last
        message) and its id."""
        rng = self.rng
        pk = self._id(CONVERSATIONS)
        n = self.counts[index]
        agent_id: int | None = None
        if status == "active" or (status == "ended" and rng.random() < 0.9):
            agent_id = rng.choice(self.members[inbox_id])
        lines = self._lines(n, status, agent_id)
        open_ = status != "ended"
        gaps = [rng.uniform(1, 5) if kind == "system" else rng.uniform(5, 90) for kind, *_ in lines]
        if status == "ended" and agent_id is None and n > 1:
            gaps[-1] = 1800.0  # the inactivity line comes half an hour after the visitor
        if open_ or created + timedelta(seconds=sum(gaps)) > self.now:
            # Its last message a few seconds to a few minutes ago, never in the future.
            created = self.now - timedelta(seconds=sum(gaps) + rng.uniform(5, 300))
        at = created
        assigned_at = last_visitor = last_agent = last_agent_seq = first_response = None
        for seq, (kind, author, body) in enumerate(lines, start=1):
            at += timedelta(seconds=gaps[seq - 1])
            client_id = uuid.UUID(int=rng.getrandbits(128)) if kind != "system" else None
            self.rows[MESSAGES].append(
                (self._id(MESSAGES), pk, seq, kind, author, body, client_id, at)
            )
            if kind == "visitor":
                last_visitor = at
            elif kind == "agent":
                last_agent, last_agent_seq = at, seq
                first_response = first_response or at
            elif kind == "system" and assigned_at is None and agent_id is not None:
                assigned_at = at
        if agent_id is not None and assigned_at is None:
            assigned_at = created
        ended_at = at if status == "ended" else None
        # Read state: an ended chat was read to the end; an open one up to the agent's last
        # reply (so visitor messages after it are unread), or to the end half the time.
        agent_read = n if status == "ended" or rng.random() < 0.5 else last_agent_seq or 0
        marks = []
        if agent_id is not None and agent_read:
            marks.append((agent_id, agent_read))
        for admin_id in self.admin_ids:
            if admin_id != agent_id and rng.random() < 0.05:
                marks.append((admin_id, rng.randint(1, n)))
        for reader, seq in marks:
            self.rows[READ_MARKS].append((self._id(READ_MARKS), reader, pk, seq))
        rated = status == "ended" and agent_id is not None and rng.random() < 0.3
        self.rows[CONVERSATIONS].append((
            pk, inbox_id, visitor_id, status, agent_id, previous_id,
            created, assigned_at, ended_at, n, at,
            rng.choices([1, 2, 3, 4, 5], [1, 1, 2, 4, 6])[0] if rated else None,
            rng.choice(["", "", "Quick and friendly", "Took a while"]) if rated else "",
            at + timedelta(minutes=rng.uniform(1, 10)) if rated else None,
            n if status == "ended" else (last_agent_seq or n),
            max((seq for _, seq in marks), default=0),
            last_visitor,
            assigned_at,  # never transferred: the first assignment is the only one
            first_response,
            last_agent,
        ))  # fmt: skip
        self.totals.conversations += 1
        self.totals.messages += n
        self.totals.read_marks += len(marks)
        self.totals.by_status[status] = self.totals.by_status.get(status, 0) + 1
        return at, pk

    def _lines(self, n: int, status: str, agent_id: int | None) -> list[Line]:
        """(sender_kind, author_agent_id, body) for `n` messages: the visitor first, then the
        agent's joining line, the talk, and the closing line of an ended chat."""
        rng = self.rng
        lines: list[Line] = [("visitor", None, rng.choice(VISITOR_LINES))]
        closing = None
        if status == "ended" and n >= 2:
            closing = (
                ("system", None, f"{self.names[agent_id]} ended the chat.")
                if agent_id is not None
                else ("system", None, AUTO_END_LINE)
            )
        middle = n - 1 - (closing is not None)
        if agent_id is not None and middle > 0:
            lines.append(("system", None, f"{self.names[agent_id]} joined the chat."))
            middle -= 1
        for _ in range(middle):
            r = rng.random()
            if agent_id is None or r < 0.5:
                body = rng.choice(VISITOR_LINES)
                lines.append(("visitor", None, body))
            elif r < 0.96:
                body = rng.choice(AGENT_LINES)
                if rng.random() < 0.2:
                    body += f" (ticket {rng.randint(10000, 99999)})"
                lines.append(("agent", agent_id, body))
            else:
                lines.append(("note", agent_id, rng.choice(NOTES)))
        if closing:
            lines.append(closing)
        return lines

    def _flush(self) -> None:
        with transaction.atomic():
            for table in TABLES:  # in foreign-key order
                table.insert(self.rows[table])
                self.rows[table] = []

    def _reset_sequences(self) -> None:
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [t.model for t in TABLES]):
                cursor.execute(sql)


TABLES = [VISITORS, CONVERSATIONS, MESSAGES, READ_MARKS]


def analyze(tables: Iterable[Table] = TABLES) -> None:
    """Fresh planner statistics (and, on PostgreSQL, the visibility map that index-only scans
    need, as autovacuum would set it a minute later)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            names = ", ".join(connection.ops.quote_name(t.model._meta.db_table) for t in tables)
            cursor.execute(f"VACUUM (ANALYZE) {names}")
        cursor.execute("ANALYZE")  # VACUUM cannot run in a transaction (a test's); ANALYZE can
