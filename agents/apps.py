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


def _record_login(user: Any, verb: str) -> None:
    from agents.models import Activity, Agent

    agent = Agent.objects.filter(user_id=getattr(user, "pk", None)).first()
    if agent is not None:
        Activity.objects.create(actor=agent, verb=verb)


def _logged_in(sender: Any, user: Any, **kwargs: Any) -> None:
    _record_login(user, "login")


def _logged_out(sender: Any, user: Any, **kwargs: Any) -> None:
    _record_login(user, "logout")
