"""Voice and video calls in a conversation (docs/CALLS.md).

An agent with an active chat rings the visitor; the visitor accepts or declines in the widget;
the two browsers then talk over WebRTC, peer to peer. The desk never carries or stores media: it
keeps the `chat.models.Call` record (who, when, how long, how it ended) and relays the
signalling (offer, answer, ICE candidates) between the two parties' sockets, and nobody else's
(the consumers check every frame against this module: `call_party`).

Every change of a call happens under its conversation's row lock (`conversation_lock`), the
lock every other change of the conversation takes, so a hang-up racing an answer, or the chat
ending, settles in one order. A call's end is a system line in the conversation's timeline (its
duration and who ended it; a declined or missed call says so), an `Activity` row (through
`chat.signals.call_finished`) and a figure in analytics.

Ringing lasts at most `ring_seconds()` (45 s): the agent's socket calls `call_ring_over` when it
is up, and housekeeping (`calls_miss_overdue`) for a call whose agent's socket went away.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from chat.events import publish_on_commit
from chat.groups import agent_group, visitor_group
from chat.models import AgentRef, Call, Conversation, Message, Visitor
from chat.services import append_message, conversation_lock, system_line
from chat.signals import call_finished
from supportdesk.durations import spoken_duration

LIVE = (Call.Status.RINGING, Call.Status.ACTIVE)
MAX_RING_SECONDS = 45


class CallRefused(Exception):
    """A call action that cannot be done: `code` for programs, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CallData(TypedDict):
    """A call as both parties' pages see it (the `call` frame, docs/PROTOCOL.md)."""

    id: int
    conversation: int
    kind: str
    status: str
    agent_name: str
    created_at: str
    answered_at: str | None
    ended_at: str | None
    ended_by: str
    ring_seconds: int


class CallEvent(TypedDict):
    # Channels maps "call.state" to the consumers' `call_state`.
    type: str
    call: CallData
    visitor_id: int
    agent_id: int | None


class CallParty(TypedDict):
    """Who is in a live call: what a signalling frame is checked against and relayed to."""

    call_id: int
    conversation_id: int
    visitor_id: int
    agent_id: int


def ring_seconds() -> int:
    """How long a call rings before it counts as missed (SUPPORTDESK_CALL_RING_SECONDS)."""
    return max(1, min(MAX_RING_SECONDS, int(settings.SUPPORTDESK_CALL_RING_SECONDS)))


def call_data(call: Call, *, agent_name: str = "") -> CallData:
    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {
        "id": call.pk,
        "conversation": call.conversation_id,
        "kind": call.kind,
        "status": call.status,
        "agent_name": agent_name,
        "created_at": call.created_at.isoformat(),
        "answered_at": iso(call.answered_at),
        "ended_at": iso(call.ended_at),
        "ended_by": call.ended_by,
        "ring_seconds": ring_seconds(),
    }


def _publish(call: Call, *, visitor_id: int, agent_name: str) -> None:
    """Both parties' sockets hear of the change once it commits: the visitor's, and every tab
    of the agent's (the one holding the call acts on it; the others show it is going on)."""
    event: CallEvent = {
        "type": "call.state",
        "call": call_data(call, agent_name=agent_name),
        "visitor_id": visitor_id,
        "agent_id": call.agent_id,
    }
    groups = [visitor_group(visitor_id)]
    if call.agent_id is not None:
        groups.append(agent_group(call.agent_id))
    publish_on_commit(groups, event)


# ---- Starting, answering, ending --------------------------------------------------------------


