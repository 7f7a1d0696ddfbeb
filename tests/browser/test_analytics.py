"""The analytics page in a real browser: reached from the dashboard, its charts drawn (under the
strict Content-Security-Policy, like every browser test), the period changed, a CSV taken."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from agents.models import Agent
from agents.services import agent_reply, conversation_claim
from chat.models import Conversation, Inbox
from chat.services import conversation_end, conversation_rate, visitor_create, visitor_message_send
from tests.browser.conftest import Desk
from tests.browser.pages import agent_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def answered_chat(inbox: Inbox, agent: Agent, *, days_ago: int, rating: int | None) -> None:
    """A chat answered after 90 s, ended after 10 min, `days_ago` days back."""
    visitor = visitor_create(inbox=inbox)
    conversation = visitor_message_send(
        visitor=visitor, body="Hello?", client_id=uuid.uuid4()
    ).message.conversation
    conversation = conversation_claim(conversation=conversation, agent=agent)
    agent_reply(conversation=conversation, agent=agent, body="Hi!", client_id=uuid.uuid4())
    conversation_end(conversation=conversation, by=agent)
    if rating:
        conversation_rate(visitor=visitor, conversation_id=conversation.pk, rating=rating)
    created = timezone.now() - timedelta(days=days_ago, hours=1)
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=created,
        first_assigned_at=created + timedelta(seconds=30),
        first_response_at=created + timedelta(seconds=90),
        ended_at=created + timedelta(minutes=10),
    )


@pytest.fixture
def history(inbox: Inbox, agent: Agent) -> None:
    """Three answered chats: today, yesterday and 12 days ago (made before the browser starts:
    the services publish, and Playwright's loop would be running in this thread)."""
    answered_chat(inbox, agent, days_ago=0, rating=5)
    answered_chat(inbox, agent, days_ago=1, rating=3)
    answered_chat(inbox, agent, days_ago=12, rating=None)


def test_an_admin_opens_analytics_from_the_dashboard_and_changes_the_period(
    desk: Desk, history: None, admin_agent: Agent, browser: Browser
) -> None:
    page = agent_page(browser, desk, "ada")
    page.set_viewport_size({"width": 1280, "height": 1100})
    page.get_by_role("button", name=re.compile("Ada .*account menu")).click()
    page.get_by_role("link", name="Analytics").click()

    expect(page.get_by_role("heading", name=re.compile("Conversations started"))).to_be_visible()
    days = page.locator("#chart-days rect.chart__all")
    expect(days).to_have_count(30)  # the default: the last 30 days
    expect(page.locator("#figure-conversations .card__value")).to_have_text("3")
    expect(page.locator("#figure-first-response .card__value")).to_have_text("1 min 30 s")
    expect(page.locator("#figure-csat .card__value")).to_contain_text("4.00")
    expect(page.locator("#chart-hours rect.chart__all")).to_have_count(24)
    expect(page.locator("#chart-ratings rect.chart__all")).to_have_count(5)
    expect(page.get_by_role("row", name=re.compile("^Alice 3 0"))).to_be_visible()
    screenshot(page, "analytics-30-days")

    page.get_by_label("Period", exact=True).select_option("7")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"period=7"))
    expect(days).to_have_count(7)
    expect(page.locator("#figure-conversations .card__value")).to_have_text("2")
    expect(page.get_by_label("Period", exact=True)).to_have_value("7")
    screenshot(page, "analytics-7-days")

    with page.expect_download() as download:
        page.get_by_role("link", name="per day").click()
    lines = download.value.path().read_text().splitlines()
    assert lines[0].startswith("day,conversations,answered,missed,first_response_avg_s")
    assert len(lines) == 1 + 7
    assert sum(int(line.split(",")[1]) for line in lines[1:]) == 2
