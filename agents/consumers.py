"""`/ws/agents/`: an agent's dashboard socket (session-authenticated).

It joins the groups of the agent's inboxes, so every conversation event there updates the lists;
the conversation open in the pane is followed with a cursor, like a visitor's (chat.consumers).
"""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import SESSION_KEY

from agents.models import Agent
from agents.rendering import render_lists, render_pane_header, render_row
from agents.selectors import (
    agent_for_user,
    conversation_lists,
    conversations_for_agent,
    inboxes_last_activity,
)
from chat.consumers import CLOSE_RECHECK, CursorConsumer
from chat.events import ChatMessageEvent, ConversationData
from chat.groups import inbox_group

logger = logging.getLogger(__name__)


class AgentConsumer(CursorConsumer):
    viewer = "agent"

    async def authorize(self) -> list[str] | None:
        self.agent: Agent | None = await database_sync_to_async(agent_for_user)(self.scope["user"])
        if self.agent is None:
            return None
        # The newest activity this socket has shown; a resync compares it with the database.
        self.latest_seen: str | None = None
        return await self.inbox_groups(self.agent)

    async def inbox_groups(self, agent: Agent) -> list[str]:
        return [inbox_group(pk) async for pk in agent.inboxes.values_list("pk", flat=True)]

    async def connect(self) -> None:
        await super().connect()
        if self.agent is not None:
            await self.send_lists()  # whatever the lists missed while the socket was down

    async def send_lists(self) -> None:
        self.latest_seen = await database_sync_to_async(inboxes_last_activity)(self.agent)
        lists = await database_sync_to_async(conversation_lists)(agent=self.agent)
        await self.send_html(render_lists(lists))

    async def may_follow(self, conversation_id: int) -> bool:
        return await conversations_for_agent(self.agent).filter(pk=conversation_id).aexists()

    async def resume(self, conversation_id: Any, after: Any) -> None:
        # The pane shows one conversation: opening another stops following the previous one.
        if _is_new(conversation_id, self.cursors):
            self.cursors.clear()
        await super().resume(conversation_id, after)

    async def resync(self) -> None:
        """Rights are checked again, not only at connect. A socket whose session changed (a
        logout, a deactivation, or a new login elsewhere) is closed with 4000: the client
        reconnects, and the connect checks the cookie it has now. One whose inboxes changed
        moves to the right groups. A new chat whose doorbell was lost brings fresh lists."""
        session = self.scope.get("session")
        data = await database_sync_to_async(session.load)() if session is not None else {}
        user_id = str(getattr(self.agent, "user_id", ""))
        agent = await database_sync_to_async(agent_for_user)(self.scope["user"])
        if data.get(SESSION_KEY) != user_id or agent is None:
            await self.close(code=CLOSE_RECHECK)
            return
        groups = await self.inbox_groups(agent)
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
            latest = await database_sync_to_async(inboxes_last_activity)(agent)
            if latest is not None and (self.latest_seen is None or latest > self.latest_seen):
                logger.warning("agent %s lists were behind: resending", agent.pk)
                await self.send_lists()
        await super().resync()

    async def on_conversation_event(self, event: ChatMessageEvent) -> None:
        seen = event["conversation"]["last_message_at"]
        if seen and (self.latest_seen is None or seen > self.latest_seen):
            self.latest_seen = seen
        if event["conversation"]["id"] not in self.cursors:
            await self.send_html(render_row(event["conversation"]))

    def state_html(self, conversation: ConversationData) -> str:
        return render_row(conversation) + render_pane_header(conversation)


def _is_new(conversation_id: Any, cursors: dict[int, int]) -> bool:
    return conversation_id is None or conversation_id not in cursors
