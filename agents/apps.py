from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_in, user_logged_out
        from django.db.models.signals import m2m_changed, post_save

        from agents.faces import inbox_agent_face, inbox_team_faces
        from agents.models import Agent
        from agents.presence import inbox_has_agent_online
        from chat.availability import agent_online_check_set
        from chat.faces import face_lookups_set
        from chat.signals import assignment_needed, call_finished, conversation_ended

        agent_online_check_set(inbox_has_agent_online)  # what the widget shows (chat.availability)
        face_lookups_set(team=inbox_team_faces, agent=inbox_agent_face)  # its faces (chat.faces)

        assignment_needed.connect(_assign, dispatch_uid="agents.auto_assign")
        conversation_ended.connect(_record_end, dispatch_uid="agents.record_end")
        call_finished.connect(_record_call, dispatch_uid="agents.record_call")
        user_logged_in.connect(_logged_in, dispatch_uid="agents.logged_in")
        user_logged_out.connect(_logged_out, dispatch_uid="agents.logged_out")
        # What a dashboard socket may hear changes: its sockets check again at once (the
        # process's periodic check, agents.consumers.recheck_agents, is the safety net).
        post_save.connect(_agent_saved, sender=Agent, dispatch_uid="agents.agent_saved")
        post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="agents.user_saved")
        m2m_changed.connect(
            _inboxes_changed, sender=Agent.inboxes.through, dispatch_uid="agents.inboxes_changed"
        )


def _assign(sender: Any, inbox_id: int, **kwargs: Any) -> None:
    from agents.assignment import auto_assign

    auto_assign(inbox_ids=[inbox_id])


def _record_end(sender: Any, conversation: Any, by: Any, reason: str, **kwargs: Any) -> None:
    """An agent ended a chat, or it ended for a reason of the desk's (inactivity): the activity
    log says so, in the same transaction. A chat closed because its visitor signed in (no agent,
    no reason: chat.identity) was nobody's decision, and is not logged."""
    from agents.models import Activity

    if by is not None or reason:
        Activity.objects.create(
            actor=by, verb=Activity.Verb.END, conversation=conversation, detail=reason
        )


def _record_call(sender: Any, call: Any, conversation: Any, **kwargs: Any) -> None:
    """A call ended (chat.calls): the activity log keeps it under its agent, with how it ended
    and how long it lasted ("video, 192 s, ended by visitor"; "voice, missed")."""
    from agents.models import Activity

    if call.status == "ended" and call.answered_at is not None:
        detail = f"{call.kind}, {call.duration_seconds} s, ended by {call.ended_by}"
    elif call.status == "ended":
        detail = f"{call.kind}, cancelled before the answer"
    else:
        detail = f"{call.kind}, {call.status}"
    Activity.objects.create(
        actor_id=call.agent_id, verb=Activity.Verb.CALL, conversation=conversation, detail=detail
    )


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
    from chat.events import publish_now
    from chat.groups import agent_group
    from chat.payloads import AgentLoggedOutEvent

    agent_id = _record_login(user, "logout")
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if agent_id is not None and session_key:
        event: AgentLoggedOutEvent = {"type": "agent.logged_out", "session_key": session_key}
        publish_now([agent_group(agent_id)], event)


def _changed(agent_ids: Any) -> None:
    """Once the change commits, the agents' dashboard sockets check their rights again."""
    from chat.events import publish_on_commit
    from chat.groups import agent_group

    groups = [agent_group(pk) for pk in agent_ids]
    if groups:
        publish_on_commit(groups, {"type": "agent.changed"})


def _agent_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created:  # a new agent has no socket yet
        _changed([instance.pk])


def _user_saved(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if update_fields is not None and set(update_fields) == {"last_login"}:
        return  # every login saves it: nothing a socket checks
    from agents.models import Agent

    _changed(Agent.objects.filter(user_id=instance.pk).values_list("pk", flat=True))


def _inboxes_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """An agent's inboxes changed (`agent.inboxes.add(...)`, or `inbox.agents.remove(...)`)."""
    if action == "pre_clear" and reverse:  # who was in the inbox: gone by post_clear
        instance._agents_cleared = list(instance.agents.values_list("pk", flat=True))
    elif action in ("post_add", "post_remove", "post_clear"):
        if not reverse:
            _changed([instance.pk])
        else:
            _changed(pk_set if pk_set is not None else getattr(instance, "_agents_cleared", []))
