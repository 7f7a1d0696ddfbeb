"""AI assist on the dashboard: a suggested reply lands in the reply box and waits for Send; a
summary shows above the log; a slow endpoint leaves the dashboard working and then says so.

The endpoint is the fake OpenAI-compatible server of tests/agents/test_assist.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, expect

from agents.models import Agent
from chat.models import Inbox, Message
from tests.agents.test_assist import SUGGESTION, SUMMARY, Endpoint, fake_endpoint
from tests.browser.conftest import Desk
from tests.browser.pages import (
    bubbles,
    screenshot,
    send_as_visitor,
    visitor_writes_and_alice_opens,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with fake_endpoint() as fake:
        yield fake


def assisted_desk(desk_factory: Callable[..., Desk], endpoint: Endpoint, **overrides: str) -> Desk:
    """A desk of the test's own, asking the fake endpoint, waiting 3 s for it."""
    return desk_factory(
        SUPPORTDESK_AI_BASE_URL=endpoint.url,
        SUPPORTDESK_AI_MODEL="test-model",
        SUPPORTDESK_AI_TIMEOUT_SECONDS="3",
        **overrides,
    )


def test_a_suggestion_waits_in_the_reply_box_until_send_and_a_summary_shows_above_the_log(
    desk_factory: Callable[..., Desk],
    browser: Browser,
    inbox: Inbox,
    agent: Agent,
    endpoint: Endpoint,
) -> None:
    desk = assisted_desk(desk_factory, endpoint)
    _visitor, chat, alice = visitor_writes_and_alice_opens(
        browser, desk.url, "My parcel ZX-1 is late"
    )
    log = alice.get_by_role("log")
    expect(log).to_contain_text("My parcel ZX-1 is late")
    reply = alice.get_by_role("textbox", name="Reply")

    # Into an empty box: the suggestion as it is, nothing sent.
    alice.get_by_role("button", name="Suggest reply").click()
    expect(reply).to_have_value(SUGGESTION)
    expect(reply).to_be_focused()
    assert Message.objects.count() == 1  # only the visitor's
    assert bubbles(log) == ["My parcel ZX-1 is late"]
    screenshot(alice, "assist-suggestion")

    # Under a draft: the draft stays, the suggestion below it.
    reply.fill("Hello!")
    alice.get_by_role("button", name="Suggest reply").click()
    expect(reply).to_have_value(f"Hello!\n\n{SUGGESTION}")
    assert Message.objects.filter(sender_kind=Message.SenderKind.AGENT).count() == 0
    # Sent only when Alice presses Send, as she edited it.
    reply.fill(f"Hello! {SUGGESTION}")
    alice.get_by_role("button", name="Send").click()
    expect(chat.get_by_role("log")).to_contain_text(f"Hello! {SUGGESTION}")
    assert list(
        Message.objects.filter(sender_kind=Message.SenderKind.AGENT).values_list("body", flat=True)
    ) == [f"Hello! {SUGGESTION}"]

    # The summary: a panel above the log, never a message.
    endpoint.answers(SUMMARY)
    alice.get_by_role("button", name="Summarize").click()
    panel = alice.get_by_role("region", name=re.compile("^Summary"))
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("The customer's parcel ZX-1 is late.")
    expect(panel).to_contain_text("Nothing promised yet.")
    screenshot(alice, "assist-summary")
    alice.set_viewport_size({"width": 1024, "height": 700})  # the narrowest the bar is made for
    screenshot(alice, "assist-summary-1024")
    assert Message.objects.filter(body__contains="Nothing promised").count() == 0
    # Keyboard: Escape in the panel closes it, and focus goes back to its button.
    panel.get_by_role("button", name="Close the summary").focus()
    alice.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(alice.get_by_role("button", name="Summarize")).to_be_focused()
    assert len(endpoint.requests) == 3


def test_a_slow_endpoint_leaves_the_dashboard_working_then_says_so(
    desk_factory: Callable[..., Desk],
    browser: Browser,
    inbox: Inbox,
    agent: Agent,
    endpoint: Endpoint,
) -> None:
    # One HTTP thread: were the wait for the endpoint held in it, the claim below would queue.
    desk = assisted_desk(desk_factory, endpoint, SUPPORTDESK_HTTP_THREADS="1")
    endpoint.delay = 30  # longer than the desk waits (3 s)
    _visitor, chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "Anyone there?")
    log = alice.get_by_role("log")
    expect(log).to_contain_text("Anyone there?")
    suggest = alice.get_by_role("button", name="Suggest reply")
    suggest.click()
    busy = alice.get_by_role("button", name="Suggesting…")
    expect(busy).to_be_disabled()
    expect(alice.get_by_role("button", name="Summarize")).to_be_disabled()
    # Meanwhile: a claim over HTTP, and the visitor's next message live over the socket.
    alice.get_by_role("button", name="Claim").click()
    expect(alice.get_by_text("Active · Alice")).to_be_visible()
    send_as_visitor(chat, "Hello?")
    expect(log).to_contain_text("Hello?")
    expect(busy).to_be_visible()  # both came while the assistant was still thinking
    screenshot(alice, "assist-waiting")
    error = alice.get_by_role("alert").filter(has_text="The assistant")
    expect(error).to_have_text("The assistant did not answer within 3 s; try again.")
    expect(suggest).to_be_enabled()
    expect(alice.get_by_role("textbox", name="Reply")).to_have_value("")
    screenshot(alice, "assist-timeout")