@transaction.atomic
def call_start(*, agent: AgentRef, conversation: Conversation, kind: str) -> Call:
    """`agent` rings the visitor of `conversation` (one the caller checked `agent` may see).
    CallRefused unless calls are on for its inbox, the chat is active and `agent`'s, and no
    other call of it is ringing or on (`call_in_progress`)."""
    if kind not in Call.Kind.values:
        raise CallRefused("bad_kind", str(_("A call is voice or video.")))
    locked = conversation_lock(conversation)
    if not locked.inbox.calls_enabled:
        raise CallRefused("calls_off", str(_("Calls are not switched on for this inbox.")))
    if locked.status != Conversation.Status.ACTIVE or locked.assigned_agent_id != agent.pk:
        raise CallRefused(
            "not_yours", str(_("Only the agent who has this active chat can call the visitor."))
        )
    _miss_overdue(locked)
    try:
        with transaction.atomic():  # a savepoint: the unique constraint may refuse the insert
            call = Call.objects.create(conversation=locked, agent_id=agent.pk, kind=kind)
    except IntegrityError:
        raise CallRefused(
            "call_in_progress", str(_("A call is already going on in this chat."))
        ) from None
    _publish(call, visitor_id=locked.visitor_id, agent_name=agent.display_name)
    return call


def call_answer(*, visitor: Visitor, call_id: int) -> Call:
    """The visitor accepts a ringing call of theirs. CallRefused (`call_over`) if it is no
    longer ringing (hung up, missed) or is not theirs (the same answer: ids are not confirmed).
    An answer after the ring time finds the call missed (and it stays so)."""
    return _respond(visitor, call_id, accept=True)


def call_decline(*, visitor: Visitor, call_id: int) -> Call:
    """The visitor declines a ringing call of theirs (CallRefused `call_over` as `call_answer`)."""
    return _respond(visitor, call_id, accept=False)


def _respond(visitor: Visitor, call_id: int, *, accept: bool) -> Call:
    _miss_if_overdue(call_id)  # committed apart: the refusal below must not roll it back
    with transaction.atomic():
        locked, call = _lock_for_visitor(visitor, call_id)
        if call.status != Call.Status.RINGING:
            raise CallRefused("call_over", str(_("This call has ended.")))
        if not accept:
            _finish(locked, call, Call.Status.DECLINED, Call.Party.VISITOR)
            return call
        call.status = Call.Status.ACTIVE
        call.answered_at = timezone.now()
        call.save(update_fields=["status", "answered_at"])
        _publish(call, visitor_id=locked.visitor_id, agent_name=_agent_name(locked, call))
    return call


@transaction.atomic
def call_hang_up(
    *, call_id: int, visitor: Visitor | None = None, agent: AgentRef | None = None
) -> Call:
    """One party (the visitor, or the call's agent) ends a live call: an agent's hang-up before
    the answer cancels it. A call already over is returned as it is (both may hang up at once)."""
    if (visitor is None) == (agent is None):
        raise ValueError("A call is hung up by its visitor or by its agent.")
    if visitor is not None:
        locked, call = _lock_for_visitor(visitor, call_id)
        party = Call.Party.VISITOR
    else:
        assert agent is not None
        locked, call = _lock_for_agent(agent, call_id)
        party = Call.Party.AGENT
    if call.status == Call.Status.RINGING and _overdue(call):
        _finish(locked, call, Call.Status.MISSED, Call.Party.DESK)  # rang out before this
    elif call.live:
        _finish(locked, call, Call.Status.ENDED, party)
    return call


@transaction.atomic
def call_ring_over(*, call_id: int) -> Call | None:
    """The ring time of `call_id` is up: missed, if it is still ringing (the agent's socket
    calls this when the time comes)."""
    conversation_id = (
        Call.objects.filter(pk=call_id).values_list("conversation_id", flat=True).first()
    )
    if conversation_id is None:
        return None
    locked = conversation_lock(Conversation(pk=conversation_id))
    call = Call.objects.get(pk=call_id)
    if call.status == Call.Status.RINGING and _overdue(call):
        _finish(locked, call, Call.Status.MISSED, Call.Party.DESK)
    return call


