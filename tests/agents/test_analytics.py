"""Analytics: every figure on a desk whose times are set by hand, with the expected values worked
out by hand below (not by the code under test), on SQLite and on PostgreSQL; who may see what;
the CSV; the services that keep the times; the migration's backfill; the query count.

The desk (UTC; the period is 1-2 March 2026; times after the creation in seconds):

    chat  inbox  created (UTC)        agent    assigned  answered  ended   rating
    c1    A      03-01 09:00:00       Alice    +60       +120      +600    5
    c2    A      03-01 09:30:00       Alice    +180      +300      +1200   4
    c3    A      03-01 14:00:00       -        -         -         +900    -      missed
    c4    A      03-02 10:15:00       Bob      +30       +60       +1800   2
    c5    A      03-02 23:30:00       Bob      +240      +600      open    -
    c6    A      03-02 10:45:00       Bob      +120      -         +300    -      missed
    b1    B      03-01 12:00:00       Mallory  +90       +150      +400    3
    c7    A      02-28 23:59:59       (before the period)
    c8    A      03-03 00:00:00       (after it in UTC; on 2 March in New York, UTC-5)
"""

from __future__ import annotations

import csv
import importlib
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents.analytics import (
    EARLIEST_DAY,
    LATEST_DAY,
    Scope,
    analytics_report,
    percentile_cont,
)
from agents.generator import USERNAME_PREFIX
from agents.models import Agent
from agents.services import agent_reply, conversation_claim, conversation_transfer, note_create
from chat.models import Conversation, Inbox
from chat.services import conversation_end, conversation_rate, visitor_create, visitor_message_send
from tests.conftest import make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


UTC_ZONE = ZoneInfo("UTC")
MARCH_1, MARCH_2 = date(2026, 3, 1), date(2026, 3, 2)
PERIOD = {"period": "custom", "start": "2026-03-01", "end": "2026-03-02"}


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def chat(
    inbox: Inbox,
    created: datetime,
    *,
    agent: Agent | None = None,
    assigned: int | None = None,
    answered: int | None = None,
    ended: int | None = None,
    rating: int | None = None,
    closer: Agent,
) -> Conversation:
    """A conversation made through the services, then moved to the times of the table."""
    visitor = visitor_create(inbox=inbox)
    conversation = visitor_message_send(
        visitor=visitor, body="Hello?", client_id=uuid.uuid4()
    ).message.conversation
    if agent is not None:
        conversation = conversation_claim(conversation=conversation, agent=agent)
    if answered is not None:
        assert agent is not None
        agent_reply(conversation=conversation, agent=agent, body="Hi!", client_id=uuid.uuid4())
    if ended is not None:
        conversation_end(conversation=conversation, by=agent or closer)
    if rating is not None:
        conversation_rate(visitor=visitor, conversation_id=conversation.pk, rating=rating)

    def plus(seconds: int | None) -> datetime | None:
        return None if seconds is None else created + timedelta(seconds=seconds)

    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=created,
        first_assigned_at=plus(assigned),
        assigned_at=plus(assigned),
        first_response_at=plus(answered),
        ended_at=plus(ended),
    )
    return conversation


