"""A desk with something to steal: visitor A (the attacker's own session), visitor B of the same
inbox, and a whole other inbox with its own visitor and agent. B's and the other inbox's data
carry marker strings that must never show up in an answer to the attacker."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from agents.models import Agent, CannedResponse
from agents.services import (
    agent_create,
    agent_reply,
    conversation_claim,
    note_create,
    saved_reply_create,
)
from chat.models import Conversation, Inbox, Visitor
from chat.services import (
    conversation_end,
    visitor_context_update,
    visitor_create,
    visitor_message_send,
    visitor_profile_set,
)

# What belongs to visitor B, and to the other inbox. Random-looking, so no generated input
# contains them by chance: if one shows up in an answer, it was read from the database.
MARKER_B = "qzB7wv-visitor-b-private"
MARKER_OTHER = "qzO9kx-other-inbox-private"
# A word both inboxes' messages contain: a search for it has something to find on both sides.
SHARED_WORD = "pineapple"


def make_agent(*, username: str, display_name: str, inbox: Inbox) -> Agent:
    """An agent whose user has no password (tests log in with force_login): hashing one costs
    a second here, for every test."""
    user = get_user_model().objects.create_user(username=username)
    return agent_create(user=user, display_name=display_name, inboxes=[inbox])


@dataclass(frozen=True)
class World:
    inbox: Inbox
    other_inbox: Inbox
    visitor: Visitor  # A: the attacker's own visitor
    visitor_b: Visitor  # same inbox, someone else
    stranger: Visitor  # a visitor of the other inbox
    agent: Agent  # the attacker's own agent (inbox)
    outsider: Agent  # an agent of the other inbox only
    a_open: int
    a_ended: int
    b_open: int
    b_ended: int
    foreign: int  # the other inbox's conversation
    foreign_reply: int  # the outsider's personal saved reply
    foreign_canned: int  # the other inbox's shared saved reply


def send(visitor: Visitor, body: str) -> Conversation:
    return visitor_message_send(
        visitor=visitor, body=body, client_id=uuid.uuid4()
    ).message.conversation


def ended_then_open(visitor: Visitor, agent: Agent, body: str) -> tuple[int, int]:
    """An ended conversation of `visitor` and a newer open one, both carrying `body`."""
    ended = send(visitor, body)
    conversation_end(conversation=ended, by=agent)
    return ended.pk, send(visitor, f"again: {body}").pk


@pytest.fixture
def world(db: None) -> World:
    inbox = Inbox.objects.create(name="Acme support", greeting="Hello from Acme!")
    other_inbox = Inbox.objects.create(name="Other company")
    agent = make_agent(username="alice", display_name="Alice", inbox=inbox)
    outsider = make_agent(username="mallory", display_name=f"Mal {MARKER_OTHER}", inbox=other_inbox)

    visitor = visitor_create(inbox=inbox)
    a_ended, a_open = ended_then_open(visitor, agent, f"hello from A, {SHARED_WORD}?")

    visitor_b = visitor_create(inbox=inbox)
    visitor_profile_set(visitor=visitor_b, email=f"b.{MARKER_B}@example.com", name=MARKER_B)
    visitor_context_update(
        visitor=visitor_b,
        context={"current_url": f"https://shop.example/{MARKER_B}", "page_title": MARKER_B},
    )
    b_ended, b_open = ended_then_open(visitor_b, agent, f"my card number is {MARKER_B}")

    stranger = visitor_create(inbox=other_inbox)
    visitor_profile_set(visitor=stranger, email=f"s.{MARKER_OTHER}@example.com", name=MARKER_OTHER)
    foreign = send(stranger, f"{SHARED_WORD} {MARKER_OTHER}")
    conversation_claim(conversation=foreign, agent=outsider)
    agent_reply(
        conversation=foreign, agent=outsider, body=f"reply {MARKER_OTHER}", client_id=uuid.uuid4()
    )
    note_create(
        conversation=foreign, agent=outsider, body=f"note {MARKER_OTHER}", client_id=uuid.uuid4()
    )
    foreign_reply = saved_reply_create(agent=outsider, shortcut="theirs", body=MARKER_OTHER)
    foreign_canned = CannedResponse.objects.create(
        inbox=other_inbox, shortcut="shared", body=MARKER_OTHER
    )
    return World(
        inbox=inbox,
        other_inbox=other_inbox,
        visitor=visitor,
        visitor_b=visitor_b,
        stranger=stranger,
        agent=agent,
        outsider=outsider,
        a_open=a_open,
        a_ended=a_ended,
        b_open=b_open,
        b_ended=b_ended,
        foreign=foreign.pk,
        foreign_reply=foreign_reply.pk,
        foreign_canned=foreign_canned.pk,
    )


def stored(*, visitors: list[Visitor], inboxes: list[Inbox]) -> dict[str, Any]:
    """What is stored for these visitors and inboxes: each conversation's state and message
    count, the visitors' profiles and context, the inboxes' saved replies. Compared before and
    after an attack: nothing may be lost or changed."""
    conversations = (
        Conversation.objects.filter(visitor__in=visitors)
        | Conversation.objects.filter(inbox__in=inboxes)
    ).annotate(messages_stored=Count("messages"))
    return {
        "conversations": sorted(
            conversations.values_list(
                "pk", "status", "assigned_agent_id", "last_seq", "messages_stored",
                "rating", "rating_comment", "visitor_read_seq", "agent_read_seq",
            )
        ),
        "visitors": sorted(
            Visitor.objects.filter(pk__in=[v.pk for v in visitors]).values_list(
                "pk", "name", "email", "current_url", "page_title", "referrer", "user_agent",
                "timezone", "language",
            )
        ),
        "saved_replies": sorted(
            CannedResponse.objects.filter(Q(inbox__in=inboxes) | Q(agent__inboxes__in=inboxes))
            .distinct()
            .values_list("pk", "shortcut", "body")
        ),
    }  # fmt: skip