def calls_miss_overdue() -> int:
    """Housekeeping: every call still ringing past its time is missed (its agent's socket, which
    would have said so, went away). How many."""
    cutoff = timezone.now() - timedelta(seconds=ring_seconds())
    overdue = Call.objects.filter(status=Call.Status.RINGING, created_at__lte=cutoff)
    missed = 0
    for call_id in overdue.values_list("pk", flat=True)[:100]:
        call = call_ring_over(call_id=call_id)
        missed += bool(call and call.status == Call.Status.MISSED)
    return missed


def calls_end_with_conversation(*, conversation: Conversation, **kwargs: Any) -> None:
    """A receiver of `chat.signals.conversation_ended` (chat.apps): the chat ended, so does its
    call; sent with the conversation's lock held, inside the ending transaction."""
    for call in Call.objects.filter(conversation=conversation, status__in=LIVE):
        _finish(conversation, call, Call.Status.ENDED, Call.Party.DESK)


def _miss_overdue(locked: Conversation) -> None:
    for call in Call.objects.filter(conversation=locked, status=Call.Status.RINGING):
        if _overdue(call):
            _finish(locked, call, Call.Status.MISSED, Call.Party.DESK)


def _overdue(call: Call) -> bool:
    return timezone.now() >= call.created_at + timedelta(seconds=ring_seconds())


def _lock_for_visitor(visitor: Visitor, call_id: int) -> tuple[Conversation, Call]:
    mine = Call.objects.filter(pk=call_id, conversation__visitor=visitor)
    return _lock(mine, call_id)


def _lock_for_agent(agent: AgentRef, call_id: int) -> tuple[Conversation, Call]:
    return _lock(Call.objects.filter(pk=call_id, agent_id=agent.pk), call_id)


def _lock(calls: Any, call_id: int) -> tuple[Conversation, Call]:
    """The call's conversation locked, then the call read again (what the lock serializes)."""
    conversation_id = calls.values_list("conversation_id", flat=True).first()
    if conversation_id is None:
        raise CallRefused("call_over", str(_("This call has ended.")))
    locked = conversation_lock(Conversation(pk=conversation_id))
    return locked, Call.objects.get(pk=call_id)


def _miss_if_overdue(call_id: int) -> None:
    """A call still ringing past its time is missed, in a transaction of its own: the refusal
    of a late answer that follows must not roll the miss back."""
    cutoff = timezone.now() - timedelta(seconds=ring_seconds())
    if Call.objects.filter(pk=call_id, status=Call.Status.RINGING, created_at__lte=cutoff).exists():
        call_ring_over(call_id=call_id)


def _agent_name(locked: Conversation, call: Call) -> str:
    if call.agent_id is None:
        return ""
    if locked.assigned_agent_id == call.agent_id and locked.assigned_agent is not None:
        return locked.assigned_agent.display_name
    return call.agent.display_name if call.agent else ""


# ---- The call's end, in the timeline ------------------------------------------------------


def _finish(locked: Conversation, call: Call, status: str, by: str) -> None:
    """End `call` as `status`, ended by `by` (a Call.Party); its line goes in the timeline.

    Precondition: holding `locked`'s row lock (the call's conversation), in a transaction."""
    call.status = status
    call.ended_at = timezone.now()
    call.ended_by = by
    call.save(update_fields=["status", "ended_at", "ended_by"])
    agent_name = _agent_name(locked, call)
    for_agents, for_visitor = _lines(call, agent_name=agent_name, visitor=locked.visitor)
    append_message(
        locked,
        sender_kind=Message.SenderKind.SYSTEM,
        body=for_agents,
        audience=Message.Audience.AGENTS,
        visitor_body=for_visitor,
    )
    call_finished.send(sender=Call, call=call, conversation=locked)
    _publish(call, visitor_id=locked.visitor_id, agent_name=agent_name)


