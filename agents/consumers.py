"""`/ws/agents/`: an agent's dashboard socket (session-authenticated).

It joins the groups of the agent's inboxes (every conversation event there updates the lists and
the team's presence) and the agent's own group (what one tab reads is read in every tab). The
conversation open in the pane is followed with a cursor, like a visitor's (chat.consumers).
The socket is also the agent's presence: open means connected, heartbeats keep it so.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY

from agents import presence
from agents.housekeeping import housekeeping_if_due
from agents.models import Agent
from agents.rendering import (
    render_context,
    render_lists,
    render_member,
    render_pane_header,
    render_row,
    render_unread,
    render_workspace_gone,
)
from agents.selectors import (
    agent_for_user,
    conversation_lists,
    conversations_for_agent,
    inboxes_last_activity,
    unread_count,
)
from agents.services import read_mark
from chat.consumers import CLOSE_RECHECK, CursorConsumer
from chat.events import (
    ChatMessageEvent,
    ConversationData,
    ConversationsDeletedEvent,
    send_to_groups,
)
from chat.groups import agent_group, inbox_group, visitor_group
from chat.models import Conversation, Message
from chat.rendering import render_receipt
from chat.selectors import conversations_last_seq
from supportdesk.asyncdb import database

logger = logging.getLogger(__name__)

# Grace-period tasks outlive the consumer that started them; keep them from being collected.
_settling: set[asyncio.Task[None]] = set()
# How long the real-time path probe may take to go out before the dashboard is told it is down.
PATH_PROBE_TIMEOUT_SECONDS = 2.0


class AgentConsumer(CursorConsumer):
    viewer = "agent"

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

    async def agent_groups(self, agent: Agent) -> list[str]:
        return await database(_groups_of)(agent)

    async def connect(self) -> None:
        self.keepalive: asyncio.Task[None] | None = None
        await super().connect()
        if self.agent is not None:
            await self.register()
            self.keepalive = asyncio.create_task(self.keep_presence())
            await self.send_lists()  # whatever the lists missed while the socket was down
            await self.probe_path()

    def who(self) -> dict[str, int]:
        agent = getattr(self, "agent", None)
        return {"agent_id": agent.pk} if agent else {}

    async def probe_path(self) -> None:
        """Send a probe to this socket's own channel through the channel layer (Redis), the way
        every doorbell comes: `realtime_echo` answers the client "up" when it comes back. If it
        cannot even go out, the client hears "down" at once; if it goes out and never comes
        back, the client notices the missing "up" by itself (dashboard.js). On connect and on
        every heartbeat."""
        try:
            async with asyncio.timeout(PATH_PROBE_TIMEOUT_SECONDS):
                await self.channel_layer.send(self.channel_name, {"type": "realtime.echo"})
        except Exception as exc:
            logger.warning(
                "real-time path probe not sent: %s",
                type(exc).__name__,
                extra={"event": "socket.path_down", "kind": self.viewer, **self.who()},
            )
            await self.send_json({"type": "realtime", "state": "down"})

    async def realtime_echo(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "realtime", "state": "up"})

    async def register(self) -> None:
        await database(presence.connection_open)(agent=self.agent, channel_name=self.channel_name)

    async def keep_presence(self) -> None:
        """While the socket is open, keep its presence row fresh (server-side: a background
        tab's throttled timers cannot make the agent flicker offline)."""
        interval = settings.SUPPORTDESK_PRESENCE_TIMEOUT_SECONDS / 3
        while True:
            await asyncio.sleep(interval)
            try:
                seen = await database(presence.connection_seen)(channel_name=self.channel_name)
                if not seen:  # swept after a long stall (a suspended laptop): count again
                    await self.register()
            except Exception:
                logger.exception("presence refresh failed for %s", self.channel_name)

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        if getattr(self, "keepalive", None) is not None:
            self.keepalive.cancel()
        if getattr(self, "agent", None) is None:
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
            for c in lists["waiting"] + lists["active"]
        }
        self.unread_new = {}
        self.listed = {c["id"] for c in lists["waiting"] + lists["active"] + lists["ended"]}
        await self.send_html(render_lists(lists, me=self.agent.pk))

    async def may_follow(self, conversation_id: int) -> bool:
        visible = conversations_for_agent(self.agent).filter(pk=conversation_id)
        return await database(visible.exists)()

    async def mark_read(self, conversation_id: int, seq: int) -> None:
        """The agent has seen the conversation up to `seq` (the pane is open, the tab visible)."""
        mark = await database(read_mark)(agent=self.agent, conversation_id=conversation_id, seq=seq)
        await send_to_groups(
            [agent_group(self.agent.pk)],
            {"type": "agent.read", "conversation_id": conversation_id, "seq": mark},
        )

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
            self.cursors.clear()
            self.pane_visitor = None
        await super().resume(conversation_id, after)
        if conversation_id in self.cursors:
            visitor = Conversation.objects.filter(pk=conversation_id)
            self.pane_visitor = await database(visitor.values_list("visitor_id", flat=True).first)()

    async def on_ping(self) -> None:
        if self.agent is None:
            return
        await self.probe_path()
        # Not on the shared sync thread: a long run must not stall every socket's queries.
        await database(housekeeping_if_due)()

    async def resync(self) -> None:
        """Rights are checked again, not only at connect. A socket whose session changed (a
        logout, a deactivation, or a new login elsewhere) is closed with 4000: the client
        reconnects, and the connect checks the cookie it has now. One whose inboxes changed
        moves to the right groups. A new chat whose doorbell was lost brings fresh lists."""
        # One trip to a database thread for all of it: under load each trip waits its turn.
        check = await database(self.resync_reads)()
        if check is None:
            await self.close(code=CLOSE_RECHECK)
            return
        agent, groups, latest, last_seqs = check
        if set(groups) != set(self.joined):
            for group in set(self.joined) - set(groups):
                await self.channel_layer.group_discard(group, self.channel_name)
            for group in set(groups) - set(self.joined):
                await self.channel_layer.group_add(group, self.channel_name)
            self.joined, self.agent = groups, agent
            self.cursors = {
                pk: seq for pk, seq in self.cursors.items() if await self.may_follow(pk)
            }
            await self.send_lists()
        else:
            self.agent = agent
            # As with cursors: behind now may be a ring on its way; behind what the database had
            # at the previous resync is a lost one.
            if _before(self.latest_seen, self.latest_behind):
                logger.warning("agent %s lists were behind: resending", agent.pk)
                await self.send_lists()
            self.latest_behind = latest if _before(self.latest_seen, latest) else None
        await self.catch_up_lost(last_seqs)

    def resync_reads(self) -> tuple[Agent, list[str], str | None, dict[int, int]] | None:
        """What a resync reads (sync, in a database thread): the agent, their groups, the
        newest activity in their inboxes and the followed conversations' last seqs; None if the
        socket's session no longer holds this agent."""
        session = self.scope.get("session")
        data = session.load() if session is not None else {}
        agent = agent_for_user(self.scope["user"])
        if agent is None or data.get(SESSION_KEY) != str(getattr(self.agent, "user_id", "")):
            return None
        groups = _groups_of(agent)
        last_seqs = conversations_last_seq(list(self.cursors)) if self.cursors else {}
        return agent, groups, inboxes_last_activity(agent), last_seqs

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
        return render_row(conversation, me=self.agent.pk, unread=self.unread_of(conversation["id"]))

    def state_html(self, conversation: ConversationData) -> str:
        return (
            self.row_html(conversation)
            + render_pane_header(conversation, me=self.agent.pk)
            + render_receipt(conversation["id"], "visitor", conversation["visitor_read_seq"])
        )

    async def typing_groups(self, conversation_id: int) -> list[str]:
        """The visitor, and colleagues who have the chat open (no two answers at once)."""
        ids = Conversation.objects.filter(pk=conversation_id).values_list("inbox_id", "visitor_id")
        inbox_id, visitor_id = await database(ids.get)()
        return [inbox_group(inbox_id), visitor_group(visitor_id)]

    def typing_sender(self) -> str:
        return f"agent.{self.agent.pk}"

    def typing_name(self) -> str:
        return self.agent.display_name

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


def _groups_of(agent: Agent) -> list[str]:
    """The groups an agent's socket joins: their inboxes' and their own."""
    inboxes = agent.visible_inboxes().values_list("pk", flat=True)
    return [inbox_group(pk) for pk in inboxes] + [agent_group(agent.pk)]


def _before(seen: str | None, latest: str | None) -> bool:
    """Whether activity `latest` (an ISO time, or None for none) is newer than `seen`."""
    return latest is not None and (seen is None or seen < latest)


def _is_new(conversation_id: int | None, cursors: dict[int, int]) -> bool:
    return conversation_id is None or conversation_id not in cursors
