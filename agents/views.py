"""The agent dashboard. Every view: logged in, an agent, and only conversations of their inboxes."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents import selectors, services, triage
from agents.analytics import (
    DEFAULT_PERIOD,
    DURATIONS,
    EARLIEST_DAY,
    LATEST_DAY,
    MAX_DAYS,
    PERIODS,
    Report,
    Scope,
    analytics_agents,
    analytics_inboxes,
    analytics_report,
    last_days,
    may_view_analytics,
    zone_named,
)
from agents.charts import bar_chart
from agents.models import Agent, CannedResponse
from agents.presence import availability_set
from agents.rendering import PANE_HISTORY, pane_context
from agents.search import message_search
from chat import attachments
from chat.models import Attachment, Conversation, Label
from chat.posting import posted
from chat.selectors import conversation_summary, message_page
from chat.services import ConversationEnded, conversation_end
from chat.views import handle_send, json_error, uploaded
from supportdesk.bidi import isolated


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


class AnalyticsForm(forms.Form):
    """The report's period and filters (GET). The choices are what the viewer may see."""

    period = forms.ChoiceField(
        label=_("Period"),
        choices=[(str(n), _("Last %(days)d days") % {"days": n}) for n in PERIODS]
        + [("custom", _("Custom dates"))],
    )
    # Dates the report can count in (see agents.analytics.EARLIEST_DAY): a 400 saying so, not
    # an overflow near year 9999 in the period's end, turned into UTC (a 500, issue 16).
    start = forms.DateField(
        label=_("From"),
        required=False,
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )
    end = forms.DateField(
        label=_("To"),
        required=False,
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )
    inbox = forms.TypedChoiceField(label=_("Inbox"), coerce=int, required=False, empty_value=None)
    agent = forms.TypedChoiceField(label=_("Agent"), coerce=int, required=False, empty_value=None)

    def __init__(self, data: Any, *, inboxes: list[Any], agents: list[Agent]) -> None:
        super().__init__(data)
        self.inboxes = {inbox.pk: inbox for inbox in inboxes}
        # Option texts hold no elements: names go between isolates (supportdesk.bidi).
        self.fields["inbox"].choices = [("", _("All inboxes"))] + [
            (inbox.pk, isolated(inbox.name)) for inbox in inboxes
        ]
        self.fields["agent"].choices = [("", _("All agents"))] + [
            (a.pk, isolated(a.display_name)) for a in agents
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            if {"start", "end"} & set(self.errors):  # say it where the export shows errors too
                raise ValidationError(
                    _("Dates must be between %(first)s and %(last)s.")
                    % {"first": EARLIEST_DAY.isoformat(), "last": LATEST_DAY.isoformat()}
                )
            return data
        if data["period"] == "custom":
            start, end = data.get("start"), data.get("end")
            if start is None or end is None:
                raise ValidationError(_("Choose both dates of a custom period."))
            if end < start:
                raise ValidationError(_("The period ends before it starts."))
            if (end - start).days + 1 > MAX_DAYS:
                raise ValidationError(
                    _("A period can be at most %(days)d days.") % {"days": MAX_DAYS}
                )
        return data

    def scope(self, viewer: Agent) -> Scope:
        """The scope of the valid form, limited to the viewer's inboxes."""
        data = self.cleaned_data
        inbox = self.inboxes.get(data["inbox"]) if data["inbox"] else None
        zone = zone_named(inbox.time_zone if inbox else settings.TIME_ZONE)
        if data["period"] == "custom":
            first_day, last_day = data["start"], data["end"]
        else:
            first_day, last_day = last_days(int(data["period"]), zone)
        if inbox is not None:
            inbox_ids: tuple[int, ...] | None = (inbox.pk,)
        else:
            inbox_ids = None if viewer.is_admin else tuple(self.inboxes)
        return Scope(
            first_day=first_day,
            last_day=last_day,
            zone=zone,
            inbox_ids=inbox_ids,
            agent_id=data["agent"],
        )


def _analytics_form(request: HttpRequest, agent: Agent) -> AnalyticsForm:
    """The bound form of the request, for a viewer who may see analytics (403 otherwise)."""
    if not may_view_analytics(agent=agent, user=request.user):
        # Shown on the 403 page (supportdesk.errors): what is missing, for the admin to give.
        raise PermissionDenied(
            _("Analytics needs the permission “Can view the analytics of their inboxes”.")
        )
    data = request.GET.copy()
    data.setdefault("period", str(DEFAULT_PERIOD))
    return AnalyticsForm(data, inboxes=analytics_inboxes(agent), agents=analytics_agents(agent))


@require_GET
@agent_required
def analytics(request: HttpRequest, agent: Agent) -> HttpResponse:
    """The analytics page: the figures of a period, as numbers, charts and tables."""
    form = _analytics_form(request, agent)
    if not form.is_valid():
        return render(request, "agents/analytics.html", {"form": form, "agent": agent}, status=400)
    report = analytics_report(scope=form.scope(agent))
    # The export links repeat the page's query: the form's data, the default period filled in.
    context = {"form": form, "agent": agent, "report": report, "query": form.data}
    return render(request, "agents/analytics.html", {**context, **_charts(report)})


def _charts(report: Report) -> dict[str, Any]:
    days = report.days
    return {
        "days_chart": bar_chart(
            [d["conversations"] for d in days],
            parts=[d["missed"] for d in days],
            labels=[d["day"].strftime("%d %b") for d in days],
            titles=[
                _("%(day)s: %(n)d conversations, %(missed)d missed")
                % {"day": d["day"].isoformat(), "n": d["conversations"], "missed": d["missed"]}
                for d in days
            ],
            max_labels=10,
            width=1100,  # about the width it is shown at: its labels keep their size
        ),
        "hours_chart": bar_chart(
            report.hours,
            labels=[f"{h:02d}" for h in range(24)],
            titles=[
                _("%(hour)02d:00 to %(hour)02d:59: %(n)d conversations") % {"hour": h, "n": n}
                for h, n in enumerate(report.hours)
            ],
            max_labels=12,
            width=540,
        ),
        "ratings_chart": bar_chart(
            report.summary["ratings"],
            labels=["★" * n for n in range(1, 6)],
            titles=[
                _("Rated %(stars)d: %(n)d") % {"stars": stars, "n": n}
                for stars, n in enumerate(report.summary["ratings"], start=1)
            ],
            width=540,
        ),
    }


CSV_ROWS = ("day", "agent", "inbox")
CSV_FIGURES = [
    "conversations", "answered", "missed",
    "first_response_avg", "first_response_median", "first_response_p90",
    "wait_avg", "wait_median", "wait_p90",
    "resolution_avg", "resolution_median", "resolution_p90",
    "rated", "rating_avg", "satisfied",
]  # fmt: skip


@require_GET
@agent_required
def analytics_export(request: HttpRequest, agent: Agent) -> HttpResponse:
    """The page's figures as CSV: a row per day, per agent or per inbox (`rows`). Durations in
    seconds; the same period and filters as the page."""
    form = _analytics_form(request, agent)
    rows = request.GET.get("rows", "day")
    if rows not in CSV_ROWS or not form.is_valid():
        errors = " ".join(str(e) for e in form.errors.get("__all__", [])) if form.errors else ""
        return HttpResponse(
            errors or "Bad period, filter or rows.", status=400, content_type="text/plain"
        )
    scope = form.scope(agent)
    report = analytics_report(scope=scope)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="analytics-{rows}-{scope.first_day}-{scope.last_day}.csv"'
    )
    writer = csv.writer(response)
    keys = {"day": ["day"], "agent": ["agent_id", "name"], "inbox": ["inbox_id", "name"]}[rows]
    seconds = [k for k in CSV_FIGURES if k.startswith(DURATIONS)]
    header = [f"{k}_s" if k in seconds else k for k in CSV_FIGURES]  # durations in seconds
    writer.writerow([*keys, *header, *(f"rating_{n}" for n in range(1, 6))])
    table = {"day": report.days, "agent": report.agents, "inbox": report.inboxes}[rows]
    for row in table:
        values = [_csv_cell(row[k]) for k in keys]  # type: ignore[literal-required]
        values += [_csv_number(row[k]) for k in CSV_FIGURES]  # type: ignore[literal-required]
        writer.writerow([*values, *row["ratings"]])
    return response