# A call's line when it ended unanswered: (what the agents read, what the visitor reads), per
# kind and how it ended. Names are filled in: %(name)s the visitor's, %(agent)s the agent's.
UNANSWERED_LINES = {
    ("video", "declined"): (
        gettext_noop("%(name)s declined the video call."),
        gettext_noop("You declined the video call."),
    ),
    ("voice", "declined"): (
        gettext_noop("%(name)s declined the voice call."),
        gettext_noop("You declined the voice call."),
    ),
    ("video", "missed"): (
        gettext_noop("Missed video call: %(name)s did not answer."),
        gettext_noop("Missed video call from %(agent)s."),
    ),
    ("voice", "missed"): (
        gettext_noop("Missed voice call: %(name)s did not answer."),
        gettext_noop("Missed voice call from %(agent)s."),
    ),
    ("video", "cancelled"): (
        gettext_noop("%(agent)s cancelled the video call before it was answered."),
        gettext_noop("Missed video call from %(agent)s."),
    ),
    ("voice", "cancelled"): (
        gettext_noop("%(agent)s cancelled the voice call before it was answered."),
        gettext_noop("Missed voice call from %(agent)s."),
    ),
}
# An answered call's line, per kind and who ended it ("you": the reader did).
ENDED_LINES = {
    ("video", "you"): gettext_noop("Video call, %(length)s, ended by you."),
    ("voice", "you"): gettext_noop("Voice call, %(length)s, ended by you."),
    ("video", "name"): gettext_noop("Video call, %(length)s, ended by %(name)s."),
    ("voice", "name"): gettext_noop("Voice call, %(length)s, ended by %(name)s."),
    ("video", "chat"): gettext_noop("Video call, %(length)s, ended with the chat."),
    ("voice", "chat"): gettext_noop("Voice call, %(length)s, ended with the chat."),
}


def _lines(call: Call, *, agent_name: str, visitor: Visitor) -> tuple[str, str]:
    """The call's line for the agents (naming the visitor) and for the visitor ("you")."""
    names = {"name": visitor.display_name, "agent": agent_name}
    if call.status == Call.Status.DECLINED or call.answered_at is None:
        how = (
            "declined"
            if call.status == Call.Status.DECLINED
            else "missed"
            if call.ended_by == Call.Party.DESK
            else "cancelled"
        )
        for_agents, for_visitor = UNANSWERED_LINES[(call.kind, how)]
        return system_line(for_agents, **names), system_line(for_visitor, **names)
    length = duration_text(call.duration_seconds or 0)
    by = {Call.Party.AGENT: agent_name, Call.Party.VISITOR: visitor.display_name}
    ended_by = by.get(call.ended_by, "")
    agents_see = "name" if ended_by else "chat"
    visitor_sees = "you" if call.ended_by == Call.Party.VISITOR else agents_see
    return (
        system_line(ENDED_LINES[(call.kind, agents_see)], length=length, name=ended_by),
        system_line(ENDED_LINES[(call.kind, visitor_sees)], length=length, name=ended_by),
    )


def duration_text(seconds: int) -> str:
    """A call's length as the timeline says it, in the desk's language (system lines are stored
    once for everyone): "45 s", "3 min 12 s", "1 h 5 min"."""
    with translation.override(settings.LANGUAGE_CODE):
        return spoken_duration(seconds)


# ---- Who may signal, and what the pages need ------------------------------------------------


def call_party(
    *, call_id: int, visitor_id: int | None = None, agent_id: int | None = None
) -> CallParty | None:
    """The live call `call_id` if the visitor `visitor_id` or the agent `agent_id` is in it,
    else None (not theirs, over, or no such call: one answer)."""
    calls = Call.objects.filter(pk=call_id, status__in=LIVE)
    if visitor_id is not None:
        calls = calls.filter(conversation__visitor_id=visitor_id)
    elif agent_id is not None:
        calls = calls.filter(agent_id=agent_id)
    else:
        return None
    row = calls.values_list("conversation_id", "conversation__visitor_id", "agent_id").first()
    if row is None or row[2] is None:
        return None
    return {"call_id": call_id, "conversation_id": row[0], "visitor_id": row[1], "agent_id": row[2]}


