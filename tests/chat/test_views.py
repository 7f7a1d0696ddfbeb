from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from chat.models import Conversation, Inbox, Message, Visitor
from chat.services import visitor_message_send
from chat.tokens import SALT, visitor_token

pytestmark = pytest.mark.django_db


def widget_url(name: str, inbox: Inbox) -> str:
    return reverse(f"chat:{name}", args=[inbox.public_key])


def post_message(client: Client, inbox: Inbox, token: str, body: str, client_id: str):
    return client.post(
        widget_url("widget_send", inbox),
        {"body": body, "client_id": client_id},
        headers={"X-Visitor-Token": token},
    )


def widget_log(client: Client, inbox: Inbox, visitor: Visitor) -> str:
    """The widget's conversation fragment, as the visitor's own widget fetches it."""
    return client.get(
        widget_url("widget_conversation", inbox),
        headers={"X-Visitor-Token": visitor_token(visitor)},
    ).content.decode()


def test_embed_script_is_javascript_and_cacheable(client: Client) -> None:
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "max-age=300" in response["Cache-Control"]
    assert b"Open chat" in response.content


def test_widget_page_can_be_framed_by_the_allowed_origins_only(
    client: Client, inbox: Inbox
) -> None:
    inbox.allowed_origins = "https://shop.example\nhttps://www.shop.example/"
    inbox.save()
    response = client.get(widget_url("widget_page", inbox))
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    policy = response["Content-Security-Policy"]
    assert policy.endswith("; frame-ancestors 'self' https://shop.example https://www.shop.example")
    assert "script-src 'self';" in policy  # and, as on every page of ours, only our scripts
    page = response.content.decode()
    assert 'role="log"' in page
    assert '<label class="visually-hidden" for="composer-input">Message</label>' in page


def test_unknown_inbox_key_gets_a_clear_404(client: Client, db: None) -> None:
    response = client.get("/widget/no-such-key/")
    assert response.status_code == 404
    assert b"This chat is not available" in response.content
    assert response["Content-Security-Policy"].endswith("frame-ancestors *")  # shown in the frame
    answer = client.post("/widget/no-such-key/session")
    assert answer.status_code == 404
    assert answer.json()["error"] == "unknown_inbox"


def test_session_creates_a_visitor_once_and_keeps_a_good_token(
    client: Client, inbox: Inbox
) -> None:
    first = client.post(widget_url("widget_session", inbox)).json()
    assert Visitor.objects.count() == 1
    again = client.post(
        widget_url("widget_session", inbox), headers={"X-Visitor-Token": first["token"]}
    ).json()
    assert again["visitor"] == first["visitor"]
    assert Visitor.objects.count() == 1


def test_send_stores_once_and_a_retry_gets_the_same_message(
    client: Client, inbox: Inbox, visitor: Visitor
) -> None:
    token = visitor_token(visitor)
    client_id = str(uuid.uuid4())
    first = post_message(client, inbox, token, "Hello!", client_id)
    retry = post_message(client, inbox, token, "Hello!", client_id)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.content == retry.content
    assert first["X-Seq"] == "1"
    assert Message.objects.count() == 1
    assert f'data-client-id="{client_id}"' in first.content.decode()


@pytest.mark.parametrize(
    ("body", "client_id", "status", "code"),
    [
        ("hi", "not-a-uuid", 400, "bad_client_id"),
        ("hi", "", 400, "bad_client_id"),
        ("   ", "0b6a6a34-5f4e-4a53-9a6e-8d3f5c2b1a01", 422, "empty"),
        ("x" * 5001, "0b6a6a34-5f4e-4a53-9a6e-8d3f5c2b1a02", 422, "too_long"),
        ("nul\x00byte", "0b6a6a34-5f4e-4a53-9a6e-8d3f5c2b1a03", 422, "invalid_character"),
    ],
)
def test_bad_messages_get_a_clear_error_and_store_nothing(
    client: Client,
    inbox: Inbox,
    visitor: Visitor,
    body: str,
    client_id: str,
    status: int,
    code: str,
) -> None:
    response = post_message(client, inbox, visitor_token(visitor), body, client_id)
    assert response.status_code == status
    assert response.json()["error"] == code
    assert response.json()["message"]
    assert not Message.objects.exists()


