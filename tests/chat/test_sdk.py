"""The JavaScript SDK's surface (docs/API.md, "JavaScript SDK"): what the embed script exposes as
`window.Supportdesk`, what supportdesk.d.ts types and what the documented snippet queues are the
same methods; and the embed as served is still the script the template holds."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import Inbox, Visitor
from chat.tokens import visitor_token

ROOT = Path(__file__).resolve().parent.parent.parent
EMBED = ROOT / "templates" / "chat" / "widget" / "embed.js"
TYPES = ROOT / "static" / "supportdesk" / "supportdesk.d.ts"
DOCS = ROOT / "docs" / "API.md"


def embed_methods() -> set[str]:
    """The functions of the object the embed assigns to window.Supportdesk."""
    source = EMBED.read_text()
    body = re.search(r"window\.Supportdesk = \{\n(.*?)\n  \};", source, re.DOTALL)
    assert body, "embed.js: `var sdk = window.Supportdesk = {...};` not found"
    return set(re.findall(r"^    (\w+): function\b", body.group(1), re.MULTILINE))


def typed_methods() -> set[str]:
    source = TYPES.read_text()
    body = re.search(r"export interface SupportdeskSDK \{(.*?)\n\}", source, re.DOTALL)
    assert body, "supportdesk.d.ts: `interface SupportdeskSDK` not found"
    return set(re.findall(r"^  (\w+)(?:<[^>]*>)?\(", body.group(1), re.MULTILINE))


def queued_methods() -> set[str]:
    """The names the snippet in docs/API.md queues before the script loads."""
    section = DOCS.read_text().split("## JavaScript SDK", 1)[1].split("\n## ", 1)[0]
    names = re.search(r'\}\)\(window, "([a-zA-Z ]+)"\);', section)
    assert names, "docs/API.md: the snippet's list of names not found"
    return set(names.group(1).split())


def test_the_types_name_exactly_the_methods_the_embed_exposes() -> None:
    exposed = embed_methods()
    assert exposed == {
        "open",
        "close",
        "toggle",
        "identify",
        "logout",
        "setAttributes",
        "on",
        "unreadCount",
    }
    assert typed_methods() == exposed
    types = TYPES.read_text()
    assert "declare global" in types
    assert "Supportdesk: SupportdeskSDK" in types


def test_the_documented_snippet_queues_every_method_but_the_one_that_answers_at_once() -> None:
    assert queued_methods() == embed_methods() - {"unreadCount"}


def test_the_types_are_served_with_the_static_files() -> None:
    from django.contrib.staticfiles import finders

    assert finders.find("supportdesk/supportdesk.d.ts") == str(TYPES)


def test_the_embed_is_served_without_indentation_and_still_parses(client: Client) -> None:
    """widget_script strips what only the reader of the template needs: the script stays the
    same (node parses it), smaller."""
    served = client.get(reverse("chat:widget_script")).content.decode()
    assert not re.search(r"^[ \t]", served, re.MULTILINE)
    assert "\n\n" not in served
    assert "window.Supportdesk = {" in served
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    check = subprocess.run(
        [node, "--check", "-"], input=served, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr


def post_attributes(client: Client, visitor: Visitor, body: object, token: str | None = None):
    return client.post(
        reverse("chat:widget_attributes", args=[visitor.inbox.public_key]),
        body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        headers={"X-Visitor-Token": visitor_token(visitor) if token is None else token},
    )


@pytest.mark.django_db
def test_set_attributes_merges_them_into_the_visitor_and_the_panel_shows_them(
    client: Client, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        answer = post_attributes(client, visitor, {"attributes": {"plan": "pro", "seats": 12}})
    assert answer.status_code == 204
    assert callbacks  # the dashboards showing this visitor refresh the panel
    assert (
        post_attributes(client, visitor, {"attributes": {"seats": None, "vip": True}}).status_code
        == 204
    )
    visitor.refresh_from_db()
    assert visitor.attributes == {"plan": "pro", "vip": True}


@pytest.mark.django_db
def test_set_attributes_refuses_with_the_reason_and_stores_nothing(
    client: Client, visitor: Visitor, inbox: Inbox
) -> None:
    too_large = post_attributes(client, visitor, {"attributes": {"notes": "x" * 5000}})
    assert too_large.status_code == 422
    assert too_large.json()["error"] == "too_large"
    nested = post_attributes(client, visitor, {"attributes": {"address": {"city": "Berlin"}}})
    assert (nested.status_code, nested.json()["error"]) == (422, "bad_value")
    for unreadable in ("not json", {"plan": "pro"}, ["plan"]):
        assert post_attributes(client, visitor, unreadable).status_code == 400
    huge = post_attributes(client, visitor, "{" + '"a": 1, ' * 5000 + '"attributes": {}}')
    assert huge.status_code == 413
    assert post_attributes(client, visitor, {"attributes": {}}, token="nope").status_code == 401
    visitor.refresh_from_db()
    assert visitor.attributes == {}