class Desk:
    def __init__(self) -> None:
        self.a = Inbox.objects.create(name="Acme support")
        self.b = Inbox.objects.create(name="Other company")
        self.alice = make_agent(username="alice", display_name="Alice", inbox=self.a)
        self.bob = make_agent(username="bob", display_name="Bob", inbox=self.a)
        self.mallory = make_agent(username="mallory", display_name="Mallory", inbox=self.b)
        self.admin = make_agent(username="ada", display_name="Ada", inbox=self.a)
        self.admin.inboxes.clear()
        self.admin.role = Agent.Role.ADMIN
        self.admin.save(update_fields=["role"])
        a, b, close = self.a, self.b, self.admin
        self.c1 = chat(a, at(1, 9), agent=self.alice, assigned=60, answered=120, ended=600,
                       rating=5, closer=close)  # fmt: skip
        self.c2 = chat(a, at(1, 9, 30), agent=self.alice, assigned=180, answered=300,
                       ended=1200, rating=4, closer=close)  # fmt: skip
        self.c3 = chat(a, at(1, 14), ended=900, closer=close)
        self.c4 = chat(a, at(2, 10, 15), agent=self.bob, assigned=30, answered=60, ended=1800,
                       rating=2, closer=close)  # fmt: skip
        self.c5 = chat(a, at(2, 23, 30), agent=self.bob, assigned=240, answered=600, closer=close)
        self.c6 = chat(a, at(2, 10, 45), agent=self.bob, assigned=120, ended=300, closer=close)
        self.b1 = chat(b, at(1, 12), agent=self.mallory, assigned=90, answered=150, ended=400,
                       rating=3, closer=close)  # fmt: skip
        self.c7 = chat(a, at(28, 23, 59, 59, month=2), closer=close)
        self.c8 = chat(a, at(3, 0), closer=close)


@pytest.fixture
def desk(db: None) -> Desk:
    return Desk()


def whole(desk: Desk, **scope: object) -> Scope:
    return Scope(first_day=MARCH_1, last_day=MARCH_2, zone=UTC_ZONE, **scope)  # type: ignore[arg-type]


# --- The figures ------------------------------------------------------------------------------


def test_percentile_cont_interpolates_like_postgresql() -> None:
    assert percentile_cont([], 0.5) is None
    assert percentile_cont([7], 0.9) == 7
    assert percentile_cont([3, 1, 2], 0.5) == 2
    assert percentile_cont([1, 2, 3, 4], 0.5) == 2.5
    # position 0.9 * 4 = 3.6: 300 + 0.6 * (600 - 300)
    assert percentile_cont([600, 60, 300, 150, 120], 0.9) == pytest.approx(480)


def test_counts_answered_and_missed(desk: Desk) -> None:
    s = analytics_report(scope=whole(desk)).summary
    assert s["conversations"] == 7  # c1-c6 and b1; c7 and c8 fall outside the period
    assert s["answered"] == 5  # c1, c2, c4, c5, b1
    assert s["missed"] == 2  # c3 (never assigned), c6 (assigned, never answered)


def test_first_response_time(desk: Desk) -> None:
    s = analytics_report(scope=whole(desk)).summary
    # c1 120, c2 300, c4 60, c5 600, b1 150: sorted 60 120 150 300 600
    assert s["first_response_avg"] == pytest.approx(1230 / 5)
    assert s["first_response_median"] == pytest.approx(150)
    assert s["first_response_p90"] == pytest.approx(300 + 0.6 * 300)


def test_wait_time_in_queue(desk: Desk) -> None:
    s = analytics_report(scope=whole(desk)).summary
    # c1 60, c2 180, c4 30, c5 240, c6 120, b1 90: sorted 30 60 90 120 180 240; c3 never left
    assert s["wait_avg"] == pytest.approx(720 / 6)
    assert s["wait_median"] == pytest.approx(90 + 0.5 * 30)  # position 2.5
    assert s["wait_p90"] == pytest.approx(180 + 0.5 * 60)  # position 4.5


def test_resolution_time(desk: Desk) -> None:
    s = analytics_report(scope=whole(desk)).summary
    # c1 600, c2 1200, c3 900, c4 1800, c6 300, b1 400 (c5 is open): 300 400 600 900 1200 1800
    assert s["resolution_avg"] == pytest.approx(5200 / 6)
    assert s["resolution_median"] == pytest.approx(600 + 0.5 * 300)
    assert s["resolution_p90"] == pytest.approx(1200 + 0.5 * 600)


def test_csat_average_and_distribution(desk: Desk) -> None:
    s = analytics_report(scope=whole(desk)).summary
    assert s["rated"] == 4  # 5, 4, 2, 3
    assert s["rating_avg"] == pytest.approx(3.5)
    assert s["ratings"] == [0, 1, 1, 1, 1]
    assert s["satisfied"] == 2


