"""Reads for the dashboard, always scoped to the inboxes an agent works in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import TypedDict

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connection
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from agents.models import Agent, CannedResponse, ReadMark
from agents.presence import presence_map
from chat.groups import agent_group, inbox_group
from chat.models import Conversation, Inbox, Label, Message
from chat.payloads import (
    CONVERSATION_VALUES,
    ConversationData,
    conversation_data,
    conversation_row,
    with_labels,
)
from chat.selectors import with_preview

LIST_LIMIT = 200
ENDED_LIMIT = 30


class ConversationLists(TypedDict):
    waiting: list[ConversationData]
    active: list[ConversationData]
    # With the bot (status "bot"): open, nobody's to answer yet; shown under All open.
    bot: list[ConversationData]
    ended: list[ConversationData]
    # Open chats snoozed (agents.triage): out of the other lists until they wake.
    snoozed: list[ConversationData]
    # Conversation id -> the agent's unread count, for the open ones.
    unread: dict[int, int]
    # Inbox id -> [warn, alert] wait thresholds in milliseconds (the rows' wait colours).
    thresholds: dict[int, list[int]]
    # The labels of the agent's inboxes, for the lists' filter and the pane's picker.
    labels: list[LabelChoice]


class LabelChoice(TypedDict):
    id: int
    name: str
    color: str
    inbox_id: int
    inbox_name: str
    shown: str  # the name, and the inbox's when the choices are of several inboxes


def inbox_labels(inbox_ids: list[int] | None) -> list[LabelChoice]:
    """The labels of these inboxes (None: every inbox), by name; each `shown` with its inbox's
    name when they are of several inboxes."""
    labels = Label.objects.all() if inbox_ids is None else Label.objects.filter(inbox__in=inbox_ids)
    rows = labels.order_by("name", "inbox__name", "pk").values_list(
        "pk", "name", "color", "inbox_id", "inbox__name"
    )
    choices: list[LabelChoice] = [
        {
            "id": i,
            "name": n,
            "color": Label(color=c).colour,
            "inbox_id": b,
            "inbox_name": bn,
            "shown": n,
        }
        for i, n, c, b, bn in rows
    ]
    if len({c["inbox_id"] for c in choices}) > 1:
        for choice in choices:
            choice["shown"] = f"{choice['name']} ({choice['inbox_name']})"
    return choices


def agent_for_user(user: AbstractBaseUser | AnonymousUser) -> Agent | None:
    """The user's agent profile, if the user is (still, per the database) active. A user the
    request loaded with its profile (agents.auth.AgentModelBackend) needs no query."""
    if not user.is_authenticated:
        return None
    loaded = user._state.fields_cache  # type: ignore[union-attr]
    if "agent" in loaded:
        return loaded["agent"] if user.is_active else None
    return Agent.objects.filter(user_id=user.pk, user__is_active=True).first()


def conversations_for_agent(agent: Agent) -> QuerySet[Conversation]:
    """Every conversation the agent may see: their inboxes', or all for an admin."""
    if agent.is_admin:
        return Conversation.objects.all()
    return Conversation.objects.filter(inbox__in=agent.inboxes.values("pk"))


