"""Property-based attacks on the HTTP endpoints: the widget API (with a real visitor token) and
every dashboard POST (with a logged-in agent), fed malformed, oversized, wrongly typed and
forged requests.

Properties, for every example: no 5xx; the widget API's errors have the JSON shape
{"error", "message"} (the email form's documented 422 is HTML); nothing of visitor B or of the
other inbox appears in an answer (marker strings planted in their data); nothing stored for them
changes.

Examples per test, 860 in all (the file takes about 25 s on these 2 cores, 35 s while other
work loads them):
- test_widget_endpoints_take_any_form_body: 100
- test_widget_endpoints_take_any_raw_body_and_content_type: 80
- test_forged_and_tampered_tokens_get_401_and_change_nothing: 100
- test_widget_keys_that_are_not_the_tokens_inbox_are_refused: 60
- test_rating_someone_elses_conversation_is_not_found: 60
- test_dashboard_posts_take_any_form_body: 100
- test_dashboard_posts_take_any_raw_body_and_content_type: 60
- test_dashboard_actions_on_ids_outside_the_agents_inboxes_are_not_found: 80
- test_dashboard_posts_without_the_csrf_token_are_refused: 40
- test_search_finds_only_the_agents_inboxes: 60
- test_login_forms_take_any_name_and_password: 60
- test_analytics_take_any_query: 60
plus test_search_finds_the_agents_own_messages_but_not_the_other_inboxs (one case: the search
property above is not vacuous).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core import signing
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from agents.models import CannedResponse
from chat.models import Visitor
from chat.tokens import SALT, visitor_token
from tests.security.conftest import MARKER_B, MARKER_OTHER, SHARED_WORD, World, stored
from tests.security.strategies import (
    NASTY,
    foreign_keys,
    hostile,
    hostile_string,
    integer_strings,
    json_values,
    path_segments,
    text,
)

pytestmark = pytest.mark.django_db


WIDGET_FIELDS = [
    "body", "client_id", "rating", "comment", "email", "name", "current_url", "page_title",
    "referrer", "user_agent", "timezone", "language",
    "user_id", "timestamp", "signature",  # a signed-in user's identity (widget_session)
]  # fmt: skip
DASHBOARD_FIELDS = ["body", "client_id", "to", "note", "availability", "shortcut", "q"]

# Wrong content types, and right ones with a wrong charset, boundary or body.
CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "text/html",
    "application/octet-stream",
    "application/xml",
    "",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/x-www-form-urlencoded; charset=utf-16",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=xyz",
    "multipart/form-data; boundary=xyz; charset=utf-16",
    "multipart/form-data; boundary=xyz; charset=rot13",
    "multipart/form-data; boundary=xyz; charset=base64",
    "multipart/form-data; boundary=xyz; charset=idna",
    "multipart/form-data; boundary=xyz; charset=no-such-charset",
]


def form_bodies(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Form fields the endpoint knows and ones it does not, each with one value or several."""
    names = st.one_of(st.sampled_from(fields), text)
    values = st.one_of(hostile_string, st.lists(hostile_string, min_size=2, max_size=3))
    return st.dictionaries(names, values, max_size=5)


@st.composite
def multipart_bodies(draw: st.DrawFn) -> bytes:
    """A multipart body for boundary "xyz": well formed, cut short, or with broken headers."""
    parts = []
    for name, value in draw(
        st.dictionaries(st.sampled_from(WIDGET_FIELDS + DASHBOARD_FIELDS), text, max_size=3)
    ).items():
        parts.append(f'--xyz\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n')
    body = ("".join(parts) + "--xyz--\r\n").encode()
    return draw(
        st.sampled_from(
            [
                body,
                body[: len(body) // 2],
                b"--xyz\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--xyz--\r\n",
                b"--xyz\r\nContent-Type: text/plain; charset=rot13\r\n"
                b'Content-Disposition: form-data; name="body"\r\n\r\nuryyb\r\n--xyz--\r\n',
                b'--xyz\r\nContent-Disposition: form-data; name="body"; filename="x.txt"\r\n'
                b"Content-Transfer-Encoding: base64\r\n\r\n!!not base64!!\r\n--xyz--\r\n",
            ]
        )
    )


raw_bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=2_000),
    hostile_string.map(lambda value: value.encode()),
)