def test_per_day_and_per_hour_in_utc(desk: Desk) -> None:
    report = analytics_report(scope=whole(desk))
    assert [(d["day"], d["conversations"], d["missed"]) for d in report.days] == [
        (MARCH_1, 4, 1),  # c1 c2 c3 b1; c3 missed
        (MARCH_2, 3, 1),  # c4 c5 c6; c6 missed
    ]
    assert report.days[0]["first_response_median"] == pytest.approx(150)  # 120 150 300
    expected = [0] * 24
    expected[9], expected[14], expected[12], expected[10], expected[23] = 2, 1, 1, 2, 1
    assert report.hours == expected


def test_days_and_hours_follow_the_time_zone(desk: Desk) -> None:
    """In New York (UTC-5 in early March) the period runs 05:00 UTC to 05:00 UTC: c8 (00:00 UTC
    on 3 March) is on 2 March there, and every hour moves five back."""
    report = analytics_report(
        scope=Scope(
            first_day=MARCH_1,
            last_day=MARCH_2,
            zone=ZoneInfo("America/New_York"),
            inbox_ids=(desk.a.pk,),
        )
    )
    assert [d["conversations"] for d in report.days] == [3, 4]  # c1 c2 c3 | c4 c5 c6 c8
    expected = [0] * 24
    expected[4], expected[9], expected[5], expected[18], expected[19] = 2, 1, 2, 1, 1
    assert report.hours == expected


def test_per_agent_and_per_inbox(desk: Desk) -> None:
    report = analytics_report(scope=whole(desk))
    agents = {row["name"] or None: row for row in report.agents}
    assert [row["name"] for row in report.agents] == ["Alice", "Bob", "Mallory", ""]
    assert agents["Alice"]["conversations"] == 2
    assert agents["Alice"]["first_response_median"] == pytest.approx(210)  # 120, 300
    assert agents["Bob"]["conversations"] == 3
    assert agents["Bob"]["missed"] == 1  # c6
    assert agents["Bob"]["first_response_median"] == pytest.approx(330)  # 60, 600
    assert agents["Bob"]["first_response_p90"] == pytest.approx(60 + 0.9 * 540)
    assert agents["Bob"]["rating_avg"] == pytest.approx(2)
    assert agents[None]["agent_id"] is None
    assert (agents[None]["conversations"], agents[None]["missed"]) == (1, 1)  # c3
    inboxes = {row["name"]: row for row in report.inboxes}
    assert inboxes["Acme support"]["conversations"] == 6
    assert inboxes["Acme support"]["missed"] == 2
    assert inboxes["Acme support"]["rating_avg"] == pytest.approx((5 + 4 + 2) / 3)
    assert inboxes["Other company"]["conversations"] == 1
    assert inboxes["Other company"]["wait_median"] == pytest.approx(90)


def test_filter_by_agent(desk: Desk) -> None:
    s = analytics_report(scope=whole(desk, agent_id=desk.bob.pk)).summary
    assert (s["conversations"], s["answered"], s["missed"]) == (3, 2, 1)
    assert s["wait_avg"] == pytest.approx((30 + 240 + 120) / 3)


def test_an_empty_period_has_zeros_and_no_averages(desk: Desk) -> None:
    report = analytics_report(
        scope=Scope(first_day=date(2025, 1, 1), last_day=date(2025, 1, 3), zone=UTC_ZONE)
    )
    assert report.summary["conversations"] == 0
    assert report.summary["first_response_median"] is None
    assert report.summary["rating_avg"] is None
    assert [d["conversations"] for d in report.days] == [0, 0, 0]
    assert report.agents == []
    assert report.inboxes == []


# --- The services keep the times; the migration fills them in for the history -------------------