def with_unread(queryset: QuerySet[Conversation], agent: Agent) -> QuerySet[Conversation]:
    """Annotate `unread`: the visitor's messages after the agent's read watermark."""
    mark = ReadMark.objects.filter(agent=agent, conversation=OuterRef("pk")).values("seq")[:1]
    unread = (
        Message.objects.filter(
            conversation=OuterRef("pk"),
            sender_kind=Message.SenderKind.VISITOR,
            seq__gt=OuterRef("read_seq"),
        )
        .order_by()
        .values("conversation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queryset.annotate(read_seq=Coalesce(Subquery(mark), 0)).annotate(
        unread=Coalesce(Subquery(unread), 0)
    )


def unread_count(*, agent: Agent, conversation_id: int) -> tuple[int, int]:
    """The agent's unread count of a conversation, and the conversation's last seq it covers."""
    rows = with_unread(Conversation.objects.filter(pk=conversation_id), agent).values(
        "unread", "last_seq"
    )
    row = next(iter(rows), {"unread": 0, "last_seq": 0})
    return row["unread"], row["last_seq"]


def conversation_for_agent(*, agent: Agent, pk: int) -> Conversation:
    """The conversation, if `agent` works in its inbox; 404 otherwise (not 403: ids are not
    confirmed to people who may not see them)."""
    conversation = (
        with_labels(conversations_for_agent(agent))
        .select_related("inbox", "visitor", "assigned_agent")
        .filter(pk=pk)
        .first()
    )
    if conversation is None:
        raise Http404("No such conversation")
    return conversation


def conversation_lists(*, agent: Agent) -> ConversationLists:
    """Waiting (oldest first: first come, first served), active and with the bot (latest
    activity first), and the most recently ended. A fixed number of queries, each bounded by the
    list limits or by the open conversations, never by the history
    (tests/agents/test_query_counts.py)."""
    # An agent's inboxes as a list: the planner sees the real ids, and the Ended list can take
    # each inbox's newest through its index.
    inbox_ids = None if agent.is_admin else list(agent.inboxes.values_list("pk", flat=True))
    visible = (
        Conversation.objects.all()
        if inbox_ids is None
        else Conversation.objects.filter(inbox__in=inbox_ids)
    )
    base = with_preview(visible)
    snoozed = with_unread(
        base.filter(snoozed_at__isnull=False).exclude(status=Conversation.Status.ENDED), agent
    ).order_by("-snoozed_at", "-pk")[:LIST_LIMIT]
    base_open = base.filter(snoozed_at__isnull=True)
    waiting = with_unread(base_open.filter(status=Conversation.Status.WAITING), agent).order_by(
        "created_at", "pk"
    )[:LIST_LIMIT]
    active = with_unread(base_open.filter(status=Conversation.Status.ACTIVE), agent).order_by(
        "-last_message_at", "-pk"
    )[:LIST_LIMIT]
    bot = with_unread(base_open.filter(status=Conversation.Status.BOT), agent).order_by(
        "-last_message_at", "-pk"
    )[:LIST_LIMIT]
    ended = _recently_ended(base, inbox_ids)
    unread: dict[int, int] = {}
    lists: ConversationLists = {
        "waiting": [],
        "active": [],
        "bot": [],
        "ended": [],
        "snoozed": [],
        "unread": unread,
        "thresholds": wait_thresholds(inbox_ids),
        "labels": inbox_labels(inbox_ids),
    }
    open_lists = (("waiting", waiting), ("active", active), ("bot", bot), ("snoozed", snoozed))
    for key, rows in open_lists:
        for row in rows.values(*CONVERSATION_VALUES, "unread"):
            lists[key].append(conversation_row(row))  # type: ignore[literal-required]
            unread[row["id"]] = row["unread"]
    lists["ended"] = [conversation_row(row) for row in ended.values(*CONVERSATION_VALUES)]
    return lists


def wait_thresholds(inbox_ids: list[int] | None) -> dict[int, list[int]]:
    """Inbox id -> its wait warning and alert, in milliseconds (None: every inbox)."""
    inboxes = Inbox.objects.all() if inbox_ids is None else Inbox.objects.filter(pk__in=inbox_ids)
    return {
        pk: [warn * 60000, alert * 60000]
        for pk, warn, alert in inboxes.values_list("pk", "wait_warn_minutes", "wait_alert_minutes")
    }


def _recently_ended(
    visible: QuerySet[Conversation], inbox_ids: list[int] | None
) -> QuerySet[Conversation]:
    """The newest ended conversations of `visible`, through the partial indexes of ended ones.

    Every inbox (an admin): one backward walk of the ended-at index. Some inboxes: the newest
    of each inbox from the (inbox, ended_at) index, merged; filtering one walk by inbox instead
    would read the whole history to fill the list of an agent whose inboxes are quiet. SQLite
    cannot LIMIT the parts of a UNION; it filters (its desks are small).
    """
    ended = visible.filter(status=Conversation.Status.ENDED).order_by("-ended_at", "-pk")
    if inbox_ids and connection.features.supports_slicing_ordering_in_compound:
        newest = [
            Conversation.objects.filter(inbox_id=pk, status=Conversation.Status.ENDED)
            .order_by("-ended_at", "-pk")
            .values("pk")[:ENDED_LIMIT]
            for pk in inbox_ids
        ]
        ended = ended.filter(pk__in=newest[0].union(*newest[1:], all=True))
    return ended[:ENDED_LIMIT]


def inboxes_last_activity(agent: Agent) -> str | None:
    """The newest message time across the agent's inboxes (ISO, comparable as text with the
    events' `last_message_at`), through the (inbox, last_message_at) index."""
    latest = conversations_for_agent(agent).aggregate(latest=Max("last_message_at"))["latest"]
    return latest.isoformat() if latest else None


@dataclass(frozen=True)
class AgentCheck:
    """What a dashboard socket's rights and lists are now (`agents_check`)."""

    agent: Agent | None  # None: the session no longer holds this agent, or they are inactive
    groups: list[str]  # the groups the socket belongs in
    latest: str | None  # the newest activity in the agent's inboxes (ISO), as in the events


def socket_groups(agent_id: int, inbox_ids: Iterable[int]) -> list[str]:
    """The groups an agent's dashboard socket joins: its inboxes' and the agent's own."""
    return [inbox_group(pk) for pk in inbox_ids] + [agent_group(agent_id)]


def agents_check(sockets: list[tuple[int, str | None]]) -> list[AgentCheck]:
    """For each dashboard socket, given as (agent id, session key): its `AgentCheck`, read for
    all in a fixed number of queries (sessions, agents, inboxes, newest activity per inbox)
    whatever the number of sockets: what every socket's heartbeat used to read for itself."""
    sessions = live_sessions([key for _, key in sockets if key])
    agents = (
        Agent.objects.filter(pk__in={pk for pk, _ in sockets}, user__is_active=True)
        .select_related("user")
        .in_bulk()
    )
    memberships: dict[int, list[int]] = {}
    for agent_id, inbox_id in Agent.inboxes.through.objects.filter(
        agent_id__in=list(agents)
    ).values_list("agent_id", "inbox_id"):
        memberships.setdefault(agent_id, []).append(inbox_id)
    every_inbox = (
        list(Inbox.objects.values_list("pk", flat=True))
        if any(agent.is_admin for agent in agents.values())
        else []
    )
    inbox_ids = {
        pk: every_inbox if agent.is_admin else memberships.get(pk, [])
        for pk, agent in agents.items()
    }
    latest = inboxes_latest_activity(sorted({i for ids in inbox_ids.values() for i in ids}))
    checks = []
    for agent_id, session_key in sockets:
        agent = agents.get(agent_id)
        if agent is None or not session_holds(sessions.get(session_key or ""), agent.user):
            checks.append(AgentCheck(agent=None, groups=[], latest=None))
            continue
        ids = inbox_ids[agent_id]
        newest = max((latest[i] for i in ids if latest.get(i)), default=None)
        checks.append(AgentCheck(agent=agent, groups=socket_groups(agent_id, ids), latest=newest))
    return checks


def session_holds(session: dict[str, str] | None, user: AbstractBaseUser) -> bool:
    """Whether a live session (`live_sessions`) still logs `user` in, as Django's HTTP side
    decides it (`django.contrib.auth.get_user`): the user's id, and the session's auth hash
    matching the user's password now (or under a SECRET_KEY_FALLBACKS key). A password change
    elsewhere ends every other session: their sockets close too."""
    if session is None or session.get(SESSION_KEY) != str(user.pk):
        return False
    given = session.get(HASH_SESSION_KEY) or ""
    return bool(given) and any(
        constant_time_compare(given, expected)
        for expected in [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    )


def live_sessions(keys: list[str]) -> dict[str, dict[str, str]]:
    """Session key -> its user id and auth hash (`SESSION_KEY`, `HASH_SESSION_KEY`), for the
    keys that are (still) live sessions: one query with a database-backed session engine, a load
    per key with any other."""
    engine = import_module(settings.SESSION_ENGINE).SessionStore
    found: dict[str, dict[str, str]] = {}
    if issubclass(engine, DatabaseSessionStore):
        rows = engine.get_model_class().objects.filter(
            session_key__in=keys, expire_date__gt=timezone.now()
        )
        decode = engine().decode
        pairs = (
            (key, decode(data)) for key, data in rows.values_list("session_key", "session_data")
        )
    else:
        pairs = ((key, engine(key).load()) for key in keys)
    for key, data in pairs:
        if data.get(SESSION_KEY) is not None:
            found[key] = {
                SESSION_KEY: str(data[SESSION_KEY]),
                HASH_SESSION_KEY: str(data.get(HASH_SESSION_KEY) or ""),
            }
    return found


def inboxes_latest_activity(inbox_ids: list[int]) -> dict[int, str | None]:
    """The newest message time of each inbox (ISO), each through the (inbox, last_message_at)
    index: a backward step per inbox, not a scan of its conversations."""
    newest = (
        Conversation.objects.filter(inbox=OuterRef("pk"), last_message_at__isnull=False)
        .order_by("-last_message_at")
        .values("last_message_at")[:1]
    )
    rows = (
        Inbox.objects.filter(pk__in=inbox_ids)
        .annotate(latest=Subquery(newest))
        .values_list("pk", "latest")
    )
    return {pk: latest.isoformat() if latest else None for pk, latest in rows}


class TeamMember(TypedDict):
    id: int
    name: str
    presence: str


def team_members(agent: Agent) -> QuerySet[Agent]:
    """The active agents who share an inbox with `agent` (everyone, for an admin): the only
    colleagues `agent` may know of."""
    if agent.is_admin:
        return Agent.objects.filter(user__is_active=True)
    return Agent.objects.filter(
        inboxes__in=agent.inboxes.values("pk"), user__is_active=True
    ).distinct()


def team(agent: Agent) -> list[TeamMember]:
    """`team_members`, with presence."""
    return _with_presence(team_members(agent))


def transfer_targets(conversation: Conversation) -> list[TeamMember]:
    """Who could take the conversation over: the inbox's active agents. The chat's agent of the
    moment, and the agent looking, are left out where the form is opened
    (static/supportdesk/dashboard/transfer.js): the chat may change hands while its pane is open."""
    return _with_presence(Agent.objects.filter(inboxes=conversation.inbox_id, user__is_active=True))


def _with_presence(members: QuerySet[Agent]) -> list[TeamMember]:
    """The agents by name, each with their presence (one query for all)."""
    rows = list(members.order_by("display_name"))
    presence = presence_map(rows)
    return [{"id": m.pk, "name": m.display_name, "presence": presence[m.pk]} for m in rows]


class CannedData(TypedDict):
    shortcut: str
    body: str
    personal: bool


def canned_responses(*, agent: Agent, inbox_id: int) -> list[CannedData]:
    """The inbox's shared replies and the agent's own; a personal one shadows a shared one."""
    rows = CannedResponse.objects.filter(Q(inbox_id=inbox_id) | Q(agent=agent)).order_by("shortcut")
    found: dict[str, CannedData] = {}
    for row in rows:
        personal = row.agent_id is not None
        if row.shortcut not in found or personal:
            found[row.shortcut] = {"shortcut": row.shortcut, "body": row.body, "personal": personal}
    return list(found.values())


def earlier_conversations(conversation: Conversation, limit: int = 10) -> list[ConversationData]:
    rows = with_preview(
        Conversation.objects.filter(visitor_id=conversation.visitor_id).exclude(pk=conversation.pk)
    ).order_by("-created_at", "-pk")[:limit]
    return [conversation_data(c, preview=c.preview) for c in rows]