# (content type, body): anything under any type, and multipart bodies under multipart types
# with a good or a bad charset (drawn apart, or they would rarely meet).
raw_requests = st.one_of(
    st.tuples(st.sampled_from(CONTENT_TYPES), raw_bodies),
    st.tuples(
        st.sampled_from([t for t in CONTENT_TYPES if "boundary=xyz" in t]), multipart_bodies()
    ),
)


def encoded(form: dict[str, Any], as_multipart: bool) -> dict[str, Any]:
    """Client.post keyword arguments for a form body, multipart or urlencoded."""
    if as_multipart:
        return {"data": form}
    return {
        "data": urlencode(form, doseq=True),
        "content_type": "application/x-www-form-urlencoded",
    }


def assert_no_leak(response: HttpResponse, *markers: str) -> None:
    content = response.content.decode("utf-8", errors="replace")
    for marker in markers:
        assert marker not in content
        assert all(marker not in str(value) for value in response.headers.values())


def assert_widget_answer(response: HttpResponse, endpoint: str) -> None:
    assert response.status_code < 500, response.content[:500]
    assert_no_leak(response, MARKER_B, MARKER_OTHER)
    if response.status_code < 400 or (endpoint == "widget_email" and response.status_code == 422):
        return
    assert response["Content-Type"] == "application/json", response.content[:500]
    error = response.json()
    assert set(error) == {"error", "message"}
    assert isinstance(error["error"], str)
    assert isinstance(error["message"], str)
    assert error["error"]
    assert error["message"]


# --- The widget API ------------------------------------------------------------------------

WIDGET_ENDPOINTS = [
    "widget_session",
    "widget_conversation",
    "widget_send",
    "widget_context",
    "widget_email",
    "widget_profile",
    "widget_rate",
]


def widget_url(world: World, endpoint: str, conversation: int | str | None = None) -> str:
    if endpoint == "widget_rate":
        return f"/widget/{world.inbox.public_key}/conversations/{quote(str(conversation), safe='')}/rating"
    return reverse(f"chat:{endpoint}", args=[world.inbox.public_key])


def bystanders(world: World) -> dict[str, Any]:
    """What visitor A must not be able to change: B's and the other inbox's data."""
    return stored(visitors=[world.visitor_b, world.stranger], inboxes=[world.other_inbox])


@hostile(100)
@given(
    endpoint=st.sampled_from(WIDGET_ENDPOINTS),
    form=form_bodies(WIDGET_FIELDS),
    as_multipart=st.booleans(),
    rated=st.sampled_from(["a_ended", "a_open"]),
)
def test_widget_endpoints_take_any_form_body(
    world: World, endpoint: str, form: dict[str, Any], as_multipart: bool, rated: str
) -> None:
    before = bystanders(world)
    client = Client(headers={"X-Visitor-Token": visitor_token(world.visitor)})
    url = widget_url(world, endpoint, getattr(world, rated))
    if endpoint == "widget_conversation":
        response = client.get(url, form)
    else:
        response = client.post(url, **encoded(form, as_multipart))
    assert_widget_answer(response, endpoint)
    assert bystanders(world) == before


@hostile(80)
@given(
    endpoint=st.sampled_from(WIDGET_ENDPOINTS),
    request=raw_requests,
)
def test_widget_endpoints_take_any_raw_body_and_content_type(
    world: World, endpoint: str, request: tuple[str, bytes]
) -> None:
    content_type, body = request
    before = bystanders(world)
    client = Client(headers={"X-Visitor-Token": visitor_token(world.visitor)})
    method = "GET" if endpoint == "widget_conversation" else "POST"
    response = client.generic(
        method, widget_url(world, endpoint, world.a_ended), data=body, content_type=content_type
    )
    assert_widget_answer(response, endpoint)
    assert bystanders(world) == before


class PastSigner(signing.TimestampSigner):
    """Signs as the desk did `seconds_ago`: a genuine token, but expired."""

    def __init__(self, *, seconds_ago: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds_ago = seconds_ago

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) - self.seconds_ago)


TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:."


@st.composite
def forged_tokens(draw: st.DrawFn, world: World) -> str:
    """A token that must not work for visitor A's inbox: tampered, expired, another inbox's,
    signed with another key, or carrying claims the desk never writes."""
    genuine = visitor_token(world.visitor)
    kind = draw(
        st.sampled_from(
            ["flip", "cut", "grow", "other_inbox", "expired", "other_key", "odd_claims", "text"]
        )
    )
    if kind == "flip":
        at = draw(st.integers(0, len(genuine) - 1))
        char = draw(st.sampled_from(TOKEN_CHARS).filter(lambda c: c != genuine[at]))
        return genuine[:at] + char + genuine[at + 1 :]
    if kind == "cut":
        return genuine[: draw(st.integers(0, len(genuine) - 1))]
    if kind == "grow":
        return genuine + draw(st.text(TOKEN_CHARS, min_size=1, max_size=5))
    if kind == "other_inbox":  # genuine, for the other inbox's visitor: only good there
        return visitor_token(world.stranger)
    if kind == "expired":
        max_age = settings.SUPPORTDESK_VISITOR_TOKEN_MAX_AGE
        seconds_ago = draw(st.integers(max_age + 2, max_age * 10))
        claims = {"v": world.visitor.pk, "i": world.inbox.pk}
        return PastSigner(seconds_ago=seconds_ago, salt=SALT).sign_object(claims, compress=True)
    if kind == "other_key":
        claims = {"v": world.visitor_b.pk, "i": world.inbox.pk}
        return signing.dumps(claims, key="not-the-desk's-key", salt=SALT, compress=True)
    if kind == "odd_claims":  # signed by the desk, but not claims it writes for this inbox
        claims = draw(
            st.sampled_from(
                [
                    [world.visitor.pk],
                    {"v": str(world.visitor.pk), "i": world.inbox.pk},
                    {"v": 10**30, "i": world.inbox.pk},
                    {"v": -1, "i": world.inbox.pk},
                    {"v": world.stranger.pk, "i": world.inbox.pk},
                    {"v": world.visitor_b.pk, "i": world.other_inbox.pk},
                    {"v": world.visitor.pk},
                    None,
                ]
            )
        )
        return signing.dumps(claims, salt=SALT, compress=True)
    return draw(st.one_of(text, st.sampled_from(NASTY)))


@hostile(100)
@given(endpoint=st.sampled_from(WIDGET_ENDPOINTS), data=st.data())
def test_forged_and_tampered_tokens_get_401_and_change_nothing(
    world: World, endpoint: str, data: st.DataObject
) -> None:
    token = data.draw(forged_tokens(world))
    everyone = [world.visitor, world.visitor_b, world.stranger]
    before = stored(visitors=everyone, inboxes=[world.inbox, world.other_inbox])
    visitors_before = set(Visitor.objects.values_list("pk", flat=True))
    client = Client(headers={"X-Visitor-Token": token})
    url = widget_url(world, endpoint, world.a_ended)
    form = {"body": "hi", "client_id": "0b6a6a34-5f4e-4a53-9a6e-8d3f5c2b1a01", "rating": "5"}
    form |= {"email": "a@example.com", "page_title": "t"}
    response = client.get(url) if endpoint == "widget_conversation" else client.post(url, form)
    assert_widget_answer(response, endpoint)
    if endpoint == "widget_session":  # a new visitor, never the one the token names
        assert response.status_code == 200
        assert response.json()["visitor"] not in visitors_before
    else:
        assert response.status_code == 401
        assert response.json()["error"] in {
            "token_missing", "token_invalid", "token_expired", "token_unknown",
        }  # fmt: skip
    assert stored(visitors=everyone, inboxes=[world.inbox, world.other_inbox]) == before


