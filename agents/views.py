"""The agent dashboard. Every view: logged in, an agent, and only conversations of their inboxes."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from agents import selectors, services
from agents.models import Agent
from agents.rendering import pane_context
from chat.selectors import conversation_summary
from chat.services import ConversationEnded, conversation_end
from chat.views import handle_send


def agent_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login, then an Agent profile: a logged-in user who is not an agent gets 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        agent = selectors.agent_for_user(request.user)
        if agent is None:
            raise PermissionDenied("You are not an agent of this desk.")
        return view(request, agent, *args, **kwargs)

    return wrapper


@require_GET
@agent_required
def dashboard(request: HttpRequest, agent: Agent) -> HttpResponse:
    return render(request, "agents/dashboard.html", _page_context(agent, conversation_id=None))


@require_GET
@agent_required
def conversation_detail(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """The conversation pane; the whole dashboard when opened directly (a link, a reload)."""
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "agents/dashboard.html#workspace", pane_context(conversation))
    return render(
        request, "agents/dashboard.html", _page_context(agent, conversation_id=conversation.pk)
    )


@require_POST
@agent_required
def conversation_reply(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    return handle_send(
        request,
        viewer="agent",
        send=lambda body, client_id: services.agent_reply(
            conversation=conversation, agent=agent, body=body, client_id=client_id
        ),
    )


@require_POST
@agent_required
def conversation_claim(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    try:
        services.conversation_claim(conversation=conversation, agent=agent)
    except (services.AlreadyAssigned, ConversationEnded) as exc:
        return _pane_header(request, conversation.pk, error=str(exc), status=409)
    return _pane_header(request, conversation.pk)


@require_POST
@agent_required
def conversation_end_view(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    try:
        conversation_end(conversation=conversation, by=agent)
    except ConversationEnded as exc:
        return _pane_header(request, conversation.pk, error=str(exc), status=409)
    return _pane_header(request, conversation.pk)


def _pane_header(
    request: HttpRequest, pk: int, *, error: str = "", status: int = 200
) -> HttpResponse:
    return render(
        request,
        "agents/dashboard.html#pane_header",
        {"conversation": conversation_summary(pk), "error": error},
        status=status,
    )


def _page_context(agent: Agent, *, conversation_id: int | None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "agent": agent,
        "lists": selectors.conversation_lists(agent=agent),
        "open_id": conversation_id,
    }
    if conversation_id is not None:
        context.update(
            pane_context(selectors.conversation_for_agent(agent=agent, pk=conversation_id))
        )
    return context