def test_message_html_is_escaped(client: Client, inbox: Inbox, visitor: Visitor) -> None:
    response = post_message(
        client, inbox, visitor_token(visitor), "<script>alert(1)</script>", str(uuid.uuid4())
    )
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content


@pytest.mark.parametrize("name", ["widget_conversation", "widget_send"])
def test_widget_api_refuses_missing_forged_and_foreign_tokens(
    client: Client, inbox: Inbox, other_inbox: Inbox, visitor: Visitor, name: str
) -> None:
    from django.core import signing

    forged = signing.dumps({"v": visitor.pk, "i": inbox.pk}, key="not-our-secret", salt=SALT)
    method = client.get if name == "widget_conversation" else client.post
    for url, token in [
        (widget_url(name, inbox), ""),
        (widget_url(name, inbox), "garbage"),
        (widget_url(name, inbox), forged),
        (widget_url(name, other_inbox), visitor_token(visitor)),  # good token, wrong inbox
    ]:
        response = method(url, headers={"X-Visitor-Token": token})
        assert response.status_code == 401, (url, token)
        assert response.json()["error"].startswith("token_")


def test_expired_token_is_refused(client: Client, inbox: Inbox, visitor: Visitor, settings) -> None:
    token = visitor_token(visitor)
    settings.SUPPORTDESK_VISITOR_TOKEN_MAX_AGE = -1
    response = client.get(
        widget_url("widget_conversation", inbox), headers={"X-Visitor-Token": token}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "token_expired"


def test_visitor_a_sees_only_their_own_conversation(
    client: Client, inbox: Inbox, visitor: Visitor, visitor_b: Visitor
) -> None:
    visitor_message_send(visitor=visitor_b, body="secret of B", client_id=uuid.uuid4())
    visitor_message_send(visitor=visitor, body="question of A", client_id=uuid.uuid4())
    page = widget_log(client, inbox, visitor)
    assert "question of A" in page
    assert "secret of B" not in page


def test_a_new_visitor_sees_the_greeting_and_no_conversation(
    client: Client, inbox: Inbox, visitor: Visitor
) -> None:
    page = widget_log(client, inbox, visitor)
    assert "Hello from Acme!" in page
    assert 'id="log-new"' in page
    assert not Conversation.objects.exists()


def test_demo_page_embeds_the_widget_like_a_customer_site(client: Client, inbox: Inbox) -> None:
    page = client.get("/demo/").content.decode()
    assert f'<script src="/widget.js" data-inbox="{inbox.public_key}" async></script>' in page


def test_the_demo_page_is_off_unless_asked_for(client: Client, inbox: Inbox, settings) -> None:
    """Issue 16: /demo/ was served with DEBUG off, publishing the first inbox's key."""
    settings.SUPPORTDESK_DEMO_PAGE = False
    assert client.get("/demo/").status_code == 404


def test_seed_demo_refuses_without_debug(settings) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")
    assert not Inbox.objects.exists()


def test_seed_demo_with_debug_creates_the_demo_and_is_repeatable(settings) -> None:
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    assert Inbox.objects.count() == 1
    assert Inbox.objects.get().calls_enabled  # a newcomer can try a call (docs/CALLS.md)
    client = Client()
    assert client.login(username="demo", password="demo")
    assert client.get("/agents/").status_code == 200


def test_a_visitor_reloading_an_active_chat_sees_who_they_are_talking_to(
    client: Client, inbox: Inbox, visitor: Visitor, agent
) -> None:
    from agents.services import conversation_claim

    result = visitor_message_send(visitor=visitor, body="hi", client_id=uuid.uuid4())
    conversation_claim(conversation=result.message.conversation, agent=agent)
    page = widget_log(client, inbox, visitor)
    assert "chatting with <bdi>Alice</bdi>." in page
    assert 'data-version="2"' in page


def test_a_visitor_rates_their_ended_chat_and_only_theirs(
    visitor: Visitor, visitor_b: Visitor, agent
) -> None:
    from chat.services import conversation_end

    conversation = visitor_message_send(
        visitor=visitor, body="hi", client_id=uuid.uuid4()
    ).message.conversation
    url = reverse("chat:widget_rate", args=[visitor.inbox.public_key, conversation.pk])
    mine = {"X-Visitor-Token": visitor_token(visitor)}
    assert Client().post(url, {"rating": "5"}, headers=mine).status_code == 409  # still open
    conversation_end(conversation=conversation, by=agent)
    theirs = {"X-Visitor-Token": visitor_token(visitor_b)}
    assert Client().post(url, {"rating": "1"}, headers=theirs).status_code == 404
    for bad in ({"rating": "6"}, {"rating": "x"}, {"rating": "4", "comment": "x" * 1001}):
        assert Client().post(url, bad, headers=mine).status_code == 422
    done = Client().post(url, {"rating": "4", "comment": "Quick and kind"}, headers=mine)
    assert done.status_code == 200
    assert "You rated this chat 4 out of 5" in done.content.decode()
    conversation.refresh_from_db()
    assert (conversation.rating, conversation.rating_comment) == (4, "Quick and kind")
    pane = Client()
    pane.force_login(agent.user)
    page = pane.get(reverse("agents:conversation", args=[conversation.pk])).content.decode()
    assert "4/5 — “<bdi>Quick and kind</bdi>”" in page


def test_the_embed_script_stays_small(client: Client) -> None:
    """A budget, not a timing: every customer's page downloads this (docs/PERFORMANCE.md).
    10 KiB since the preview bubble of a reply that arrives while the chat is closed (its
    markup and styles, ~1.8 KB; about 3.7 KB gzipped in all)."""
    body = client.get(reverse("chat:widget_script")).content
    assert len(body) < 10 * 1024


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("body=" + "x" * 3_000_000, "application/x-www-form-urlencoded"),  # past Django's 2.5 MB
        ("&".join(f"f{i}=x" for i in range(1001)), "application/x-www-form-urlencoded"),
        ("body=caf%E9", "application/x-www-form-urlencoded; charset=latin-1"),
        ("--xyz\r\nbroken", "multipart/form-data; boundary="),
    ],
)
def test_a_body_django_cannot_read_gets_the_widget_apis_error_shape(
    client: Client, inbox: Inbox, visitor: Visitor, data: str, content_type: str
) -> None:
    response = client.post(
        widget_url("widget_send", inbox),
        data,
        content_type=content_type,
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "bad_request",
        "message": "The request body could not be read.",
    }
    assert not Message.objects.exists()