@hostile(60)
@given(endpoint=st.sampled_from(WIDGET_ENDPOINTS), data=st.data())
def test_widget_keys_that_are_not_the_tokens_inbox_are_refused(
    world: World, endpoint: str, data: st.DataObject
) -> None:
    """A genuine token, at another inbox's key or at a key no inbox has: never A's data."""
    key = data.draw(st.one_of(st.just(world.other_inbox.public_key), foreign_keys))
    client = Client(headers={"X-Visitor-Token": visitor_token(world.visitor)})
    base = f"/widget/{quote(key, safe='')}"
    path = {"widget_session": "session", "widget_rate": f"conversations/{world.a_ended}/rating"}
    url = (
        f"{base}/{path.get(endpoint, endpoint.removeprefix('widget_').replace('send', 'messages'))}"
    )
    before = bystanders(world)
    if endpoint == "widget_conversation":
        response = client.get(url)
    else:
        response = client.post(url, {"body": "hi", "client_id": str(uuid.uuid4()), "rating": "5"})
    assert_widget_answer(response, endpoint)
    assert_no_leak(response, "hello from A")
    if endpoint == "widget_session" and key == world.other_inbox.public_key:
        assert response.status_code == 200  # a new visitor of that inbox, not A
        assert response.json()["visitor"] != world.visitor.pk
    elif endpoint == "widget_session":
        assert response.json()["error"] == "unknown_inbox"
    else:
        assert response.json()["error"] == "token_unknown"
    assert client.get(f"{base}/").status_code in (200, 404)  # the widget page itself
    assert bystanders(world) == before


@hostile(60)
@given(data=st.data(), rating=st.sampled_from(["1", "5"]))
def test_rating_someone_elses_conversation_is_not_found(
    world: World, data: st.DataObject, rating: str
) -> None:
    mine = {world.a_ended, world.a_open}
    pk = data.draw(
        st.one_of(
            st.sampled_from([world.b_ended, world.b_open, world.foreign]),
            st.integers(min_value=0, max_value=10**30),
            integer_strings,  # negative ones do not even match the URL
            path_segments,
        ).filter(lambda pk: not (is_url_int(pk) and int(pk) in mine))  # "01" is A's 1
    )
    before = bystanders(world)
    client = Client(headers={"X-Visitor-Token": visitor_token(world.visitor)})
    response = client.post(widget_url(world, "widget_rate", pk), {"rating": rating})
    assert response.status_code == 404
    assert_no_leak(response, MARKER_B, MARKER_OTHER)
    if is_url_int(pk):  # the widget's own answer, not a URL miss
        assert response.json() == {"error": "not_found", "message": "No such conversation."}
    assert bystanders(world) == before


def is_url_int(pk: int | str) -> bool:
    """Whether the URL's <int:pk> takes it."""
    return str(pk).isascii() and str(pk).isdigit()


# --- The dashboard -------------------------------------------------------------------------

DASHBOARD_POSTS = ["reply", "note", "claim", "transfer", "end"]


# The URLs by hand, not reverse(): the ids may be anything, negative and not numbers included.
DASHBOARD_PATHS = {
    "reply": "/agents/conversations/{}/messages",
    "note": "/agents/conversations/{}/notes",
    "claim": "/agents/conversations/{}/claim",
    "transfer": "/agents/conversations/{}/transfer",
    "end": "/agents/conversations/{}/end",
    "conversation": "/agents/conversations/{}/",
    "reply_delete": "/agents/replies/{}/delete",
    "availability": "/agents/availability",
    "replies": "/agents/replies/",
    "search": "/agents/search",
}


def dashboard_url(name: str, pk: int | str | None = None) -> str:
    return DASHBOARD_PATHS[name].format(quote(str(pk), safe=""))


def other_inbox(world: World) -> dict[str, Any]:
    """What an agent of `inbox` must not be able to change."""
    return stored(visitors=[world.stranger], inboxes=[world.other_inbox])


def agent_client(world: World, **options: Any) -> Client:
    client = Client(**options)
    client.force_login(world.agent.user)
    return client


def assert_dashboard_answer(response: HttpResponse) -> None:
    assert response.status_code < 500, response.content[:500]
    assert_no_leak(response, MARKER_OTHER)
    if response["Content-Type"] == "application/json":  # reply and note: the widget's shape
        assert set(response.json()) == {"error", "message"}


