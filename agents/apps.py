from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from chat.signals import assignment_needed

        assignment_needed.connect(_assign, dispatch_uid="agents.auto_assign")
        user_logged_in.connect(_logged_in, dispatch_uid="agents.logged_in")
        user_logged_out.connect(_logged_out, dispatch_uid="agents.logged_out")


def _assign(sender: Any, inbox_id: int, **kwargs: Any) -> None:
    from agents.assignment import auto_assign

    auto_assign(inbox_ids=[inbox_id])


def _record_login(user: Any, verb: str) -> int | None:
    """Record a login or logout in the agent's activity; the agent's id, if the user is one."""
    from agents.models import Activity, Agent

    agent = Agent.objects.filter(user_id=getattr(user, "pk", None)).first()
    if agent is not None:
        Activity.objects.create(actor=agent, verb=verb)
    return agent.pk if agent is not None else None


def _logged_in(sender: Any, user: Any, **kwargs: Any) -> None:
    _record_login(user, "login")


def _logged_out(sender: Any, user: Any, request: Any = None, **kwargs: Any) -> None:
    """The agent's dashboard sockets of this session close at once (agents.consumers), not at
    their next resync: the session key is named, since the session is only flushed after this
    signal."""
    from chat.events import publish_event
    from chat.groups import agent_group

    agent_id = _record_login(user, "logout")
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if agent_id is not None and session_key:
        publish_event(
            [agent_group(agent_id)], {"type": "agent.logged_out", "session_key": session_key}
        )
