"""Analytics: the figures of the conversations started in a period, computed by the database.

Every figure is defined in docs/ANALYTICS.md; in short, for the conversations *created* in the
period (the visitor's first message creates one), of the inboxes in scope:

- first response time = first_response_at - created_at (the first message of an agent to the
  visitor; join lines and internal notes do not count), over the conversations that got one;
- wait time in queue = first_assigned_at - created_at, over the conversations that were assigned;
- resolution time = ended_at - created_at, over the ended ones;
- missed = ended with no agent message (the visitor left, or the chat was closed, unanswered);
- CSAT = the average rating (1-5) and the count of each rating, and the share of 4s and 5s.

Each duration is reported as average, median and 90th percentile (percentile_cont: linear
interpolation between the two nearest values). PostgreSQL computes all of them in one aggregate
query per grouping; SQLite has no percentile_cont, so there the percentiles come from one more
query per grouping that reads the durations (the embedded default serves small desks).

Per agent means the conversation's assigned agent (after a transfer, the one who took it over);
conversations nobody was assigned to make an "Unassigned" row. Days and hours are those of the
report's time zone: the chosen inbox's, or the server's (TIME_ZONE) for several inboxes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone

from agents.models import Agent
from agents.selectors import team_members
from chat.models import Call, Conversation, Inbox

PERMISSION = "chat.view_analytics"
PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
MAX_DAYS = 366
DURATIONS = ("first_response", "wait", "resolution")
# The days a report can count in. Its end is the midnight after its last day in the report's
# zone, sent to the database in UTC: near date.max (or date.min, east of UTC) that arithmetic
# overflowed, a 500 for a request's dates (issue 16). Centuries of margin keep every zone safe.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2999, 12, 31)
PERCENTILES = {"median": 0.5, "p90": 0.9}


def may_view_analytics(*, agent: Agent, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Admins see every inbox's analytics; an agent needs the `chat.view_analytics` permission
    (given in the Django admin, to the user or a group) and then sees their inboxes'."""
    return agent.is_admin or user.has_perm(PERMISSION)


def analytics_inboxes(agent: Agent) -> list[Inbox]:
    """The inboxes whose figures `agent` may see (every one, for an admin)."""
    return list(agent.visible_inboxes().order_by("name", "pk"))


def analytics_agents(agent: Agent) -> list[Agent]:
    """The agents `agent` may filter by: those who share an inbox with them (all, for an admin)."""
    return list(team_members(agent).order_by("display_name", "pk"))