@st.composite
def dashboard_forms(draw: st.DrawFn, world: World) -> dict[str, Any]:
    """Any form, with ids of real agents (the other inbox's too) likely in `to`."""
    form = draw(form_bodies(DASHBOARD_FIELDS))
    if draw(st.booleans()):
        ids = [world.agent.pk, world.outsider.pk, world.agent.user_id, world.outsider.user_id]
        form["to"] = draw(st.one_of(st.sampled_from(ids).map(str), integer_strings))
    return form


@hostile(100)
@given(
    name=st.sampled_from([*DASHBOARD_POSTS, "availability", "replies"]),
    target=st.sampled_from(["a_open", "b_open", "a_ended"]),
    as_multipart=st.booleans(),
    data=st.data(),
)
def test_dashboard_posts_take_any_form_body(
    world: World, name: str, target: str, as_multipart: bool, data: st.DataObject
) -> None:
    form = data.draw(dashboard_forms(world))
    before = other_inbox(world)
    response = agent_client(world).post(
        dashboard_url(name, getattr(world, target)), **encoded(form, as_multipart)
    )
    assert_dashboard_answer(response)
    assert other_inbox(world) == before


@hostile(60)
@given(
    name=st.sampled_from([*DASHBOARD_POSTS, "availability", "replies"]),
    request=raw_requests,
)
def test_dashboard_posts_take_any_raw_body_and_content_type(
    world: World, name: str, request: tuple[str, bytes]
) -> None:
    content_type, body = request
    before = other_inbox(world)
    response = agent_client(world).generic(
        "POST", dashboard_url(name, world.b_open), data=body, content_type=content_type
    )
    assert_dashboard_answer(response)
    assert other_inbox(world) == before


@hostile(80)
@given(
    name=st.sampled_from([*DASHBOARD_POSTS, "conversation", "reply_delete"]),
    data=st.data(),
)
def test_dashboard_actions_on_ids_outside_the_agents_inboxes_are_not_found(
    world: World, name: str, data: st.DataObject
) -> None:
    mine = {world.a_open, world.a_ended, world.b_open, world.b_ended}
    theirs = (
        [world.foreign_reply, world.foreign_canned] if name == "reply_delete" else [world.foreign]
    )
    pk = data.draw(
        st.one_of(
            st.sampled_from(theirs),
            st.integers(min_value=0, max_value=10**30),
            integer_strings.filter(lambda s: s.startswith("-")),
            path_segments,
        ).filter(lambda pk: not (is_url_int(pk) and int(pk) in mine))
    )
    form = {"body": "mine now", "client_id": "0b6a6a34-5f4e-4a53-9a6e-8d3f5c2b1a01"}
    form["to"] = str(world.agent.pk)
    before = other_inbox(world)
    client = agent_client(world)
    if name == "conversation":
        response = client.get(dashboard_url(name, pk))
    else:
        response = client.post(dashboard_url(name, pk), form)
    assert response.status_code == 404
    assert_no_leak(response, MARKER_OTHER)
    assert other_inbox(world) == before  # their saved replies included


@hostile(40)
@given(
    name=st.sampled_from([*DASHBOARD_POSTS, "availability", "replies", "reply_delete"]),
    token=st.one_of(st.none(), text, st.sampled_from(["x" * 64, "a" * 32])),
    in_header=st.booleans(),
)
def test_dashboard_posts_without_the_csrf_token_are_refused(
    world: World, name: str, token: str | None, in_header: bool
) -> None:
    """A cross-site form post rides on the agent's session cookie but cannot read the CSRF
    token: it is refused and changes nothing, even in the agent's own inbox."""
    everything = {"visitors": [world.visitor, world.visitor_b], "inboxes": [world.inbox]}
    reply, _ = CannedResponse.objects.get_or_create(agent=world.agent, shortcut="mine", body="kept")
    before = stored(**everything)
    form: dict[str, Any] = {"body": "forged", "client_id": "0b6a6a34-5f4e-4a53-9a6e-8d3f5c2b1a01"}
    form |= {"to": str(world.agent.pk), "availability": "away", "shortcut": "forged"}
    headers = {}
    if token is not None and in_header:
        headers["X-CSRFToken"] = token
    elif token is not None:
        form["csrfmiddlewaretoken"] = token
    client = agent_client(world, enforce_csrf_checks=True)
    response = client.post(
        dashboard_url(name, reply.pk if name == "reply_delete" else world.b_open),
        form,
        headers=headers,
    )
    assert response.status_code == 403
    assert stored(**everything) == before
    assert CannedResponse.objects.filter(pk=reply.pk).exists()
    assert not CannedResponse.objects.filter(shortcut="forged").exists()
    world.agent.refresh_from_db()
    assert world.agent.availability == "online"


