"""`/ws/agents/`: an agent's dashboard socket (session-authenticated).

It joins the groups of the agent's inboxes, so every conversation event there updates the lists;
the conversation open in the pane is followed with a cursor, like a visitor's (chat.consumers).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from agents.models import Agent
from agents.rendering import render_lists, render_pane_header, render_row
from agents.selectors import agent_for_user, conversation_lists, conversations_for_agent
from chat.consumers import CursorConsumer
from chat.events import ChatMessageEvent, ConversationData
from chat.groups import inbox_group


class AgentConsumer(CursorConsumer):
    viewer = "agent"

    async def authorize(self) -> list[str] | None:
        self.agent: Agent | None = await database_sync_to_async(agent_for_user)(self.scope["user"])
        if self.agent is None:
            return None
        inbox_ids = [pk async for pk in self.agent.inboxes.values_list("pk", flat=True)]
        return [inbox_group(pk) for pk in inbox_ids]

    async def connect(self) -> None:
        await super().connect()
        if self.agent is not None:
            # Whatever the lists missed while the socket was down, in one query.
            lists = await database_sync_to_async(conversation_lists)(agent=self.agent)
            await self.send_html(render_lists(lists))

    async def may_follow(self, conversation_id: int) -> bool:
        return await conversations_for_agent(self.agent).filter(pk=conversation_id).aexists()

    async def resume(self, conversation_id: Any, after: Any) -> None:
        # The pane shows one conversation: opening another stops following the previous one.
        if _is_new(conversation_id, self.cursors):
            self.cursors.clear()
        await super().resume(conversation_id, after)

    async def on_conversation_event(self, event: ChatMessageEvent) -> None:
        if event["conversation"]["id"] not in self.cursors:
            await self.send_html(render_row(event["conversation"]))

    def state_html(self, conversation: ConversationData) -> str:
        return render_row(conversation) + render_pane_header(conversation)


def _is_new(conversation_id: Any, cursors: dict[int, int]) -> bool:
    return conversation_id is None or conversation_id not in cursors