def test_first_response_is_the_first_agent_message_not_a_join_line_or_a_note(
    inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    visitor = visitor_create(inbox=inbox)
    conversation = visitor_message_send(
        visitor=visitor, body="Hi", client_id=uuid.uuid4()
    ).message.conversation
    conversation_claim(conversation=conversation, agent=agent)  # a join line
    note_create(conversation=conversation, agent=agent, body="VIP", client_id=uuid.uuid4())
    conversation.refresh_from_db()
    assert conversation.first_response_at is None
    first = agent_reply(
        conversation=conversation, agent=agent, body="Hello", client_id=uuid.uuid4()
    )
    agent_reply(conversation=conversation, agent=agent, body="Still there?", client_id=uuid.uuid4())
    conversation.refresh_from_db()
    assert conversation.first_response_at == first.message.created_at


def test_first_assignment_stays_when_a_transfer_moves_assigned_at(
    inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    visitor = visitor_create(inbox=inbox)
    conversation = visitor_message_send(
        visitor=visitor, body="Hi", client_id=uuid.uuid4()
    ).message.conversation
    claimed = conversation_claim(conversation=conversation, agent=agent)
    first = claimed.first_assigned_at
    assert first is not None
    assert first == claimed.assigned_at
    moved = conversation_transfer(conversation=conversation, by=agent, to=second_agent)
    assert moved.assigned_at >= first
    conversation.refresh_from_db()
    assert conversation.first_assigned_at == first


def test_the_migration_backfills_the_history(desk: Desk) -> None:
    """The times as the services stored them, wiped as before the migration, then filled in
    from the messages and the audit log."""
    c1 = Conversation.objects.get(pk=desk.c1.pk)
    reply = c1.messages.filter(sender_kind="agent").get()
    claim = c1.activities.get(verb="claim")  # the only one: Alice claimed, then replied
    Conversation.objects.filter(pk=c1.pk).update(assigned_at=claim.created_at + timedelta(hours=1))
    Conversation.objects.update(first_response_at=None, first_assigned_at=None)
    migration = importlib.import_module("chat.migrations.0014_conversation_analytics")
    migration.backfill(apps, connection.schema_editor())
    c1.refresh_from_db()
    assert c1.first_response_at == reply.created_at
    assert c1.first_assigned_at == claim.created_at  # the earlier claim, not the moved time
    c3 = Conversation.objects.get(pk=desk.c3.pk)
    assert (c3.first_response_at, c3.first_assigned_at) == (None, None)


# --- Who may see what ---------------------------------------------------------------------------


def grant(agent: Agent) -> Agent:
    agent.user.user_permissions.add(
        Permission.objects.get(codename="view_analytics", content_type__app_label="chat")
    )
    return agent


def client_of(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


def page(viewer: Agent, **params: str) -> tuple[int, str]:
    response = client_of(viewer).get(reverse("agents:analytics"), {**PERIOD, **params})
    return response.status_code, response.content.decode()


def card(html: str, figure: str) -> str:
    """The big number of a card of the page."""
    start = html.index(f'id="figure-{figure}"')
    value = html.index('class="card__value">', start) + len('class="card__value">')
    return html[value : html.index("<", value)]


def test_anonymous_is_sent_to_log_in(desk: Desk) -> None:
    for name in ("agents:analytics", "agents:analytics_export"):
        response = Client().get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_an_agent_without_the_permission_is_refused(desk: Desk) -> None:
    client = client_of(desk.alice)
    assert client.get(reverse("agents:analytics")).status_code == 403
    assert client.get(reverse("agents:analytics_export")).status_code == 403
    assert "agents/analytics/" not in client.get(reverse("agents:dashboard")).content.decode()


def test_an_admin_sees_every_inbox(desk: Desk) -> None:
    status, html = page(desk.admin)
    assert status == 200
    assert card(html, "conversations") == "7"
    assert card(html, "missed") == "2"
    assert card(html, "first-response") == "2 min 30 s"
    assert card(html, "csat") == "3.50"
    assert "Mallory" in html
    assert "Other company" in html
    assert 'href="/agents/analytics/"' in client_of(desk.admin).get("/agents/").content.decode()


def test_an_agent_with_the_permission_sees_only_their_inboxes(desk: Desk) -> None:
    status, html = page(grant(desk.alice))
    assert status == 200
    assert card(html, "conversations") == "6"  # inbox A only
    assert "Other company" not in html
    assert "Mallory" not in html
    assert "Bob" in html  # a colleague of the inbox: per-agent figures of the team
    # Asking for another inbox, or its agent, is a bad request, not a peek.
    assert page(desk.alice, inbox=str(desk.b.pk))[0] == 400
    assert page(desk.alice, agent=str(desk.mallory.pk))[0] == 400
    status, html = page(grant(desk.mallory))
    assert card(html, "conversations") == "1"
    assert "Alice" not in html
    assert "Acme support" not in html


def test_the_period_chooser(desk: Desk) -> None:
    assert page(desk.admin, period="7")[0] == 200
    assert page(desk.admin, period="365")[0] == 400
    assert page(desk.admin, end="2026-02-01")[0] == 400  # ends before it starts
    assert page(desk.admin, start="2025-01-01", end="2026-03-02")[0] == 400  # over 366 days
    assert page(desk.admin, start="")[0] == 400
    status, html = page(desk.admin, inbox=str(desk.a.pk))
    assert status == 200
    assert card(html, "conversations") == "6"
    assert Client().get("/agents/analytics/?period=30").status_code == 302


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("9999-12-30", "9999-12-31"),  # the day after the last one is past date.max
        ("9999-12-31", "9999-12-31"),
        ("0001-01-01", "0001-01-02"),  # before UTC in a zone east of it
        ("2999-12-31", "3000-01-01"),
    ],
)
def test_dates_at_the_ends_of_the_calendar_get_a_clear_answer_not_a_500(
    desk: Desk, start: str, end: str
) -> None:
    """Issue 16: the page and the CSV answered 500 near year 9999."""
    status, html = page(desk.admin, start=start, end=end)
    assert status == 400
    assert "Dates must be between 2000-01-01 and 2999-12-31." in html
    response = client_of(desk.admin).get(
        reverse("agents:analytics_export"), {**PERIOD, "rows": "day", "start": start, "end": end}
    )
    assert response.status_code == 400
    assert "Dates must be between" in response.content.decode()
    assert page(desk.admin, start="2999-12-30", end="2999-12-31")[0] == 200  # the last days


# Zones as far from UTC as there are (UTC+14, UTC-12), and a name that is not a zone.
FAR_ZONES = ("Pacific/Kiritimati", "Etc/GMT+12", "Not/AZone")


@pytest.mark.parametrize("zone", FAR_ZONES)
def test_the_date_bounds_hold_in_every_time_zone(desk: Desk, zone: str) -> None:
    """The first and the last day the form accepts count in any inbox's zone (their midnights
    turn into UTC without overflow), on the page and in the CSV; a year the form cannot read,
    or one past the bounds, is a 400 in that zone too, not a 500 (issue 16)."""
    far = Inbox.objects.create(name=f"Far {zone}", time_zone=zone)
    client = client_of(desk.admin)
    for start, end in (("2000-01-01", "2000-01-02"), ("2999-12-30", "2999-12-31")):
        query = {"period": "custom", "start": start, "end": end, "inbox": str(far.pk)}
        assert client.get(reverse("agents:analytics"), query).status_code == 200
        response = client.get(reverse("agents:analytics_export"), {**query, "rows": "day"})
        assert response.status_code == 200
        assert [row[0] for row in csv.reader(io.StringIO(response.content.decode()))][1:] == [
            start,
            end,
        ]
    for start, end in (("9999-12-31", "9999-12-31"), ("0001-01-01", "0001-01-01"),
                       ("2026-03-01", "10000-01-01"), ("0000-01-01", "2026-03-01")):  # fmt: skip
        query = {"period": "custom", "start": start, "end": end, "inbox": str(far.pk)}
        assert client.get(reverse("agents:analytics"), query).status_code == 400
        response = client.get(reverse("agents:analytics_export"), {**query, "rows": "day"})
        assert response.status_code == 400


@pytest.mark.parametrize(
    ("first_day", "last_day"),
    [
        (date(9999, 12, 31), date(9999, 12, 31)),  # the day after is past date.max
        (date.min, date(2026, 3, 1)),  # its midnight is before datetime.min in UTC+14
        (date(1999, 12, 31), MARCH_1),
        (MARCH_1, date(3000, 1, 1)),
    ],
)
def test_a_scope_the_report_cannot_count_is_refused_where_it_is_made(
    first_day: date, last_day: date
) -> None:
    """Issue 16, below the form: a Scope outside the bounds is a ValueError saying so when it
    is made, not an OverflowError deep in a query of whoever builds one next."""
    with pytest.raises(ValueError, match="between 2000-01-01 and 2999-12-31"):
        Scope(first_day=first_day, last_day=last_day, zone=ZoneInfo("Pacific/Kiritimati"))


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12"])
def test_a_scope_at_the_bounds_counts_in_far_zones(desk: Desk, zone: str) -> None:
    for first_day, last_day in ((EARLIEST_DAY, EARLIEST_DAY), (LATEST_DAY, LATEST_DAY)):
        scope = Scope(first_day=first_day, last_day=last_day, zone=ZoneInfo(zone))
        report = analytics_report(scope=scope)
        assert report.summary["conversations"] == 0
        assert [d["day"] for d in report.days] == [first_day]


def test_last_days_end_today_in_the_report_zone(desk: Desk) -> None:
    html = page(desk.admin, period="7", start="", end="")[1]
    assert 'id="chart-days"' in html
    assert html.count('class="chart__all"', html.index('id="chart-days"')) >= 7


# --- CSV ------------------------------------------------------------------------------------------


def export(agent: Agent, rows: str, **params: str) -> list[list[str]]:
    response = client_of(agent).get(
        reverse("agents:analytics_export"), {**PERIOD, "rows": rows, **params}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "analytics-" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_csv_per_day(desk: Desk) -> None:
    rows = export(desk.admin, "day")
    header = rows[0]
    assert header[:4] == ["day", "conversations", "answered", "missed"]
    assert header[-6:] == ["satisfied", "rating_1", "rating_2", "rating_3", "rating_4", "rating_5"]
    march_1 = dict(zip(header, rows[1], strict=True))
    assert march_1["day"] == "2026-03-01"
    assert (march_1["conversations"], march_1["answered"], march_1["missed"]) == ("4", "3", "1")
    assert march_1["first_response_median_s"] == "150.00"  # 120 150 300
    assert march_1["wait_avg_s"] == "110.00"  # (60 + 180 + 90) / 3
    assert march_1["resolution_median_s"] == "750.00"  # 400 600 900 1200
    assert march_1["rating_avg"] == "4.00"  # 5 4 3
    assert [march_1[f"rating_{n}"] for n in range(1, 6)] == ["0", "0", "1", "1", "1"]
    march_2 = dict(zip(header, rows[2], strict=True))
    assert (march_2["day"], march_2["conversations"], march_2["rated"]) == ("2026-03-02", "3", "1")
    assert len(rows) == 3


def test_csv_per_agent_and_per_inbox_keep_to_the_viewer(desk: Desk) -> None:
    rows = export(grant(desk.alice), "agent")
    assert [r[:3] for r in rows[1:]] == [
        [str(desk.alice.pk), "Alice", "2"],
        [str(desk.bob.pk), "Bob", "3"],
        ["", "", "1"],  # c3, unassigned
    ]
    assert [r[:3] for r in export(desk.alice, "inbox")[1:]] == [
        [str(desk.a.pk), "Acme support", "6"]
    ]


def test_csv_names_cannot_start_a_formula(desk: Desk) -> None:
    Agent.objects.filter(pk=desk.bob.pk).update(display_name="=HYPERLINK(1)")
    rows = export(desk.admin, "agent")
    assert "'=HYPERLINK(1)" in [r[1] for r in rows]


def test_csv_refuses_unknown_rows(desk: Desk) -> None:
    response = client_of(desk.admin).get(reverse("agents:analytics_export"), {"rows": "visitor"})
    assert response.status_code == 400


# --- Queries -------------------------------------------------------------------------------------


def generate(conversations: int, messages: int, *, append: bool = False) -> None:
    call_command(
        "generate_data",
        conversations=conversations,
        messages=messages,
        inboxes=3,
        agents=7,
        seed=7,
        append=append,
        stdout=StringIO(),
    )


def analytics_queries(agent: Agent) -> dict[str, int]:
    client = client_of(agent)
    counts = {}
    for name, url in (
        ("page", reverse("agents:analytics") + "?period=90"),
        ("csv", reverse("agents:analytics_export") + "?period=90&rows=agent"),
    ):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        counts[name] = len(captured.captured_queries)
    return counts


# Session, user with agent (one query: agents.auth), the viewer's inboxes and colleagues (the
# filter's choices), then the report: 7 aggregates (summary, per day, per hour, per agent, per
# inbox, per label, the calls), and on SQLite one more each for the percentiles of five of them.
# An agent's permission check adds two (their user's and their groups' permissions).
REPORT = {"postgresql": 7, "sqlite": 12}


@pytest.mark.parametrize("role", ["agent", "admin"])
def test_the_page_and_csv_cost_the_same_queries_with_ten_times_the_data(role: str) -> None:
    generate(3, 9)
    viewer = Agent.objects.filter(user__username__startswith=USERNAME_PREFIX, role=role).first()
    assert viewer is not None
    if role == "agent":
        grant(viewer)
    small = analytics_queries(viewer)
    generate(30, 900, append=True)
    assert Conversation.objects.count() == 33
    large = analytics_queries(viewer)
    assert large == small
    expected = 4 + REPORT[connection.vendor] + (2 if role == "agent" else 0)
    assert large == {"page": expected, "csv": expected}


def test_calls_are_counted_by_how_they_ended_with_their_talk_time(
    client: Client, inbox: Inbox, agent: Agent, visitor: Any
) -> None:
    from chat.calls import call_answer, call_decline, call_hang_up, call_start
    from chat.models import Call

    Inbox.objects.filter(pk=inbox.pk).update(calls_enabled=True)
    sent = visitor_message_send(visitor=visitor, body="hello", client_id=uuid.uuid4())
    conversation = conversation_claim(
        agent=agent, conversation=Conversation.objects.get(pk=sent.message.conversation_id)
    )
    conversation = Conversation.objects.select_related("inbox").get(pk=conversation.pk)
    for talked in (60, 180):
        call = call_start(agent=agent, conversation=conversation, kind="video")
        call_answer(visitor=visitor, call_id=call.pk)
        started = datetime.now(UTC) - timedelta(seconds=talked)
        Call.objects.filter(pk=call.pk).update(answered_at=started)
        call_hang_up(agent=agent, call_id=call.pk)
    call_decline(
        visitor=visitor, call_id=call_start(agent=agent, conversation=conversation, kind="voice").pk
    )
    call_hang_up(
        agent=agent, call_id=call_start(agent=agent, conversation=conversation, kind="voice").pk
    )
    today = datetime.now(UTC).date()
    figures = analytics_report(scope=Scope(first_day=today, last_day=today, zone=UTC_ZONE)).calls
    assert {k: figures[k] for k in ("calls", "answered", "declined", "missed")} == {
        "calls": 4,
        "answered": 2,
        "declined": 1,
        "missed": 1,
    }
    assert 239 <= (figures["duration_total"] or 0) <= 242
    assert 119 <= (figures["duration_avg"] or 0) <= 121
    # Another agent's calls are not theirs: the scope's agent filters calls too.
    other = Scope(first_day=today, last_day=today, zone=UTC_ZONE, agent_id=agent.pk + 1000)
    assert analytics_report(scope=other).calls["calls"] == 0
    admin = make_agent(username="boss", display_name="Boss", inbox=inbox)
    admin.role = Agent.Role.ADMIN
    admin.save(update_fields=["role"])
    client.force_login(admin.user)
    page = client.get(reverse("agents:analytics"), {"days": 7}).content.decode()
    assert 'id="figure-calls"' in page
    assert "2 answered" in page
