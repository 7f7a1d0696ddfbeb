"""The visitor context panel: the widget's report, user agents, safe page addresses."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from chat.models import Visitor
from chat.tokens import visitor_token
from chat.useragent import describe_user_agent
from tests.agents.helpers import chat, logged_in

pytestmark = pytest.mark.django_db


def test_the_widget_reports_where_the_visitor_is_and_agents_see_it(
    visitor: Visitor, agent: Agent
) -> None:
    conversation = chat(visitor)
    url = reverse("chat:widget_context", args=[visitor.inbox.public_key])
    headers = {"X-Visitor-Token": visitor_token(visitor)}
    ua = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    )
    first = {
        "current_url": "https://shop.example/pricing",
        "page_title": "Pricing",
        "referrer": "https://www.google.com/",
        "user_agent": ua,
        "timezone": "Europe/Berlin",
        "language": "de-DE",
        "unknown": "ignored",
    }
    assert Client().post(url, first, headers=headers).status_code == 204
    second = {"current_url": "https://shop.example/checkout" + "x" * 3000, "referrer": "later"}
    assert Client().post(url, second, headers=headers).status_code == 204
    visitor.refresh_from_db()
    assert visitor.current_url.startswith("https://shop.example/checkout")
    assert len(visitor.current_url) == 2000
    assert visitor.referrer == "https://www.google.com/"  # the first referrer is kept
    assert Client().post(url, first).status_code == 401  # no token, no write
    page = logged_in(agent).get(reverse("agents:conversation", args=[conversation.pk]))
    html = page.content.decode()
    assert "Chrome 131 on Windows" in html
    assert "Europe/Berlin" in html


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            "Safari 17 on macOS",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
            "Firefox 132 on Linux",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0.0.0 Mobile Safari/537.36 EdgA/130.0.0.0",
            "Edge 130 on Android",
        ),
        ("", ""),
        ("curl/8.0", "Unknown browser"),
    ],
)
def test_user_agents_are_described_briefly(ua: str, expected: str) -> None:
    assert describe_user_agent(ua) == expected


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(document.cookie)", "data:text/html,<script>1</script>", "//evil", "ftp://x"],
)
def test_a_page_address_that_is_not_a_web_link_is_never_stored(
    visitor: Visitor, agent: Agent, url: str
) -> None:
    """Agents click the visitor's page and referrer: only http(s) links get that far."""
    conversation = chat(visitor)
    Client().post(
        reverse("chat:widget_context", args=[visitor.inbox.public_key]),
        {"current_url": url, "referrer": url},
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    visitor.refresh_from_db()
    assert visitor.current_url == ""
    assert visitor.referrer == ""
    page = logged_in(agent).get(reverse("agents:conversation", args=[conversation.pk]))
    assert url.split(":")[0] + ":" not in page.content.decode().split('class="context"')[1]