def _csv_number(value: float | int | None) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.2f}"


def _csv_cell(value: object) -> str:
    """A name as text a spreadsheet will not run: a leading =, +, - or @ starts a formula."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, date) else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@require_GET
@agent_required
def conversation_detail(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """The conversation pane; the whole dashboard when opened directly (a link, a reload)."""
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    at = _int(request.GET.get("at"))  # opened from a search hit: show that message
    if _is_partial(request):
        return render(
            request,
            "agents/dashboard.html#workspace",
            pane_context(conversation, agent=agent, at=at),
        )
    return render(
        request, "agents/dashboard.html", _page_context(agent, conversation=conversation, at=at)
    )


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
        send=lambda draft: posted(
            services.note_create(
                conversation=conversation,
                agent=agent,
                body=draft.text,
                client_id=draft.client_id,
                attachments=draft.attachments,
            )
        ),
        authorize=lambda: None,  # looked up above
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
    """The agent's reply over HTTP (the dashboard sends over its socket while that is open)."""
    return handle_send(
        request,
        viewer="agent",
        send=lambda draft: services.reply_post(agent=agent, conversation_id=pk, draft=draft),
        authorize=lambda: selectors.conversation_for_agent(agent=agent, pk=pk),
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


@require_POST
@agent_required
def conversation_reopen(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """An ended chat open again: with the agent it had, or in the queue (`to=queue`)."""
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    try:
        triage.conversation_reopen(
            conversation=conversation, by=agent, to_queue=request.POST.get("to") == "queue"
        )
    except (triage.NotEnded, triage.VisitorHasNewChat) as exc:
        return _pane_header(request, agent, conversation.pk, error=str(exc), status=409)
    return _pane_header(request, agent, conversation.pk)


@require_POST
@agent_required
def conversation_labels(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """Put a label of the chat's inbox on it (`on=1`) or take it off; a label of another inbox,
    or none, is a 404, as a conversation of another inbox is."""
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    try:
        triage.conversation_label_set(
            conversation=conversation,
            by=agent,
            label_id=_int(request.POST.get("label")),
            on=request.POST.get("on") == "1",
        )
    except Label.DoesNotExist:
        raise Http404("No such label") from None
    return _pane_header(request, agent, conversation.pk)


@require_POST
@agent_required
def conversation_snooze(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """Snooze an open chat: `for` is "reply" (until the visitor writes) or minutes
    (agents.triage.SNOOZE_CHOICES)."""
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    try:
        until = triage.snooze_until(request.POST.get("for", ""))
    except ValueError:
        return _pane_header(
            request, agent, pk, error=_("Choose how long to snooze the chat."), status=422
        )
    try:
        triage.conversation_snooze(conversation=conversation, by=agent, until=until)
    except ConversationEnded as exc:
        return _pane_header(request, agent, pk, error=str(exc), status=409)
    return _pane_header(request, agent, pk)


@require_POST
@agent_required
def conversation_unsnooze(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    triage.conversation_unsnooze(conversation=conversation, by=agent)
    return _pane_header(request, agent, pk)


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


def _page_context(
    agent: Agent, *, conversation: Conversation | None = None, at: int | None = None
) -> dict[str, Any]:
    """The whole dashboard; with `conversation` (already checked for this agent) open in it."""
    context: dict[str, Any] = {
        "agent": agent,
        "me": agent.pk,
        "lists": selectors.conversation_lists(agent=agent),
        "team": selectors.team(agent),
        "open_id": conversation.pk if conversation else None,
    }
    if conversation is not None:
        context.update(pane_context(conversation, agent=agent, at=at))
    return context


# Files (chat.attachments) ----------------------------------------------------------------------


@require_POST
@agent_required
def conversation_file_upload(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """The agent uploads one file for a reply or a note in a conversation they may see."""
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)
    return uploaded(
        request,
        lambda upload: attachments.attachment_upload(
            inbox=conversation.inbox, upload=upload, agent=agent
        ),
        viewer="agent",
    )


@require_POST
@agent_required
def file_discard(request: HttpRequest, agent: Agent, key: str) -> HttpResponse:
    """The agent removes an upload they have not sent."""
    if not attachments.attachment_discard(key=key, agent=agent):
        return json_error(404, "not_found", _("No such file waiting to be sent."))
    return HttpResponse(status=204)


@require_GET
@agent_required
def file_download(
    request: HttpRequest, agent: Agent, key: str, name: str, thumbnail: bool = False
) -> HttpResponse:
    """A file for an agent: their own upload not yet sent, or a file of a conversation of one
    of their inboxes (any, for an admin). Anything else is a 404."""

    def may_see(attachment: Attachment) -> bool:
        if attachment.message is None:
            return attachment.agent_id == agent.pk
        visible = selectors.conversations_for_agent(agent)
        return visible.filter(pk=attachment.message.conversation_id).exists()

    return attachments.served(key, may_see, thumbnail=thumbnail)
