"""Names and messages are shown inside bidi isolation (issue 16): a right-to-left override
(U+202E) in a visitor's name reversed the text after it on the same line ("… · Alice" read
backwards), which can disguise who a chat is from or what an agent is about to click.

The property, over every page and fragment that shows people's text: each occurrence of a
string a person typed is inside `<bdi>`, a block of its own with `dir="auto"`, or, where no
element may go (an `<option>`'s text), between U+2068 FIRST STRONG ISOLATE and U+2069 POP
DIRECTIONAL ISOLATE."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

from agents.models import CannedResponse
from agents.services import conversation_claim, note_create
from chat.models import Inbox, Visitor
from chat.services import conversation_end, conversation_rate, system_line, visitor_message_send
from chat.tokens import visitor_token
from supportdesk.bidi import isolated
from tests.conftest import make_agent

pytestmark = pytest.mark.django_db

RLO = "\u202e"
ISOLATED = re.compile(r'(<bdi>|dir="auto"[^>]*>|\u2068)$')
# Not shown as text: data attributes, which scripts read (they isolate what they show).
UNSHOWN = re.compile(r'data-[\w-]+="[^"]*$')


def people_text(tag: str) -> str:
    """A string a person typed, marked so that its occurrences can be found."""
    return f"{RLO}{tag}-typed"


def assert_isolated(html: str, *texts: str) -> None:
    """Every occurrence of each of `texts` in `html` (escaped as Django escapes) starts inside an
    isolating element or isolate characters."""
    found = 0
    for text in texts:
        for match in re.finditer(re.escape(text), html):
            found += 1
            before = html[max(0, match.start() - 200) : match.start()]
            if UNSHOWN.search(before):
                continue
            assert ISOLATED.search(before), f"{text!r} not isolated after: …{before[-120:]!r}"
    assert found, "none of the strings was shown: the test would pass vacuously"


@pytest.fixture
def world(inbox: Inbox) -> dict[str, object]:
    inbox.name = people_text("inbox")
    inbox.save(update_fields=["name"])
    agent = make_agent(username="rtl-agent", display_name=people_text("agent"), inbox=inbox)
    make_agent(username="rtl-colleague", display_name=people_text("colleague"), inbox=inbox)
    agent.user.user_permissions.add(Permission.objects.get(codename="view_analytics"))
    visitor = Visitor.objects.create(
        inbox=inbox, name=people_text("visitor"), email="ann@example.com"
    )
    sent = visitor_message_send(visitor=visitor, body=people_text("body"), client_id=uuid.uuid4())
    conversation = sent.message.conversation
    conversation_claim(conversation=conversation, agent=agent)
    note_create(
        conversation=conversation, agent=agent, body=people_text("note"), client_id=uuid.uuid4()
    )
    CannedResponse.objects.create(agent=agent, shortcut="rtl", body=people_text("saved"))
    ended = visitor_message_send(
        visitor=Visitor.objects.create(inbox=inbox, name=people_text("rater")),
        body="hello",
        client_id=uuid.uuid4(),
    ).message.conversation
    conversation_claim(conversation=ended, agent=agent)
    conversation_end(conversation=ended, by=agent)
    conversation_rate(
        visitor=ended.visitor, conversation_id=ended.pk, rating=1, comment=people_text("comment")
    )
    client = Client()
    client.force_login(agent.user)
    return {
        "agent": agent,
        "visitor": visitor,
        "conversation": conversation,
        "ended": ended,
        "client": client,
    }


def test_the_dashboard_isolates_every_name_and_message(world: dict, inbox: Inbox) -> None:
    client: Client = world["client"]
    pages = [
        client.get(reverse("agents:dashboard")),
        client.get(reverse("agents:conversation", args=[world["conversation"].pk])),
        client.get(reverse("agents:conversation", args=[world["ended"].pk])),
        client.get(reverse("agents:search"), {"q": "typed"}),
        client.get(reverse("agents:replies")),
        client.get(reverse("agents:analytics")),
    ]
    html = "".join(page.content.decode() for page in pages if page.status_code == 200)
    assert [page.status_code for page in pages] == [200] * len(pages)
    assert_isolated(
        html,
        *(people_text(tag) for tag in ["visitor", "agent", "colleague", "inbox", "body", "note"]),
        *(people_text(tag) for tag in ["saved", "rater", "comment"]),
    )


def test_the_widget_isolates_every_name_and_message(world: dict, inbox: Inbox) -> None:
    visitor: Visitor = world["visitor"]
    client = Client(headers={"X-Visitor-Token": visitor_token(visitor)})
    log = client.get(reverse("chat:widget_conversation", args=[inbox.public_key]))
    assert log.status_code == 200
    assert_isolated(log.content.decode(), people_text("agent"), people_text("body"))


def test_the_typing_line_isolates_the_name() -> None:
    html = render_to_string(
        "chat/_message.html#typing",
        {"conversation_id": 1, "name": people_text("typist"), "typing": True, "expires_ms": 1},
    )
    assert_isolated(html, people_text("typist"))


@pytest.mark.parametrize(
    ("text", "isolated_text"),
    [
        ("Alice", "Alice"),  # nothing to reorder: left as typed (searchable, comparable)
        ("José Ñúñez", "José Ñúñez"),
        (f"{RLO}ecilA", f"\u2068{RLO}ecilA\u2069"),
        ("דנה", "\u2068דנה\u2069"),  # a right-to-left name
        ("علي", "\u2068علي\u2069"),
        ("Bob\u2066", "\u2068Bob\u2066\u2069"),
    ],
)
def test_plain_text_is_isolated_when_it_may_reorder_its_surroundings(
    text: str, isolated_text: str
) -> None:
    assert isolated(text) == isolated_text


def test_a_system_line_isolates_a_name_that_may_reorder_it() -> None:
    line = system_line("%(name)s joined the chat.", name=f"{RLO}ecilA")
    assert line == f"\u2068{RLO}ecilA\u2069 joined the chat."
    assert system_line("%(name)s joined the chat.", name="Alice") == "Alice joined the chat."


@pytest.mark.parametrize(
    ("name", "letter"),
    [("alice", "A"), (f"{RLO}ecilA", "E"), ("\u0301ñu", "Ñ"), ("42 Wallaby", "4W"), ("…", "?")],
)
def test_an_avatar_shows_the_names_first_letter_past_marks_and_controls(
    name: str, letter: str
) -> None:
    html = render_to_string(
        "chat/_message.html#message",
        {
            "viewer": "visitor",
            "message": {
                "conversation_id": 1,
                "seq": 1,
                "sender_kind": "agent",
                "author_name": name,
                "body": "hi",
                "created_at": "2026-12-05T04:20:00+00:00",
            },
        },
    )
    # Initials on the name's colour (chat.faces): up to two letters, the first and last word's.
    assert re.search(
        rf'<span class="msg__avatar face face--c\d" aria-hidden="true">{re.escape(letter)}</span>',
        html,
    )