def zone_named(name: str) -> ZoneInfo:
    """The time zone, or the server's if the name is not one (an inbox's field is free text)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class Scope:
    """What a report covers: conversations created from the start of `first_day` to the end of
    `last_day` in `zone`, in `inbox_ids` (None: every inbox), assigned to `agent_id` if given."""

    first_day: date
    last_day: date
    zone: ZoneInfo
    inbox_ids: tuple[int, ...] | None = None
    agent_id: int | None = None

    def __post_init__(self) -> None:
        """Refuse days outside the bounds here, with a message, rather than as an OverflowError
        in a query later; the form checks the same bounds, so a request gets a 400."""
        for day in (self.first_day, self.last_day):
            if not EARLIEST_DAY <= day <= LATEST_DAY:
                raise ValueError(
                    f"A report's days must be between {EARLIEST_DAY.isoformat()} and "
                    f"{LATEST_DAY.isoformat()}, not {day.isoformat()}."
                )

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min, tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.last_day + timedelta(days=1), time.min, tzinfo=self.zone)

    @property
    def days(self) -> list[date]:
        return [
            self.first_day + timedelta(days=n)
            for n in range((self.last_day - self.first_day).days + 1)
        ]


def last_days(n: int, zone: ZoneInfo) -> tuple[date, date]:
    """The `n` calendar days that end today in `zone`, today included."""
    today = timezone.localdate(timezone=zone)
    return today - timedelta(days=n - 1), today


class Figures(TypedDict):
    conversations: int
    answered: int
    missed: int
    first_response_avg: float | None  # seconds, like every duration here
    first_response_median: float | None
    first_response_p90: float | None
    wait_avg: float | None
    wait_median: float | None
    wait_p90: float | None
    resolution_avg: float | None
    resolution_median: float | None
    resolution_p90: float | None
    rated: int
    rating_avg: float | None
    satisfied: int  # rated 4 or 5
    ratings: list[int]  # how many of each rating, 1 to 5


class DayRow(Figures):
    day: date


class AgentRow(Figures):
    agent_id: int | None  # None: conversations nobody was assigned
    name: str


class InboxRow(Figures):
    inbox_id: int
    name: str


class LabelRow(Figures):
    """The conversations that carry a label (a chat with two labels counts under each)."""

    label_id: int
    name: str
    inbox_name: str


class CallFigures(TypedDict):
    """The calls (chat.calls) rung in the period, in the scope's inboxes, by its agent if one:
    how many, how they ended, and how long the answered ones lasted (seconds)."""

    calls: int
    answered: int
    declined: int
    missed: int  # not answered in time, or cancelled by the agent before the answer
    duration_total: float | None
    duration_avg: float | None


@dataclass
class Report:
    scope: Scope
    summary: Figures
    days: list[DayRow]
    hours: list[int]  # conversations started in each hour of the day, 0 to 23
    agents: list[AgentRow]
    inboxes: list[InboxRow]
    labels: list[LabelRow]
    calls: CallFigures


class PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression); NULLs are left
    out, as by every aggregate."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, *, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be within 0 and 1")
        super().__init__(expression, fraction=float(fraction), **extra)


def _between(end: str, start: str) -> ExpressionWrapper:
    """`end - start`, NULL where either is."""
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


def duration_expressions() -> dict[str, ExpressionWrapper]:
    return {
        "first_response": _between("first_response_at", "created_at"),
        "wait": _between("first_assigned_at", "created_at"),
        "resolution": _between("ended_at", "created_at"),
    }


def _aggregates() -> dict[str, Any]:
    ended = Q(status=Conversation.Status.ENDED)
    aggregates: dict[str, Any] = {
        "conversations": Count("pk"),
        "answered": Count("pk", filter=Q(first_response_at__isnull=False)),
        "missed": Count("pk", filter=ended & Q(first_response_at__isnull=True)),
        "rated": Count("rating"),
        "rating_avg": Avg("rating"),
        "satisfied": Count("pk", filter=Q(rating__gte=4)),
        **{f"rating_{n}": Count("pk", filter=Q(rating=n)) for n in range(1, 6)},
    }
    for name, expression in duration_expressions().items():
        aggregates[f"{name}_avg"] = Avg(expression)
        if connection.vendor == "postgresql":
            for label, fraction in PERCENTILES.items():
                aggregates[f"{name}_{label}"] = PercentileCont(expression, fraction=fraction)
    return aggregates


def percentile_cont(values: Sequence[float], fraction: float) -> float | None:
    """What PostgreSQL's percentile_cont gives: the value at position fraction * (n - 1) of the
    sorted values, interpolated linearly between its two neighbours."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _seconds(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _figures(row: dict[str, Any]) -> Figures:
    """A row of `_aggregates()` as Figures: durations in seconds, the ratings as a list."""
    figures: dict[str, Any] = {
        "conversations": row["conversations"],
        "answered": row["answered"],
        "missed": row["missed"],
        "rated": row["rated"],
        "rating_avg": float(row["rating_avg"]) if row["rating_avg"] is not None else None,
        "satisfied": row["satisfied"],
        "ratings": [row[f"rating_{n}"] for n in range(1, 6)],
    }
    for name in DURATIONS:
        for suffix in ("avg", *PERCENTILES):
            figures[f"{name}_{suffix}"] = _seconds(row.get(f"{name}_{suffix}"))
    return figures  # type: ignore[return-value]


def conversations_in(scope: Scope) -> QuerySet[Conversation]:
    """The conversations of the scope, through the (created_at) or (inbox, created_at) index."""
    queryset = Conversation.objects.filter(created_at__gte=scope.start, created_at__lt=scope.end)
    if scope.inbox_ids is not None:
        queryset = queryset.filter(inbox_id__in=scope.inbox_ids)
    if scope.agent_id is not None:
        queryset = queryset.filter(assigned_agent_id=scope.agent_id)
    return queryset.order_by()  # no default ordering in the GROUP BY


def _grouped(queryset: QuerySet[Conversation], key: str, *extra: str) -> list[dict[str, Any]]:
    """Figures per value of `key` (an annotation or a column), with `extra` columns of it; on
    SQLite the percentiles from one more query (see the module's docstring)."""
    rows = list(queryset.values(key, *extra).annotate(**_aggregates()).order_by(key))
    if connection.vendor != "postgresql":
        _add_percentiles(queryset, key, rows)
    return rows


