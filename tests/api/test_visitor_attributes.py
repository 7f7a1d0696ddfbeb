"""chat.services.visitor_attributes_set: the custom attributes the REST API and the JavaScript
SDK's setAttributes store (merge, null deletes, limits, published to the inbox on commit)."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from chat.events import publish_now
from chat.groups import inbox_group
from chat.models import Visitor
from chat.services import visitor_attributes_set


def test_attributes_merge_and_null_deletes_a_key(visitor: Visitor) -> None:
    visitor_attributes_set(visitor=visitor, attributes={"plan": "pro", "seats": 12})
    visitor_attributes_set(visitor=visitor, attributes={"seats": None, "vip": True, "mrr": 9.5})
    visitor.refresh_from_db()
    assert visitor.attributes == {"plan": "pro", "vip": True, "mrr": 9.5}


@pytest.mark.parametrize(
    ("attributes", "code"),
    [
        ({"": 1}, "bad_key"),
        ({"k" * 51: 1}, "bad_key"),
        ({"list": [1, 2]}, "bad_value"),
        ({"nested": {"a": 1}}, "bad_value"),
        ({"nan": float("nan")}, "bad_value"),
        ({"nul": "a\x00b"}, "bad_value"),
        ({f"k{i}": i for i in range(51)}, "too_many"),
        ({"big": "x" * 4100}, "too_large"),
    ],
)
def test_attributes_past_a_limit_are_refused_and_nothing_is_stored(
    visitor: Visitor, attributes: dict, code: str
) -> None:
    visitor_attributes_set(visitor=visitor, attributes={"kept": "yes"})
    with pytest.raises(ValidationError) as refused:
        visitor_attributes_set(visitor=visitor, attributes=attributes)
    assert refused.value.code == code
    visitor.refresh_from_db()
    assert visitor.attributes == {"kept": "yes"}


def test_the_limit_counts_the_merged_attributes(visitor: Visitor) -> None:
    visitor_attributes_set(visitor=visitor, attributes={f"k{i}": i for i in range(50)})
    with pytest.raises(ValidationError) as refused:
        visitor_attributes_set(visitor=visitor, attributes={"one_more": 1})
    assert refused.value.code == "too_many"
    visitor_attributes_set(visitor=visitor, attributes={"k0": None, "one_more": 1})  # room made
    visitor.refresh_from_db()
    assert len(visitor.attributes) == 50
    assert "one_more" in visitor.attributes


def test_agents_beside_the_chat_are_told_after_commit(
    visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        visitor_attributes_set(visitor=visitor, attributes={"plan": "pro"})
    published = [c.args for c in callbacks if getattr(c, "func", None) is publish_now]
    assert published == [
        (
            [inbox_group(visitor.inbox_id)],
            {"type": "visitor.context", "visitor_id": visitor.pk, "inbox_id": visitor.inbox_id},
        )
    ]


def test_a_rolled_back_change_publishes_nothing(
    visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    def rolled_back() -> None:
        with transaction.atomic():
            visitor_attributes_set(visitor=visitor, attributes={"plan": "pro"})
            raise RuntimeError("rolled back")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        rolled_back()
    assert callbacks == []
    visitor.refresh_from_db()
    assert visitor.attributes == {}


@pytest.mark.parametrize("change", ["attributes", "profile"])
def test_the_pushed_panel_outranks_the_one_shown_so_the_dashboard_takes_it(
    visitor: Visitor, change: str
) -> None:
    """A dashboard keeps the panel with the newer `data-version` (realtime/apply.js): a change
    whose copy carried the same version as the one on screen was dropped there."""
    from agents.rendering import render_context
    from chat.services import conversation_start, visitor_profile_set

    conversation = conversation_start(visitor=visitor)
    version = re.compile(r'id="visitor-context-\d+" data-version="(\d+)"')
    shown = int(version.search(render_context(conversation)).group(1))
    if change == "attributes":
        visitor_attributes_set(visitor=visitor, attributes={"plan": "pro"})
    else:
        visitor_profile_set(visitor=visitor, email="ann@example.com", name="Ann")
    conversation.visitor = Visitor.objects.get(pk=visitor.pk)
    pushed = render_context(conversation)
    assert int(version.search(pushed).group(1)) > shown
    assert ("plan" in pushed) if change == "attributes" else ("ann@example.com" in pushed)
