"""`/ws/agents/`: an agent's dashboard socket (session-authenticated).

It joins the groups of the agent's inboxes (every conversation event there updates the lists and
the team's presence) and the agent's own group (what one tab reads is read in every tab). The
conversation open in the pane is followed with a cursor, like a visitor's (chat.consumers).
The socket is also the agent's presence: open means connected; the process keeps the rows of
all its dashboards fresh at once (`keep_presence`), and checks their sessions, inboxes and lists
at once (`recheck_agents`), so a heartbeat is answered from memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from django.conf import settings
from django.http import Http404

from agents import presence
from agents.housekeeping import housekeeping_if_due
from agents.models import Agent
from agents.rendering import (
    VIEWING_REPEAT_SECONDS,
    render_context,
    render_lists,
    render_member,
    render_pane_header,
    render_row,
    render_typer,
    render_unread,
    render_viewer,
    render_workspace_gone,
)
from agents.selectors import (
    AgentCheck,
    agent_for_user,
    agents_check,
    conversation_for_agent,
    conversation_lists,
    conversations_for_agent,
    inboxes_last_activity,
    socket_groups,
    unread_count,
)
from agents.services import read_mark, reply_post
from chat import calls, sending
from chat.consumers import CLOSE_RECHECK, CursorConsumer, call_id_of, is_count
from chat.events import publish_now
from chat.groups import agent_group, inbox_group, visitor_group
from chat.models import Conversation, Message
from chat.payloads import (
    AgentReadEvent,
    AgentViewingEvent,
    ChatMessageEvent,
    ConversationData,
    ConversationsDeletedEvent,
)
from chat.posting import Posted
from chat.rendering import render_receipt
from supportdesk.asyncdb import database
from supportdesk.hub import Hub, every, hub

logger = logging.getLogger(__name__)

# Grace-period tasks outlive the consumer that started them; keep them from being collected.
_settling: set[asyncio.Task[None]] = set()


class AgentConsumer(CursorConsumer):
    viewer = "agent"
    watches_path = True  # the dashboard shows when the real-time path or the database is down

    async def authorize(self) -> list[str] | None:
        self.agent: Agent | None = await database(agent_for_user)(self.scope["user"])
        if self.agent is None:
            return None
        # The newest activity this socket has shown; a resync compares it with the database.
        self.latest_seen: str | None = None
        # The newest activity in the database when a resync last found the lists behind it.
        self.latest_behind: str | None = None
        # Unread counts of the rows this socket shows: a count from the database as of a seq,
        # plus the visitor's messages after that seq heard since. A set, not a counter: events
        # may arrive out of order (several server processes) or twice (a resync), and each
        # message counts once.
        self.unread_base: dict[int, tuple[int, int]] = {}
        self.unread_new: dict[int, set[int]] = {}
        self.pane_visitor: int | None = None
        # The conversations whose rows this socket has shown: a deletion elsewhere matters here
        # only if it names one of them (retention purges old chats by the hundred).
        self.listed: set[int] = set()
        return await self.agent_groups(self.agent)

    def post_sent(self, content: dict[str, Any]) -> Posted:
        """As `POST /agents/conversations/ID/messages` (a reply; notes go over HTTP): the
        conversation must be one of this agent's inboxes', checked in the write itself, and
        before any complaint about the text (ids are not confirmed to who may not see them)."""
        conversation_id = content.get("conversation")
        if not is_count(conversation_id):
            raise sending.Refused(400, "bad_frame", "send needs an integer conversation.")
        agent = self.agent
        assert agent is not None  # a socket without an agent was refused at connect
        try:
            try:
                draft = sending.parse(
                    content.get("body"), content.get("client_id"), content.get("attachments")
                )
            except sending.Refused:
                conversation_for_agent(agent=agent, pk=conversation_id)  # 404 first, if not theirs
                raise
            return sending.store(
                lambda d: reply_post(agent=agent, conversation_id=conversation_id, draft=d), draft
            )
        except Http404:
            raise sending.Refused(404, "not_found", "No such conversation.") from None

    async def agent_groups(self, agent: Agent) -> list[str]:
        return await database(_groups_of)(agent)

    async def connect(self) -> None:
        self.registered = False
        self.ring_timers: list[asyncio.TimerHandle] = []  # calls this socket rings (call.start)
        await super().connect()
        if self.agent is not None:
            await self.register()
            await self.send_lists()  # whatever the lists missed while the socket was down
            await self.send_health()
            # A tab reloaded or reconnected mid-call (or while it rings) finds the call again.
            live = await database(calls.live_calls)(agent_id=self.agent.pk)
            if live:
                await self.send_calls(live)

    # ---- Calls (chat.calls): this side starts them and may hang up -------------------------

    def party_key(self) -> dict[str, int]:
        assert self.agent is not None
        return {"agent_id": self.agent.pk}

    def ice_user(self) -> str:
        assert self.agent is not None
        return f"agent-{self.agent.pk}"

    async def call_start_frame(self, content: dict[str, Any]) -> None:
        """`{"type": "call.start", "conversation": id, "kind": "voice" | "video"}`: ring the
        visitor of a chat of this agent's (refused with the same `not_found` as every frame
        for a conversation they may not see). The ring is timed here, in the caller's socket;
        housekeeping misses a call whose caller went away (chat.calls)."""
        conversation_id = content.get("conversation")
        if not is_count(conversation_id):
            raise calls.CallRefused("bad_frame", "call.start needs an integer conversation.")
        call = await database(_call_start)(
            agent=self.agent, conversation_id=conversation_id, kind=content.get("kind")
        )
        self.ring_timers.append(
            asyncio.get_running_loop().call_later(
                calls.ring_seconds(), self.nudge, {"type": "call.ring_over", "call_id": call.pk}
            )
        )

    async def call_ring_over(self, event: dict[str, Any]) -> None:
        await database(calls.call_ring_over)(call_id=event["call_id"])

    async def call_hang_up(self, content: dict[str, Any]) -> None:
        await database(calls.call_hang_up)(agent=self.agent, call_id=call_id_of(content))

    def who(self) -> dict[str, int]:
        agent = getattr(self, "agent", None)
        return {"agent_id": agent.pk} if agent else {}

    async def heartbeat(self) -> None:
        await super().heartbeat()
        await self.send_health()
        # Still viewing: said again now and then, so colleagues' indicators do not expire.
        if time.monotonic() - getattr(self, "viewing_said", 0.0) > VIEWING_REPEAT_SECONDS:
            self.announce_viewing("viewing", reply=True)

    async def send_health(self) -> None:
        """Whether the real-time path and the database work, as this process's probes last
        found them (`supportdesk.hub.probe_path`, `probe_database`): a frame each,
        `{"type": "realtime" | "database", "state": "up" | "down"}`. The dashboard shows a red
        banner naming what is down, and for the path also when no "up" came for a while.
        Nothing said of a part before its first probe."""
        for part, up in list(hub().health.items()):
            await self.send_json({"type": part, "state": "up" if up else "down"})

    async def socket_health(self, event: dict[str, Any]) -> None:
        """A probe found a part gone, or back."""
        await self.send_health()

    async def register(self) -> None:
        await database(presence.connection_open)(agent=self.agent, channel_name=self.channel_name)
        self.registered = True

    async def socket_register(self, event: dict[str, Any]) -> None:
        """`keep_presence` found this socket's presence row swept (after a long stall, a
        suspended laptop): it counts again."""
        await self.register()

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        for timer in getattr(self, "ring_timers", ()):
            timer.cancel()  # housekeeping misses the call instead (chat.calls)
        if getattr(self, "agent", None) is not None and getattr(self, "cursors", None):
            self.announce_viewing("left")
        if not getattr(self, "registered", False):
            return
        await database(presence.connection_close)(channel_name=self.channel_name)
        task = asyncio.create_task(_settle_later(self.channel_name))
        _settling.add(task)
        task.add_done_callback(_settling.discard)

    async def send_lists(self) -> None:
        self.latest_seen = await database(inboxes_last_activity)(self.agent)
        lists = await database(conversation_lists)(agent=self.agent)
        self.unread_base = {
            c["id"]: (lists["unread"].get(c["id"], 0), c["last_seq"])
            for c in lists["waiting"] + lists["active"] + lists["bot"] + lists["snoozed"]
        }
        self.unread_new = {}
        listed = (
            lists["waiting"] + lists["active"] + lists["bot"] + lists["snoozed"] + lists["ended"]
        )
        self.listed = {c["id"] for c in listed}
        await self.send_html(render_lists(lists, me=self.agent.pk))

    async def may_follow(self, conversation_id: int) -> bool:
        visible = conversations_for_agent(self.agent).filter(pk=conversation_id)
        return await database(visible.exists)()

    async def mark_read(self, conversation_id: int, seq: int) -> None:
        """The agent has seen the conversation up to `seq` (the pane is open, the tab visible)."""
        mark = await database(read_mark)(agent=self.agent, conversation_id=conversation_id, seq=seq)
        read: AgentReadEvent = {
            "type": "agent.read",
            "conversation_id": conversation_id,
            "seq": mark,
        }
        publish_now([agent_group(self.agent.pk)], read)

    async def agent_read(self, event: dict[str, Any]) -> None:
        """This agent read a conversation, in this tab or another: recount its unread."""
        conversation_id = event["conversation_id"]
        count, as_of = await database(unread_count)(
            agent=self.agent, conversation_id=conversation_id
        )
        self.unread_base[conversation_id] = (count, as_of)
        self.unread_new[conversation_id] = {
            seq for seq in self.unread_new.get(conversation_id, ()) if seq > as_of
        }
        await self.send_html(render_unread(conversation_id, self.unread_of(conversation_id)))

    def unread_of(self, conversation_id: int) -> int:
        base, _ = self.unread_base.get(conversation_id, (0, 0))
        return base + len(self.unread_new.get(conversation_id, ()))

    async def resume(self, conversation_id: int | None, after: int) -> None:
        # The pane shows one conversation: opening another stops following the previous one.
        if _is_new(conversation_id, self.cursors):
            self.announce_viewing("left")
            self.cursors.clear()
            self.sent_state.clear()
            self.pane_visitor = None
        await super().resume(conversation_id, after)
        if conversation_id in self.cursors:
            pane = Conversation.objects.filter(pk=conversation_id)
            found = await database(pane.values_list("visitor_id", "inbox_id").first)()
            if found is not None:
                self.pane_visitor, self.pane_inbox = found
                self.announce_viewing("viewing")

    # ---- Collision: who else has the chat open, or is typing a reply in it ------------------
    # Ephemeral, like typing (docs/PROTOCOL.md): a socket says when its pane opens or leaves a
    # chat, and again with every VIEWING_REPEAT of heartbeats; colleagues following that chat
    # show "Alice is viewing" until she leaves, or for VIEWING_EXPIRES_MS after the last word
    # (her process may die without a goodbye). Nothing is stored.

    def announce_viewing(self, state: str, *, reply: bool = False) -> None:
        conversation_id = next(iter(self.cursors), None)
        inbox_id = getattr(self, "pane_inbox", None)
        if conversation_id is None or inbox_id is None or self.agent is None:
            return
        self.viewing_said = time.monotonic()
        event: AgentViewingEvent = {
            "type": "agent.viewing",
            "conversation_id": conversation_id,
            "agent_id": self.agent.pk,
            "name": self.agent.display_name,
            "state": state,
            "reply": reply,
        }
        publish_now([inbox_group(inbox_id)], event)

    async def agent_viewing(self, event: AgentViewingEvent) -> None:
        """A colleague opened or left a chat; shown if it is the one in this pane. A colleague
        who just opened it hears back from this socket, so both see each other."""
        if event["conversation_id"] not in self.cursors or event["agent_id"] == self.agent.pk:
            return
        viewing = event["state"] == "viewing"
        html = render_viewer(event["conversation_id"], event["agent_id"], event["name"], viewing)
        if not viewing:  # gone: not typing either
            html += render_typer(event["conversation_id"], event["agent_id"], event["name"], False)
        await self.send_html(html)
        if viewing and not event["reply"]:
            self.announce_viewing("viewing", reply=True)

    async def chat_typing(self, event: dict[str, Any]) -> None:
        """A colleague typing in the chat of this pane is a collision warning ("Alice is typing a
        reply"), shown beside the viewers; the visitor typing, the usual indicator."""
        sender = event["sender"]
        if not sender.startswith("agent.") or event["conversation_id"] not in self.cursors:
            await super().chat_typing(event)
            return
        if sender == self.typing_sender():
            return
        await self.send_html(
            render_typer(
                event["conversation_id"],
                int(sender.removeprefix("agent.")),
                event["name"],
                event["state"] == "typing",
            )
        )

    def recheck(self, check: AgentCheck) -> dict[str, Any] | None:
        """What `recheck_agents` found for this socket, if it needs doing here: its session
        gone or changed (a logout, a new login elsewhere) or its agent deactivated (close), its
        inboxes changed (new groups, fresh lists), its agent's name or role changed, or a new
        chat whose ring was lost. The newest activity in its inboxes is compared with what the
        socket has shown: behind now may be a ring on its way; behind what the database had at
        the previous check is a lost one."""
        if check.agent is None:
            return {"type": "socket.recheck", "close": True}
        assert self.agent is not None
        lost = _before(self.latest_seen, self.latest_behind)
        self.latest_behind = check.latest if _before(self.latest_seen, check.latest) else None
        regroup = set(check.groups) != set(self.joined)
        changed = (check.agent.role, check.agent.display_name) != (
            self.agent.role,
            self.agent.display_name,
        )
        if not (lost or regroup or changed):
            return None
        return {
            "type": "socket.recheck",
            "agent": check.agent,
            "groups": check.groups,
            "lost": lost,
        }

    async def socket_recheck(self, event: dict[str, Any]) -> None:
        """Rights are checked again, not only at connect. A socket whose session changed (a
        logout, a deactivation, or a new login elsewhere) is closed with 4000: the client
        reconnects, and the connect checks the cookie it has now. One whose inboxes changed
        moves to the right groups and gets fresh lists; so does one that missed a new chat."""
        if event.get("close"):
            await self.close(code=CLOSE_RECHECK)
            return
        self.agent, groups = event["agent"], event["groups"]
        if set(groups) != set(self.joined):
            for group in set(self.joined) - set(groups):
                await self.channel_layer.group_discard(group, self.channel_name)
            for group in set(groups) - set(self.joined):
                await self.channel_layer.group_add(group, self.channel_name)
            self.joined = groups
            self.cursors = {
                pk: seq for pk, seq in self.cursors.items() if await self.may_follow(pk)
            }
            await self.send_lists()
        elif event["lost"]:
            logger.warning("agent %s lists were behind: resending", self.agent.pk)
            await self.send_lists()

    async def on_conversation_event(self, event: ChatMessageEvent) -> None:
        conversation = event["conversation"]
        seen = conversation["last_message_at"]
        if _before(self.latest_seen, seen):
            self.latest_seen = seen
        conversation_id = conversation["id"]
        seq = event["message"]["seq"]
        _, as_of = self.unread_base.get(conversation_id, (0, 0))
        if event["message"]["sender_kind"] == Message.SenderKind.VISITOR and seq > as_of:
            self.unread_new.setdefault(conversation_id, set()).add(seq)
        if conversation_id not in self.cursors:
            self.listed.add(conversation_id)
            await self.send_html(self.row_html(conversation))

    async def conversations_deleted(self, event: ConversationsDeletedEvent) -> None:
        """An admin erased a visitor, or retention purged old chats: fresh lists without them,
        and if the pane shows one of them, an empty pane in its place."""
        gone = set(event["conversation_ids"])
        if not gone & (self.listed | self.cursors.keys()):
            return
        pane_gone = bool(gone & self.cursors.keys())
        for conversation_id in gone:
            self.cursors.pop(conversation_id, None)
        await self.send_lists()
        if pane_gone:
            self.pane_visitor = None
            await self.send_html(render_workspace_gone())

    def row_html(self, conversation: ConversationData) -> str:
        """The conversation's list row as this agent sees it, then this socket's unread badge
        for it: the row is the same for every tab of the agent (rendered once per process),
        the count is the socket's own (applied right after, in the same frame)."""
        unread = self.unread_of(conversation["id"])
        return render_row(conversation, me=self.agent.pk, unread=0) + render_unread(
            conversation["id"], unread
        )

    def state_html(self, conversation: ConversationData, *, only_changed: bool = True) -> str:
        html = self.row_html(conversation)  # its preview and time change with every message
        pk = conversation["id"]
        header = (
            conversation["visitor_name"],
            conversation["status"],
            conversation["assigned_agent_id"],
            conversation["assigned_agent_name"],
            [(label["id"], label["name"], label["color"]) for label in conversation["labels"]],
            conversation["snoozed_until"],
        )
        if self.state_changed(pk, "header", header, only_changed=only_changed):
            html += render_pane_header(conversation, me=self.agent.pk)
        read = conversation["visitor_read_seq"]
        if self.state_changed(pk, "read", read, only_changed=only_changed):
            html += render_receipt(pk, "visitor", read)
        return html

    async def typing_groups(self, conversation_id: int) -> list[str]:
        """The visitor, and colleagues who have the chat open (no two answers at once)."""
        ids = Conversation.objects.filter(pk=conversation_id).values_list("inbox_id", "visitor_id")
        inbox_id, visitor_id = await database(ids.get)()
        return [inbox_group(inbox_id), visitor_group(visitor_id)]

    def typing_sender(self) -> str:
        return f"agent.{self.agent.pk}"

    def typing_name(self) -> str:
        return self.agent.display_name

    async def agent_changed(self, event: dict[str, Any]) -> None:
        """The agent's account, role or inboxes changed (agents.apps): check this socket now."""
        (check,) = await database(agents_check)([(self.agent.pk, _session_key(self))])  # type: ignore[union-attr]
        if found := self.recheck(check):
            await self.socket_recheck(found)

    async def agent_logged_out(self, event: dict[str, Any]) -> None:
        """The agent logged out of a session: that session's sockets close with "connect
        again" (4000), whose connect then finds no session (4401, the login page)."""
        session = self.scope.get("session")
        if session is not None and session.session_key == event["session_key"]:
            await self.close(code=CLOSE_RECHECK)

    async def agent_presence(self, event: dict[str, Any]) -> None:
        member = {"id": event["agent_id"], "name": event["name"], "presence": event["presence"]}
        await self.send_html(render_member(member, version=event["version"]))  # type: ignore[arg-type]

    async def visitor_context(self, event: dict[str, Any]) -> None:
        """The visitor in the pane moved to another page: refresh the panel beside it."""
        if event["visitor_id"] != self.pane_visitor or not self.cursors:
            return
        conversation_id = next(iter(self.cursors))
        pane = Conversation.objects.select_related("visitor", "inbox").filter(pk=conversation_id)
        conversation = await database(pane.first)()
        if conversation is None:  # deleted meanwhile (an admin)
            return
        await self.send_html(await database(render_context)(conversation))


async def _settle_later(channel_name: str) -> None:
    # A moment past the grace, so the row has expired when we look.
    await asyncio.sleep(settings.SUPPORTDESK_PRESENCE_GRACE_SECONDS + 0.1)
    try:
        await database(presence.presence_settle)(channel_name=channel_name)
    except Exception:
        logger.exception("presence of %s could not settle", channel_name)


def _call_start(*, agent: Agent, conversation_id: int, kind: Any) -> Any:
    try:
        conversation = conversation_for_agent(agent=agent, pk=conversation_id)
    except Http404:
        raise calls.CallRefused("not_found", "No such conversation.") from None
    return calls.call_start(agent=agent, conversation=conversation, kind=kind)


def _groups_of(agent: Agent) -> list[str]:
    """The groups an agent's socket joins: their inboxes' and their own."""
    return socket_groups(agent.pk, agent.visible_inboxes().values_list("pk", flat=True))


def _before(seen: str | None, latest: str | None) -> bool:
    """Whether activity `latest` (an ISO time, or None for none) is newer than `seen`."""
    return latest is not None and (seen is None or seen < latest)


def _is_new(conversation_id: int | None, cursors: dict[int, int]) -> bool:
    return conversation_id is None or conversation_id not in cursors


@every("agents", lambda: settings.SUPPORTDESK_RESYNC_SECONDS)
async def recheck_agents(sockets: Hub) -> None:
    """Every SUPPORTDESK_RESYNC_SECONDS, the sessions, agents, inboxes and newest activity of
    every dashboard socket of this process, in a few queries for all (`agents_check`); each
    socket that must act is told (`AgentConsumer.recheck`). A logout closes its session's
    sockets at once anyway (`agent_logged_out`)."""
    dashboards = [socket for socket in sockets.of(AgentConsumer) if socket.agent is not None]
    if not dashboards:
        return
    checks = await database(agents_check)(
        [(socket.agent.pk, _session_key(socket)) for socket in dashboards]  # type: ignore[union-attr]
    )
    for socket, check in zip(dashboards, checks, strict=True):
        if event := socket.recheck(check):
            socket.nudge(event)


def _session_key(socket: AgentConsumer) -> str | None:
    return getattr(socket.scope.get("session"), "session_key", None)


@every("presence", lambda: settings.SUPPORTDESK_PRESENCE_TIMEOUT_SECONDS / 3)
async def keep_presence(sockets: Hub) -> None:
    """While dashboards are open, keep their presence rows fresh: one UPDATE for all of this
    process's (server-side: a background tab's throttled timers cannot make an agent flicker
    offline). A row swept meanwhile (the process stalled past the timeout) counts again."""
    dashboards = {s.channel_name: s for s in sockets.of(AgentConsumer) if s.registered}
    if not dashboards:
        return
    swept = await database(presence.connections_seen)(channel_names=list(dashboards))
    for channel_name in swept:
        dashboards[channel_name].nudge({"type": "socket.register"})


@every("housekeeping", lambda: settings.SUPPORTDESK_HOUSEKEEPING_SECONDS)
async def housekeep(sockets: Hub) -> None:
    """Stale presence, auto-end and the queue (agents.housekeeping), while this process has a
    dashboard open: a desk with anyone at work needs no scheduler."""
    if any(True for _ in sockets.of(AgentConsumer)):
        await database(housekeeping_if_due)()