def _add_percentiles(
    queryset: QuerySet[Conversation], key: str | None, rows: list[dict[str, Any]]
) -> None:
    durations = duration_expressions()
    values: dict[Any, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    columns = [key] if key else []
    for row in queryset.values_list(*columns, *durations.values()):
        group = row[0] if key else None
        for name, value in zip(durations, row[len(columns) :], strict=True):
            if value is not None:
                values[group][name].append(value.total_seconds())
    for row in rows:
        group = values[row[key] if key else None]
        for name in durations:
            for label, fraction in PERCENTILES.items():
                row[f"{name}_{label}"] = percentile_cont(group[name], fraction)


def analytics_report(*, scope: Scope) -> Report:
    """Every figure of the scope: the whole, per day, per hour of the day, per agent, per inbox
    and per label. A fixed number of aggregate queries (6 on PostgreSQL, 11 on SQLite), whatever
    the data holds: no conversation passes through Python on PostgreSQL."""
    queryset = conversations_in(scope)

    summary = queryset.aggregate(**_aggregates())
    if connection.vendor != "postgresql":
        _add_percentiles(queryset, None, [summary])

    by_day = {
        row["day"]: _figures(row)
        for row in _grouped(
            queryset.annotate(day=TruncDate("created_at", tzinfo=scope.zone)), "day"
        )
    }
    empty = _figures(Conversation.objects.none().aggregate(**_aggregates()))
    days: list[DayRow] = [{"day": day, **by_day.get(day, empty)} for day in scope.days]  # type: ignore[typeddict-item]

    hours = [0] * 24
    per_hour = (
        queryset.annotate(hour=ExtractHour("created_at", tzinfo=scope.zone))
        .values("hour")
        .annotate(n=Count("pk"))
    )
    for row in per_hour:
        hours[row["hour"]] = row["n"]

    agents: list[AgentRow] = [
        {
            "agent_id": row["assigned_agent_id"],
            "name": row["assigned_agent__display_name"] or "",
            **_figures(row),
        }  # type: ignore[typeddict-item]
        for row in _grouped(queryset, "assigned_agent_id", "assigned_agent__display_name")
    ]
    agents.sort(key=lambda r: (r["agent_id"] is None, r["name"].casefold(), r["agent_id"] or 0))

    inboxes: list[InboxRow] = [
        {"inbox_id": row["inbox_id"], "name": row["inbox__name"], **_figures(row)}  # type: ignore[typeddict-item]
        for row in _grouped(queryset, "inbox_id", "inbox__name")
    ]
    inboxes.sort(key=lambda r: (r["name"].casefold(), r["inbox_id"]))

    labelled = queryset.filter(labels__isnull=False)
    labels: list[LabelRow] = [
        {
            "label_id": row["labels"],
            "name": row["labels__name"],
            "inbox_name": row["labels__inbox__name"],
            **_figures(row),
        }  # type: ignore[typeddict-item]
        for row in _grouped(labelled, "labels", "labels__name", "labels__inbox__name")
    ]
    labels.sort(key=lambda r: (r["name"].casefold(), r["inbox_name"].casefold(), r["label_id"]))

    return Report(
        scope=scope,
        summary=_figures(summary),
        days=days,
        hours=hours,
        agents=agents,
        inboxes=inboxes,
        labels=labels,
        calls=call_figures(scope),
    )


def call_figures(scope: Scope) -> CallFigures:
    """The calls of the scope, in one aggregate query (docs/ANALYTICS.md, "Calls"). A call
    counts in the period it rang in, whenever its conversation started."""
    calls = Call.objects.filter(created_at__gte=scope.start, created_at__lt=scope.end)
    if scope.inbox_ids is not None:
        calls = calls.filter(conversation__inbox_id__in=scope.inbox_ids)
    if scope.agent_id is not None:
        calls = calls.filter(agent_id=scope.agent_id)
    talked = ExpressionWrapper(F("ended_at") - F("answered_at"), output_field=DurationField())
    answered = Q(answered_at__isnull=False)
    row = calls.order_by().aggregate(
        calls=Count("pk"),
        answered=Count("pk", filter=answered),
        declined=Count("pk", filter=Q(status=Call.Status.DECLINED)),
        missed=Count(
            "pk",
            filter=Q(status=Call.Status.MISSED)
            | Q(status=Call.Status.ENDED, answered_at__isnull=True),
        ),
        duration_total=Sum(talked, filter=answered & Q(ended_at__isnull=False)),
        duration_avg=Avg(talked, filter=answered & Q(ended_at__isnull=False)),
    )
    return {
        "calls": row["calls"],
        "answered": row["answered"],
        "declined": row["declined"],
        "missed": row["missed"],
        "duration_total": _seconds(row["duration_total"]),
        "duration_avg": _seconds(row["duration_avg"]),
    }
