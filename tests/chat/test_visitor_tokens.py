"""Visitor tokens (chat.tokens): off the socket's URL, replaced when old, revoked by an admin.

Issue 16: the one-year bearer token travelled in the socket URL's query string (which proxies
log), never rotated, and could not be revoked."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core import signing
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from agents.services import conversation_claim
from chat.models import Conversation, Inbox, Visitor
from chat.services import conversation_end, visitor_sessions_revoke
from chat.tokens import (
    SALT,
    SUBPROTOCOL,
    protocols_for,
    token_claims,
    token_from_protocols,
    visitor_token,
)
from supportdesk.asgi import application
from tests.chat.test_consumers import (
    SAME_ORIGIN,
    assert_refused,
    close_code,
    connect_visitor,
    send,
    send_sync,
    visitor_path,
    widget_communicator,
)
from tests.chat.test_identity import session, signed
from tests.chat.test_views import post_message, widget_url
from tests.scripts import ROOT, script_module

DAY = 24 * 3600


def token_issued(claims: dict[str, Any], seconds_ago: float) -> str:
    """A genuine token with `claims`, signed `seconds_ago` (what a widget kept since then)."""

    class Then(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time() - seconds_ago))

    return Then(salt=SALT).sign_object(claims, compress=True)


async def frame_types(socket: WebsocketCommunicator, within: float = 0.5) -> list[str]:
    """The types of every frame the socket gets within `within` seconds of opening."""
    types = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        # The base class's: the test Communicator's pass over ambient frames.
        if not await WebsocketCommunicator.receive_nothing(socket, 0.05):
            types.append((await WebsocketCommunicator.receive_json_from(socket))["type"])
    return types


def claims_of(visitor: Visitor) -> dict[str, int]:
    return {"v": visitor.pk, "i": visitor.inbox_id, "g": visitor.token_generation}


def test_a_token_travels_as_a_subprotocol_with_its_colons_as_tildes(visitor: Visitor) -> None:
    token = visitor_token(visitor)
    assert ":" in token
    protocols = protocols_for(token)
    assert protocols[0] == SUBPROTOCOL
    # RFC 6455: each subprotocol is an HTTP token (RFC 7230 tchar): no ':', no space, no comma.
    tchar = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert all(set(protocol) <= tchar for protocol in protocols), protocols
    assert token_from_protocols(protocols) == token
    assert token_from_protocols([SUBPROTOCOL]) == ""


def test_the_benchmark_and_smoke_scripts_present_a_token_as_the_widget_does() -> None:
    common = script_module("bench/_common.py")
    token = "eyJ2IjoxfQ:1xZgr5:HrOwnWxiOloVOWSAQRb3tnv4E"
    assert common.widget_protocols(token) == protocols_for(token)
    script = (ROOT / "static" / "supportdesk" / "widget-frame.js").read_text()
    assert '["supportdesk.v1", `token.${token.replaceAll(":", "~")}`]' in script


@pytest.mark.django_db(transaction=True)
async def test_the_widget_socket_takes_its_token_as_a_subprotocol_not_in_its_url(
    visitor: Visitor,
) -> None:
    """The handshake names the desk's subprotocol: a browser that offered some fails a
    handshake whose answer names none."""
    socket = widget_communicator(visitor, visitor_token(visitor))
    assert "token" not in visitor_path(visitor)
    connected, subprotocol = await socket.connect(timeout=5)
    assert (connected, subprotocol) == (True, SUBPROTOCOL)
    message = await send(visitor, "over the subprotocol's socket")
    await socket.send_json_to({"type": "resume", "conversation": message.conversation_id})
    frames = [await socket.receive_json_from(timeout=5) for _ in range(3)]
    assert any("over the subprotocol" in frame.get("html", "") for frame in frames)
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_refused_widget_socket_still_names_the_subprotocol_so_the_browser_reads_4401(
    visitor: Visitor,
) -> None:
    socket = widget_communicator(visitor, "forged:token:value")
    connected, subprotocol = await socket.connect(timeout=5)
    assert (connected, subprotocol) == (True, SUBPROTOCOL)
    assert await close_code(socket) == 4401


@pytest.mark.django_db(transaction=True)
async def test_a_widget_page_loaded_before_the_change_still_connects_with_its_url_token(
    visitor: Visitor,
) -> None:
    """An open widget page keeps its old script across a deploy; its reconnect must not lose
    the visitor's session."""
    socket = WebsocketCommunicator(
        application,
        f"{visitor_path(visitor)}?token={visitor_token(visitor)}",
        headers=[*SAME_ORIGIN],
    )
    connected, subprotocol = await socket.connect(timeout=5)
    assert (connected, subprotocol) == (True, None)
    await socket.disconnect()


def test_tokens_issued_before_generations_existed_are_of_the_first(
    client: Client, inbox: Inbox, visitor: Visitor
) -> None:
    old = token_issued({"v": visitor.pk, "i": visitor.inbox_id}, seconds_ago=3600)
    assert token_claims(old).generation == 0
    response = post_message(client, inbox, old, "still mine", str(uuid.uuid4()))
    assert response.status_code == 201


