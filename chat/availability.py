"""Whether an inbox answers now, as the widget shows it: open by its hours (`chat.hours`), and
an agent online to answer.

Who is online is the agents' domain (`agents.presence`), a layer above this one
(docs/ARCHITECTURE.md): the agents' app hands its answer in when it starts (`agents.apps`), so
the widget asks without chat importing agents. Whether a bot answers first is handed in the
same way by the bots' app (`bot_check_set`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chat.hours import AvailabilityData, availability
from chat.models import Inbox
from chat.payloads import AvailabilityEvent

# "Is an agent online for this inbox?", given the inbox's id.
AgentOnline = Callable[[int], bool]


def _not_set(inbox_id: int) -> bool:
    raise RuntimeError(
        "No agent-online check is set: agents.apps sets it when Django starts "
        "(is 'agents' in INSTALLED_APPS?)."
    )


_agent_online: AgentOnline = _not_set


def agent_online_check_set(check: AgentOnline) -> None:
    """Called once by the agents' app at start-up with presence's answer."""
    global _agent_online
    _agent_online = check


# "Does a bot answer this inbox's new conversations first?", given the inbox's id. Bots are an
# app above this layer (`bots`); it hands its answer in when it starts (`bots.apps`). Without
# it, nothing answers first: every new conversation waits for an agent.
BotAnswers = Callable[[int], bool]


def _no_bot(inbox_id: int) -> bool:
    return False


bot_answers_first: BotAnswers = _no_bot


def bot_check_set(check: BotAnswers) -> None:
    """Called once by the bots' app at start-up; `chat.services.conversation_start` asks it once
    per new conversation (never per message)."""
    global bot_answers_first
    bot_answers_first = check


def inbox_availability(inbox: Inbox) -> AvailabilityData:
    """What the widget says: open, and is anyone online to answer?"""
    return availability(inbox, agent_online=_agent_online(inbox.pk))


def availability_event(inbox: Inbox, version: int) -> AvailabilityEvent:
    return {
        "type": "inbox.availability",
        "inbox_id": inbox.pk,
        "availability": inbox_availability(inbox),
        "version": version,
    }


def inbox_availability_event(inbox_id: int) -> AvailabilityEvent:
    """The inbox's availability now, for a widget socket that just connected."""
    return availability_event(Inbox.objects.get(pk=inbox_id), int(time.time() * 1000))
