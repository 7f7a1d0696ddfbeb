"""The agent dashboard. Every view: logged in, an agent, and only conversations of their inboxes."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents import selectors, services
from agents.models import Agent, CannedResponse
from agents.presence import availability_set
from agents.rendering import PANE_HISTORY, pane_context
from agents.search import message_search
from chat.models import Conversation
from chat.selectors import conversation_summary, message_page
from chat.services import ConversationEnded, conversation_end
from chat.views import handle_send, json_error


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
    return render(request, "agents/dashboard.html", _page_context(agent))


@require_GET
@agent_required
def conversation_detail(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """The conversation pane; the whole dashboard when opened directly (a link, a reload)."""
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    if _is_partial(request):
        return render(
            request, "agents/dashboard.html#workspace", pane_context(conversation, agent=agent)
        )
    return render(request, "agents/dashboard.html", _page_context(agent, conversation=conversation))


@require_GET
@agent_required
def conversation_history(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """Earlier messages for the pane ("Show earlier messages"): the page before seq `before`,
    with the button for the page before that if there is one."""
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    try:
        before = int(request.GET.get("before", ""))
    except ValueError:
        return json_error(400, "bad_before", "before must be a message's seq.")
    messages, more_history = message_page(
        conversation_id=conversation.pk, limit=PANE_HISTORY, before=before
    )
    context = {
        "conversation": {"id": conversation.pk},
        "messages": messages,
        "more_history": more_history,
        "viewer": "agent",
    }
    return render(request, "agents/dashboard.html#history", context)


@require_GET
@agent_required
def search(request: HttpRequest, agent: Agent) -> HttpResponse:
    """Messages matching `q` in every conversation the agent may see, best first."""
    query = request.GET.get("q", "").strip()
    context = {"results": message_search(agent=agent, query=query), "query": query}
    if _is_partial(request):
        return render(request, "agents/dashboard.html#workspace", context)
    return render(request, "agents/dashboard.html", {**_page_context(agent), **context})


@require_POST
@agent_required
def availability(request: HttpRequest, agent: Agent) -> HttpResponse:
    choice = request.POST.get("availability", "")
    if choice not in Agent.Availability.values:
        return json_error(422, "bad_availability", "Choose online or away.")
    availability_set(agent=agent, availability=choice)
    return HttpResponse(status=204)  # the menu already shows the choice


@require_POST
@agent_required
def conversation_note(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    return handle_send(
        request,
        viewer="agent",
        send=lambda body, client_id: services.note_create(
            conversation=conversation, agent=agent, body=body, client_id=client_id
        ),
    )


@require_POST
@agent_required
def conversation_transfer(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    # Only a colleague: an agent of another company's inbox is "no such agent", not a name.
    to = selectors.team_members(agent).filter(pk=_int(request.POST.get("to"))).first()
    if to is None:
        return _pane_header(request, agent, pk, error="Choose who takes the chat.", status=422)
    try:
        services.conversation_transfer(
            conversation=conversation, by=agent, to=to, note=request.POST.get("note", "")
        )
    except (services.AlreadyAssigned, ConversationEnded, PermissionDenied) as exc:
        return _pane_header(request, agent, pk, error=str(exc), status=409)
    except ValidationError as exc:
        return _pane_header(request, agent, pk, error=" ".join(exc.messages), status=422)
    return _pane_header(request, agent, pk)


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
        return _pane_header(request, agent, conversation.pk, error=str(exc), status=409)
    return _pane_header(request, agent, conversation.pk)


@require_POST
@agent_required
def conversation_end_view(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    try:
        conversation_end(conversation=conversation, by=agent)
    except ConversationEnded as exc:
        return _pane_header(request, agent, conversation.pk, error=str(exc), status=409)
    return _pane_header(request, agent, conversation.pk)


class SavedReplyForm(forms.ModelForm):
    class Meta:
        model = CannedResponse
        fields = ["shortcut", "body"]


@require_http_methods(["GET", "POST"])
@agent_required
def saved_replies(request: HttpRequest, agent: Agent) -> HttpResponse:
    """The agent's own saved replies (add, delete) and the shared ones they can use."""
    form = SavedReplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.saved_reply_create(agent=agent, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error("shortcut", exc)
        else:
            return redirect("agents:replies")
    personal = CannedResponse.objects.filter(agent=agent).order_by("shortcut")
    shared = (
        CannedResponse.objects.filter(inbox__in=agent.visible_inboxes())
        .select_related("inbox")
        .order_by("shortcut")
    )
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "agents/replies.html",
        {"form": form, "personal": personal, "shared": shared},
        status=status,
    )


@require_POST
@agent_required
def saved_reply_delete(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    get_object_or_404(CannedResponse, pk=pk, agent=agent).delete()  # only one's own
    return redirect("agents:replies")


def _pane_header(
    request: HttpRequest, agent: Agent, pk: int, *, error: str = "", status: int = 200
) -> HttpResponse:
    return render(
        request,
        "agents/dashboard.html#pane_header",
        {"conversation": conversation_summary(pk), "error": error, "me": agent.pk},
        status=status,
    )


def _is_partial(request: HttpRequest) -> bool:
    """An htmx swap of the workspace (not a history restore, which wants the whole page)."""
    return bool(request.htmx and not request.htmx.history_restore_request)


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return 0


def _page_context(agent: Agent, *, conversation: Conversation | None = None) -> dict[str, Any]:
    """The whole dashboard; with `conversation` (already checked for this agent) open in it."""
    context: dict[str, Any] = {
        "agent": agent,
        "me": agent.pk,
        "lists": selectors.conversation_lists(agent=agent),
        "team": selectors.team(agent),
        "open_id": conversation.pk if conversation else None,
    }
    if conversation is not None:
        context.update(pane_context(conversation, agent=agent))
    return context