@pytest.mark.django_db(transaction=True)
async def test_a_token_due_for_rotation_is_replaced_when_the_socket_opens(
    visitor: Visitor, settings
) -> None:
    settings.SUPPORTDESK_VISITOR_TOKEN_ROTATE_SECONDS = DAY
    old = token_issued(claims_of(visitor), seconds_ago=2 * DAY)
    socket = await connect_visitor(visitor, token=old)
    frame = await socket.receive_any_json()
    assert frame["type"] == "token"
    fresh = token_claims(frame["token"])
    assert (fresh.visitor_id, fresh.inbox_id, fresh.generation) == (
        visitor.pk,
        visitor.inbox_id,
        visitor.token_generation,
    )
    assert time.time() - fresh.issued_at < 60
    # The socket goes on with the fresh token (a send checks it again: chat.sending).
    await socket.send_json_to(
        {"type": "send", "body": "after rotation", "client_id": str(uuid.uuid4())}
    )
    while (answer := await socket.receive_json_from(timeout=5))["type"] != "ack":
        assert answer["type"] != "refused", answer
    await socket.disconnect()
    # And the fresh token opens a socket without another rotation.
    again = await connect_visitor(visitor, token=frame["token"])
    assert "token" not in await frame_types(again)
    await again.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_young_token_is_not_replaced(visitor: Visitor, settings) -> None:
    settings.SUPPORTDESK_VISITOR_TOKEN_ROTATE_SECONDS = DAY
    socket = await connect_visitor(visitor, token=token_issued(claims_of(visitor), 3600))
    assert "token" not in await frame_types(socket)
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_token_past_its_max_age_opens_no_socket(visitor: Visitor, settings) -> None:
    settings.SUPPORTDESK_VISITOR_TOKEN_MAX_AGE = 90 * DAY
    copied = token_issued(claims_of(visitor), seconds_ago=91 * DAY)
    await assert_refused(widget_communicator(visitor, copied))


@pytest.mark.django_db(transaction=True)
async def test_signing_a_visitor_out_closes_their_widgets_and_refuses_every_old_token(
    visitor: Visitor, inbox: Inbox, agent: Agent
) -> None:
    message = await send(visitor, "before")
    old = visitor_token(visitor)
    widget = await connect_visitor(visitor, token=old)
    await database_sync_to_async(visitor_sessions_revoke)(visitor=visitor)
    assert await close_code(widget) == 4401
    await assert_refused(widget_communicator(visitor, old))

    def over_http() -> None:
        client = Client()
        # The message path's fast statement (an open conversation) and the full one both refuse.
        sent = post_message(client, inbox, old, "after", str(uuid.uuid4()))
        assert (sent.status_code, sent.json()["error"]) == (401, "token_revoked")
        conversation = Conversation.objects.get(pk=message.conversation_id)
        conversation_claim(conversation=conversation, agent=agent)
        conversation_end(conversation=conversation, by=agent)
        sent = post_message(client, inbox, old, "after", str(uuid.uuid4()))
        assert (sent.status_code, sent.json()["error"]) == (401, "token_revoked")
        log = client.get(widget_url("widget_conversation", inbox), headers={"X-Visitor-Token": old})
        assert log.status_code == 401
        # The widget then starts afresh: a new visitor, whose token works.
        fresh = session(client, inbox, token=old)
        assert fresh["visitor"] != visitor.pk
        assert (
            post_message(client, inbox, fresh["token"], "hi", str(uuid.uuid4())).status_code == 201
        )
        # A token issued after the sign-out is good.
        visitor.refresh_from_db()
        assert visitor.token_generation == 1
        new = visitor_token(visitor)
        assert post_message(client, inbox, new, "back", str(uuid.uuid4())).status_code == 201

    await database_sync_to_async(over_http)()


def test_a_signed_out_verified_user_is_linked_back_to_their_chats(
    client: Client, inbox: Inbox
) -> None:
    first = session(client, inbox, signed(inbox))
    visitor = Visitor.objects.get(pk=first["visitor"])
    send_sync(visitor, "my order")
    visitor_sessions_revoke(visitor=visitor)
    assert post_message(client, inbox, first["token"], "x", str(uuid.uuid4())).status_code == 401
    again = session(client, inbox, signed(inbox, timestamp=int(time.time()) + 1))
    assert again["visitor"] == visitor.pk
    response = post_message(client, inbox, again["token"], "back", str(uuid.uuid4()))
    assert response.status_code == 201


@pytest.mark.django_db
def test_an_admin_signs_a_visitor_out_from_their_page(
    admin_client: Client, client: Client, visitor: Visitor, django_user_model
) -> None:
    old = visitor_token(visitor)
    page = admin_client.get(reverse("admin:chat_visitor_change", args=[visitor.pk]))
    action = reverse("admin:chat_visitor_sign_out", args=[visitor.pk])
    assert f'action="{action}"' in page.content.decode()
    assert "Sign out everywhere" in page.content.decode()
    assert admin_client.get(action).status_code == 405  # a link followed changes nothing
    answer = admin_client.post(action, follow=True)
    assert answer.redirect_chain[-1][0] == reverse("admin:chat_visitor_change", args=[visitor.pk])
    assert "signed out everywhere" in answer.content.decode()
    visitor.refresh_from_db()
    assert visitor.token_generation == 1
    assert LogEntry.objects.filter(object_id=str(visitor.pk), change_message__contains="Signed")
    assert post_message(client, visitor.inbox, old, "x", str(uuid.uuid4())).status_code == 401

    # Staff who may only view visitors cannot.
    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_visitor"))
    other = Client()
    other.force_login(viewer)
    assert other.post(action).status_code == 403
    assert (
        "Sign out everywhere"
        not in other.get(reverse("admin:chat_visitor_change", args=[visitor.pk])).content.decode()
    )
    visitor.refresh_from_db()
    assert visitor.token_generation == 1