def test_a_key_holding_a_nul_is_no_inbox(client: Client, inbox: Inbox, visitor: Visitor) -> None:
    """PostgreSQL refuses a NUL in a query: such a key is answered without asking it."""
    session = client.post("/widget/%00/session")
    assert (session.status_code, session.json()["error"]) == (404, "unknown_inbox")
    assert client.get("/widget/%00/").status_code == 404
    send = client.post(
        f"/widget/{inbox.public_key}%00/messages",
        {"body": "hi", "client_id": str(uuid.uuid4())},
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    assert (send.status_code, send.json()["error"]) == (401, "token_unknown")


def test_allowed_origins_must_be_origins_and_nothing_else_reaches_the_policy(
    client: Client, inbox: Inbox
) -> None:
    """Issue 16: a `;` in an allowed origin added directives to the widget page's
    Content-Security-Policy. Lines are origins or refused; a line stored before the check
    that is not one is left out of the policy."""
    injected = "https://shop.example; script-src * 'unsafe-inline'"
    inbox.allowed_origins = f"https://www.example.com\n{injected}"
    with pytest.raises(ValidationError, match="Not an origin"):
        inbox.full_clean()
    for good in ("https://www.example.com", "http://127.0.0.1:8080", "https://*.example.com/"):
        inbox.allowed_origins = good
        inbox.full_clean()
    Inbox.objects.filter(pk=inbox.pk).update(allowed_origins=f"https://www.example.com\n{injected}")
    policy = client.get(f"/widget/{inbox.public_key}/")["Content-Security-Policy"]
    assert "unsafe-inline" not in policy
    assert policy.count("script-src") == 1
    assert "frame-ancestors 'self' https://www.example.com" in policy