def live_calls(*, visitor_id: int | None = None, agent_id: int | None = None) -> list[CallData]:
    """The ringing or ongoing calls of a visitor or an agent: what a socket that (re)connects
    is told, so a page reloaded or reconnected mid-call finds its call again."""
    calls = Call.objects.filter(status__in=LIVE).select_related("agent")
    if visitor_id is not None:
        calls = calls.filter(conversation__visitor_id=visitor_id)
    elif agent_id is not None:
        calls = calls.filter(agent_id=agent_id)
    else:
        return []
    found = []
    for call in calls:
        if call.status == Call.Status.RINGING and _overdue(call):
            continue  # missed: housekeeping or the agent's socket says so
        found.append(call_data(call, agent_name=call.agent.display_name if call.agent else ""))
    return found


def ice_servers(*, user: str) -> list[dict[str, Any]]:
    """The STUN and TURN servers for one party's browser (RTCPeerConnection's iceServers).

    TURN credentials follow the TURN REST API scheme that coturn implements
    (`use-auth-secret` / `static-auth-secret`): the username is "<expiry unix time>:<user>" and
    the password base64(HMAC-SHA1(secret, username)). They expire after
    SUPPORTDESK_TURN_TTL_SECONDS, so the secret itself never reaches a browser and a leaked
    credential soon stops working. No TURN configured: STUN only (or direct), said in the admin."""
    servers: list[dict[str, Any]] = []
    if settings.SUPPORTDESK_STUN_URLS:
        servers.append({"urls": list(settings.SUPPORTDESK_STUN_URLS)})
    if settings.SUPPORTDESK_TURN_URLS and settings.SUPPORTDESK_TURN_SECRET:
        expiry = int(time.time()) + int(settings.SUPPORTDESK_TURN_TTL_SECONDS)
        username = f"{expiry}:{user}"
        digest = hmac.new(
            settings.SUPPORTDESK_TURN_SECRET.encode(), username.encode(), hashlib.sha1
        ).digest()
        servers.append(
            {
                "urls": list(settings.SUPPORTDESK_TURN_URLS),
                "username": username,
                "credential": base64.b64encode(digest).decode(),
            }
        )
    return servers


def turn_configured() -> bool:
    return bool(settings.SUPPORTDESK_TURN_URLS and settings.SUPPORTDESK_TURN_SECRET)


# ---- Signalling frames ------------------------------------------------------------------------

SIGNAL_FRAME_BYTES = 32 * 1024  # an SDP offer with audio, video and a screen runs to ~10 KB
MAX_CANDIDATES = 40
DESCRIPTION_TYPES = {"offer", "answer", "pranswer", "rollback"}


def clean_signal(signal: Any) -> dict[str, Any] | None:
    """The parts of a client's `signal` the other party's browser may be handed: a session
    description, or ICE candidates; anything else dropped. None if nothing valid is left."""
    if not isinstance(signal, dict):
        return None
    clean: dict[str, Any] = {}
    if signal.get("hello") is True:  # "I reloaded: let us connect afresh" (call/session.js)
        clean["hello"] = True
    description = signal.get("description")
    if isinstance(description, dict):
        kind, sdp = description.get("type"), description.get("sdp", "")
        if kind in DESCRIPTION_TYPES and isinstance(sdp, str):
            clean["description"] = {"type": kind, "sdp": sdp}
    candidates = signal.get("candidates")
    if isinstance(candidates, list) and 0 < len(candidates) <= MAX_CANDIDATES:
        kept = []
        for candidate in candidates:
            if not isinstance(candidate, dict) or not isinstance(candidate.get("candidate"), str):
                return None
            mid, index = candidate.get("sdpMid"), candidate.get("sdpMLineIndex")
            ufrag = candidate.get("usernameFragment")
            kept.append(
                {
                    "candidate": candidate["candidate"][:1000],
                    "sdpMid": mid if isinstance(mid, str) else None,
                    "sdpMLineIndex": index if isinstance(index, int) and 0 <= index < 64 else None,
                    "usernameFragment": ufrag if isinstance(ufrag, str) else None,
                }
            )
        clean["candidates"] = kept
    return clean or None