@hostile(60)
@given(
    query=st.one_of(
        text,
        hostile_string,
        st.lists(
            st.sampled_from([SHARED_WORD, "private", "reply", "note", "again", "Mal", "qzO9kx"]),
            min_size=1,
            max_size=3,
        ).map(" ".join),
    ),
    partial=st.booleans(),
)
def test_search_finds_only_the_agents_inboxes(world: World, query: str, partial: bool) -> None:
    headers = {"HX-Request": "true"} if partial else {}
    response = agent_client(world).get(dashboard_url("search"), {"q": query}, headers=headers)
    assert response.status_code == 200
    assert_no_leak(response, MARKER_OTHER)
    linked = re.findall(r"/agents/conversations/(\d+)/", response.content.decode())
    assert {int(pk) for pk in linked} <= {world.a_open, world.a_ended, world.b_open, world.b_ended}


def test_search_finds_the_agents_own_messages_but_not_the_other_inboxs(world: World) -> None:
    """The property above is not vacuous: the shared word is found, in this inbox only."""

    def found(client: Client) -> set[int]:
        response = client.get(dashboard_url("search"), {"q": SHARED_WORD}, HTTP_HX_REQUEST="true")
        return {
            int(pk) for pk in re.findall(r"/agents/conversations/(\d+)/", response.content.decode())
        }

    assert found(agent_client(world)) == {world.a_ended, world.a_open}
    outsider = Client()
    outsider.force_login(world.outsider.user)
    assert found(outsider) == {world.foreign}


# --- The login forms and the analytics' query ---------------------------------------------

# Names as people type them and as attackers spell them: look-alikes that NFKC folds into a
# real user's name (issue 16), and any text at all.
LOOK_ALIKES = [
    "\uff41\uff4c\uff49\uff43\uff45",
    "ALICE",
    "alice\u200b",
    "ᴬlice",
    "ﬀ",
    "İ",
    "alice\x00",
]


@hostile(60)
@given(
    path=st.sampled_from(["/accounts/login/", "/admin/login/"]),
    username=st.one_of(st.sampled_from(LOOK_ALIKES), hostile_string),
    password=hostile_string,
)
def test_login_forms_take_any_name_and_password(
    world: World, path: str, username: str, password: str
) -> None:
    """The form again (200), a throttle (429 or the form saying so), never a 500; and never a
    login: none of these is a user's password."""
    client = Client()
    response = client.post(path, {"username": username, "password": password})
    assert response.status_code in (200, 400, 429), response.content[:500]
    assert "_auth_user_id" not in client.session


@hostile(60)
@given(
    query=st.dictionaries(
        st.one_of(st.sampled_from(["period", "start", "end", "inbox", "agent", "rows"]), text),
        st.one_of(
            hostile_string,
            st.dates().map(str),
            st.sampled_from(["0001-01-01", "9999-12-31", "2024-02-30", "-1", "1e9"]),
        ),
        max_size=5,
    ),
    csv=st.booleans(),
)
def test_analytics_take_any_query(world: World, query: dict[str, str], csv: bool) -> None:
    """Dates, ids and periods of any shape: the page or the CSV, or the form's own 400 with
    the reason, never a 500; and never another inbox's figures."""
    world.agent.user.user_permissions.add(
        Permission.objects.get(codename="view_analytics", content_type__app_label="chat")
    )
    path = "/agents/analytics/export.csv" if csv else "/agents/analytics/"
    response = agent_client(world).get(path, query)
    assert response.status_code in (200, 400), response.content[:500]
    assert_no_leak(response, MARKER_OTHER)
