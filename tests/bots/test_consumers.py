"""The bot's part over the sockets: its answer reaches the widget (with its suggested replies)
and the dashboards like any message, and at the handover the chat moves to Waiting live."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from agents.models import Agent
from bots.models import Bot, BotRule
from chat.models import Inbox, Visitor
from tests.agents.test_consumers import raw_frames_until
from tests.chat.test_consumers import agent_socket, connect_visitor, send

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def make_bot(inbox: Inbox) -> Bot:
    bot = Bot.objects.create(inbox=inbox, name="Robo")
    BotRule.objects.create(
        bot=bot, keywords="price", answer="Ten euros.", quick_replies="Is there a trial?"
    )
    return bot


def html_with(*needles: str):
    return lambda f: all(n in f.get("html", "") for n in needles)


async def test_the_bot_answers_live_and_the_handover_moves_the_chat_to_waiting(
    inbox: Inbox, agent: Agent, visitor: Visitor
) -> None:
    await make_bot(inbox)
    dashboard = await agent_socket(agent)
    widget = await connect_visitor(visitor)
    try:
        message = await send(visitor, "What's the price?")
        pk = message.conversation_id
        # The widget: the bot's answer, named and marked, with its buttons.
        answer: dict[str, Any] = await raw_frames_until(
            widget, html_with(f'id="msg-{pk}-2"', "Ten euros.")
        )
        html = answer["html"]
        assert 'class="msg msg--bot"' in html
        assert "Robo" in html
        assert 'class="msg__bot-mark"' in html
        assert 'data-quick-reply="Is there a trial?"' in html
        assert 'data-quick-reply="Talk to a person"' in html
        # The dashboard: the chat is listed "with the bot", its preview the bot's answer.
        row = await raw_frames_until(
            dashboard, html_with(f'id="conv-row-{pk}"', 'data-container="list-bot"', "Ten euros.")
        )
        assert "Ten euros." in row["html"]
        # The visitor clicks "Talk to a person": the handover line, then the chat waits.
        await send(visitor, "Talk to a person")
        line = await raw_frames_until(widget, html_with(f'id="msg-{pk}-4"'))
        assert "You asked for a person" in line["html"]
        await raw_frames_until(
            dashboard, html_with(f'id="conv-row-{pk}"', 'data-container="list-waiting"')
        )
        queue = await raw_frames_until(widget, html_with(f'id="queue-{pk}"', "number 1"))
        assert "in line" in queue["html"]
    finally:
        await widget.disconnect()
        await dashboard.disconnect()
