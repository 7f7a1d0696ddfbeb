"""The authorization matrix: every HTTP route and every socket route, tried as every kind of
caller, against the answer written down for it here.

The routes are read from the URL configuration and from the ASGI application's socket router,
never listed by hand: a new route without an entry in EXPECTED (or SOCKETS) fails, as does an
entry whose route is gone, each naming the route. Every (route, role) pair is its own test case.

Roles (ROLES, the columns of every row):
- anonymous: no session, no visitor token;
- visitor_a: a visitor token of inbox 1; the visitor owns conversation A;
- visitor_b: another visitor of inbox 1, with a conversation B of its own; where a route takes
  a conversation id it gets A's;
- agent: an Agent of inbox 1 (role "agent");
- outsider: an Agent of inbox 2 only;
- admin: an Agent with the "admin" role (every inbox), member of none, not Django staff;
- superuser: a Django superuser (is_staff) without an Agent profile.

The Django admin is a permission system of its own (is_staff and model permissions): an Agent's
role grants nothing there, and being Django staff grants nothing in the dashboard. Its standard
pages follow one rule (`admin_rule`): everyone but the superuser is sent to the admin's login,
the superuser gets the page, except where a ModelAdmin refuses adding or deleting (403). The
rule is generated per registered model; custom admin views need entries of their own.

URL kwargs are filled with real objects (`kwargs_for`): `pk` is conversation A (inbox 1),
`public_key` inbox 1's key, `object_id` an object of the admin page's model. Requests carry a
valid CSRF token (the checks are on) and, for POST, a valid body, so a role that may act gets the
success answer. A refused request must leave the database exactly as it was.
"""

from __future__ import annotations

import copy
import io
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import import_module
from importlib.util import find_spec
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.db.models import Model
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import URLResolver, get_resolver, resolve
from django.utils import timezone
from PIL import Image

from agents.models import Agent, CannedResponse
from agents.services import agent_create, conversation_claim, saved_reply_create
from api.models import ApiToken
from api.services import api_token_create, api_token_revoke
from bots.models import Bot
from chat.attachments import attachment_upload, attachments_claim
from chat.models import Attachment, Call, Conversation, Inbox, Label, Visitor
from chat.services import conversation_end, visitor_create, visitor_profile_set
from chat.tokens import protocols_for, visitor_token
from mail.models import AgentMailSettings, InboxMailSettings, OutboundEmail, Unsubscribe
from mail.tokens import continue_token, unsubscribe_token
from supportdesk.asgi import application
from tests.chat.test_consumers import (
    SAME_ORIGIN,
    Communicator,
    agent_socket,
    send,
    send_sync,
    session_cookie,
)
from webhooks.models import WebhookDelivery, WebhookEndpoint

ROLES = ("anonymous", "visitor_a", "visitor_b", "agent", "outsider", "admin", "superuser")

PASSWORD = "matrix password"
CSRF_TOKEN = "M" * 32  # any 32 allowed characters; the cookie and the header carry the same
SECRET_A = "Where is my parcel ZX-4711?"  # conversation A's first message
MARKER_A = "ZX-4711"  # shown wherever conversation A is; the search asks for "parcel"
CLOSE_UNAUTHORIZED = 4401


@dataclass(frozen=True)
class Outcome:
    """One expected answer. For sockets `status` is the close code, or 101 for accepted."""

    status: int
    to: str | None = None  # a redirect's Location starts with this (formatted with the kwargs)
    error: str | None = None  # the JSON error code starts with this
    shows_a: bool | None = None  # conversation A's text is in the answer (True) or not (False)
    refused: bool = False  # nothing in the database may change

    def __str__(self) -> str:
        extra = {True: " showing A", False: " without A", None: ""}[self.shows_a]
        return f"{self.status}{f' to {self.to}' if self.to else ''}{extra}"


def to(path: str, *, refused: bool = False) -> Outcome:
    return Outcome(302, to=path, refused=refused)


OK = Outcome(200)
CREATED = Outcome(201)
NO_CONTENT = Outcome(204)
SEES_A = Outcome(200, shows_a=True)
BLIND = Outcome(200, shows_a=False)
LOGIN = to("/accounts/login/?next=", refused=True)
ADMIN_LOGIN = to("/admin/login/?next=", refused=True)
TOKEN = Outcome(401, error="token_", refused=True)  # the widget API's JSON error
FORBIDDEN = Outcome(403, refused=True)
NOT_FOUND = Outcome(404, refused=True)
NOT_ALLOWED = Outcome(405, refused=True)
ASSIST_OFF = Outcome(503, error="assist_off", refused=True)  # agents.assist_views, unconfigured
# Sockets: accepted and following A (live messages too), accepted but A is `not_found` and its
# messages never arrive, or accepted and closed at once with 4401 (docs/PROTOCOL.md).
FOLLOWS_A = Outcome(101, shows_a=True)
DEAF_TO_A = Outcome(101, shows_a=False)
CLOSED = Outcome(CLOSE_UNAUTHORIZED)

Row = tuple[Outcome, ...]


def every(outcome: Outcome) -> Row:
    return (outcome,) * len(ROLES)


def staff_only(outcome: Outcome) -> Row:
    return (ADMIN_LOGIN,) * (len(ROLES) - 1) + (outcome,)


# Keyed by URL name (namespaced), or "/" + route for an unnamed pattern; then by method.
# Columns:        anonymous  visitor_a  visitor_b  agent    outsider   admin    superuser
EXPECTED: dict[str, dict[str, Row]] = {
    "/": {"GET": every(to("/agents/")), "POST": every(to("/agents/"))},
    "login": {"GET": every(OK), "POST": every(to("/agents/"))},
    "logout": {"GET": every(NOT_ALLOWED), "POST": every(to("/accounts/login/"))},
    "agents:dashboard": {
        "GET": (LOGIN, LOGIN, LOGIN, SEES_A, BLIND, SEES_A, FORBIDDEN),
        "POST": every(NOT_ALLOWED),
    },
    "agents:search": {
        "GET": (LOGIN, LOGIN, LOGIN, SEES_A, BLIND, SEES_A, FORBIDDEN),
        "POST": every(NOT_ALLOWED),
    },
    # Analytics: admins; agents only with the chat.view_analytics permission (none here has it;
    # tests/agents/test_analytics.py grants it). No message text on these pages.
    "agents:analytics": {
        "GET": (LOGIN, LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, BLIND, FORBIDDEN),
        "POST": every(NOT_ALLOWED),
    },
    "agents:analytics_export": {
        "GET": (LOGIN, LOGIN, LOGIN, FORBIDDEN, FORBIDDEN, BLIND, FORBIDDEN),
        "POST": every(NOT_ALLOWED),
    },
    "agents:availability": {
        "GET": every(NOT_ALLOWED),
        "POST": (LOGIN, LOGIN, LOGIN, NO_CONTENT, NO_CONTENT, NO_CONTENT, FORBIDDEN),
    },
    "agents:replies": {
        "GET": (LOGIN, LOGIN, LOGIN, OK, OK, OK, FORBIDDEN),
        "POST": (LOGIN, LOGIN, LOGIN, *(to("/agents/replies/"),) * 3, FORBIDDEN),
    },
    # pk: the agent's own saved reply; only its owner may delete it, an admin included.
    "agents:reply_delete": {
        "GET": every(NOT_ALLOWED),
        "POST": (LOGIN, LOGIN, LOGIN, to("/agents/replies/"), NOT_FOUND, NOT_FOUND, FORBIDDEN),
    },
    "agents:conversation": {
        "GET": (LOGIN, LOGIN, LOGIN, SEES_A, NOT_FOUND, SEES_A, FORBIDDEN),
        "POST": every(NOT_ALLOWED),
    },
    "agents:history": {
        "GET": (LOGIN, LOGIN, LOGIN, SEES_A, NOT_FOUND, SEES_A, FORBIDDEN),
        "POST": every(NOT_ALLOWED),
    },
    "agents:reply": {
        "GET": every(NOT_ALLOWED),
        "POST": (LOGIN, LOGIN, LOGIN, CREATED, NOT_FOUND, CREATED, FORBIDDEN),
    },
    "agents:note": {
        "GET": every(NOT_ALLOWED),
        "POST": (LOGIN, LOGIN, LOGIN, CREATED, NOT_FOUND, CREATED, FORBIDDEN),
    },
    "agents:claim": {
        "GET": every(NOT_ALLOWED),
        "POST": (LOGIN, LOGIN, LOGIN, OK, NOT_FOUND, OK, FORBIDDEN),
    },
    "agents:transfer": {
        "GET": every(NOT_ALLOWED),
        "POST": (LOGIN, LOGIN, LOGIN, OK, NOT_FOUND, OK, FORBIDDEN),
    },
    "agents:end": {
        "GET": every(NOT_ALLOWED),
        "POST": (LOGIN, LOGIN, LOGIN, OK, NOT_FOUND, OK, FORBIDDEN),
    },
    # Triage (agents.triage): reopen (A ended first: SETUP), labels (inbox 1's), snooze, wake.
    **{
        key: {
            "GET": every(NOT_ALLOWED),
            "POST": (LOGIN, LOGIN, LOGIN, OK, NOT_FOUND, OK, FORBIDDEN),
        }
        for key in ("agents:reopen", "agents:labels", "agents:snooze", "agents:unsnooze")
    },
    # AI assist (agents.assist_views), off here (no endpoint configured): who may work on the
    # chat is told so, after the same checks as every dashboard route; nothing is sent anywhere.
    **{
        key: {
            "GET": every(NOT_ALLOWED),
            "POST": (LOGIN, LOGIN, LOGIN, ASSIST_OFF, NOT_FOUND, ASSIST_OFF, FORBIDDEN),
        }
        for key in ("agents:assist_suggest", "agents:assist_summary")
    },
    "chat:widget_script": {"GET": every(OK), "POST": every(NOT_ALLOWED)},
    "chat:widget_page": {"GET": every(OK), "POST": every(NOT_ALLOWED)},
    # Faces (chat.faces): public by design, what any visitor of the customer's site sees. The
    # inbox has no logo (404 for all); the agent's face is their initials (an SVG) for all.
    "chat:inbox_logo": {"GET": every(NOT_FOUND), "POST": every(NOT_ALLOWED)},
    "chat:agent_face": {"GET": every(OK), "POST": every(NOT_ALLOWED)},
    "chat:widget_session": {"GET": every(NOT_ALLOWED), "POST": every(OK)},
    "chat:widget_conversation": {
        "GET": (TOKEN, SEES_A, BLIND, TOKEN, TOKEN, TOKEN, TOKEN),
        "POST": every(NOT_ALLOWED),
    },
    "chat:widget_send": {
        "GET": every(NOT_ALLOWED),
        "POST": (TOKEN, CREATED, CREATED, TOKEN, TOKEN, TOKEN, TOKEN),
    },
    "chat:widget_context": {
        "GET": every(NOT_ALLOWED),
        "POST": (TOKEN, NO_CONTENT, NO_CONTENT, TOKEN, TOKEN, TOKEN, TOKEN),
    },
    "chat:widget_email": {
        "GET": every(NOT_ALLOWED),
        "POST": (TOKEN, OK, OK, TOKEN, TOKEN, TOKEN, TOKEN),
    },
    # The host page's Supportdesk.setAttributes() (JSON): the visitor's own attributes only.
    "chat:widget_attributes": {
        "GET": every(NOT_ALLOWED),
        "POST": (TOKEN, NO_CONTENT, NO_CONTENT, TOKEN, TOKEN, TOKEN, TOKEN),
    },
    "chat:widget_profile": {
        "GET": every(NOT_ALLOWED),
        "POST": (TOKEN, NO_CONTENT, NO_CONTENT, TOKEN, TOKEN, TOKEN, TOKEN),
    },
    # Conversation A has ended (SETUP), so its owner may rate it; visitor B may not.
    "chat:widget_rate": {
        "GET": every(NOT_ALLOWED),
        "POST": (TOKEN, OK, NOT_FOUND, TOKEN, TOKEN, TOKEN, TOKEN),
    },
    # Files (chat.attachments): conversation A's image, sent by visitor A. A visitor's links
    # carry their file pass; without one (as here) nobody gets a file by the widget's route.
    "chat:widget_file_upload": {
        "GET": every(NOT_ALLOWED),
        "POST": (TOKEN, CREATED, CREATED, TOKEN, TOKEN, TOKEN, TOKEN),
    },
    "chat:widget_file_discard": {  # visitor A's own upload, not yet sent
        "GET": every(NOT_ALLOWED),
        "POST": (TOKEN, NO_CONTENT, NOT_FOUND, TOKEN, TOKEN, TOKEN, TOKEN),
    },
    "chat:file_download": {"GET": every(NOT_FOUND), "POST": every(NOT_ALLOWED)},
    "chat:file_thumbnail": {"GET": every(NOT_FOUND), "POST": every(NOT_ALLOWED)},
    "agents:file_upload": {
        "GET": every(NOT_ALLOWED),
        "POST": (LOGIN, LOGIN, LOGIN, CREATED, NOT_FOUND, CREATED, FORBIDDEN),
    },
    "agents:file_discard": {  # the agent's own upload, not yet sent
        "GET": every(NOT_ALLOWED),
        "POST": (LOGIN, LOGIN, LOGIN, NO_CONTENT, NOT_FOUND, NOT_FOUND, FORBIDDEN),
    },
    "agents:file_download": {
        "GET": (LOGIN, LOGIN, LOGIN, OK, NOT_FOUND, OK, FORBIDDEN),
        "POST": every(NOT_ALLOWED),
    },
    "agents:file_thumbnail": {
        "GET": (LOGIN, LOGIN, LOGIN, OK, NOT_FOUND, OK, FORBIDDEN),
        "POST": every(NOT_ALLOWED),
    },
    "chat:demo": {"GET": every(OK), "POST": every(NOT_ALLOWED)},
    # Email (mail.views). A link from an email is its own authority: whoever holds conversation
    # A's link gets its page, and its button hands A's session to the widget page (tests/mail).
    "mail:continue": {"GET": every(OK), "POST": every(Outcome(303, to="/widget/"))},
    "mail:unsubscribe": {"GET": every(OK), "POST": every(OK)},  # RFC 8058: no session, no CSRF
    # The mail server's route: no role carries its secret (unset here: the route is off).
    "mail:inbound": {
        "GET": every(NOT_ALLOWED),
        "POST": every(Outcome(404, error="inbound_off", refused=True)),
    },
    "mail:settings": {
        "GET": (LOGIN, LOGIN, LOGIN, OK, OK, OK, FORBIDDEN),
        "POST": (LOGIN, LOGIN, LOGIN, *(to("/mail/settings/"),) * 3, FORBIDDEN),
    },
    # Conversation A has ended (SETUP): its owner may have its transcript; visitor B may not.
    "mail:widget_transcript": {
        "GET": every(NOT_ALLOWED),
        "POST": (TOKEN, Outcome(202), NOT_FOUND, TOKEN, TOKEN, TOKEN, TOKEN),
    },
    "mail:agent_transcript": {
        "GET": every(NOT_ALLOWED),
        "POST": (LOGIN, LOGIN, LOGIN, Outcome(202), NOT_FOUND, Outcome(202), FORBIDDEN),
    },
    # Operations: probes for load balancers (no login, nothing secret), metrics (404 while
    # SUPPORTDESK_METRICS_TOKEN is unset, as here), the status page (the admin's: staff only).
    "healthz": {"GET": every(OK), "POST": every(NOT_ALLOWED)},
    "readyz": {"GET": every(OK), "POST": every(NOT_ALLOWED)},
    "metrics": {"GET": every(NOT_FOUND), "POST": every(NOT_ALLOWED)},
    "ops_status": {"GET": staff_only(OK)},
    # The Django admin's own pages; each model's pages follow `admin_rule` below.
    "admin:index": {"GET": staff_only(OK)},
    # A logged-in non-staff user gets the form (with "not authorized"); staff go to the index.
    "admin:login": {"GET": (*(OK,) * 6, to("/admin/")), "POST": every(to("/admin/"))},
    "admin:logout": {
        "GET": (*(to("/admin/", refused=True),) * 6, NOT_ALLOWED),
        "POST": (*(to("/admin/", refused=True),) * 6, to("/accounts/login/")),
    },
    "admin:password_change": {"GET": staff_only(OK)},
    "admin:password_change_done": {"GET": staff_only(OK)},
    "admin:autocomplete": {"GET": staff_only(OK)},
    "admin:jsi18n": {"GET": staff_only(OK)},
    "admin:view_on_site": {"GET": staff_only(NOT_FOUND)},  # no model has get_absolute_url
    "admin:app_list": {"GET": staff_only(OK)},
    "/admin/(?P<url>.*)$": {"GET": staff_only(NOT_FOUND)},  # the admin's catch-all
    "admin:auth_user_password_change": {"GET": staff_only(OK)},
}

# Model admins that refuse adding or deleting to everyone (the audit log, conversation history).
ADMIN_NO_ADD = {"chat.conversation", "chat.message", "agents.activity"}
ADMIN_NO_DELETE = {"agents.activity"}
# Model admins that only show and delete (mail's queue and unsubscribe list, calls): no adding, and with
# no change permission Django goes back to the admin's index after a deletion.
ADMIN_READ_ONLY = {
    "mail.outboundemail",
    "mail.unsubscribe",
    "webhooks.webhookdelivery",
    "chat.call",  # the record of calls, as they happened
}


def admin_rule() -> dict[str, dict[str, Row]]:
    """The entries of every registered model's standard admin pages."""
    entries: dict[str, dict[str, Row]] = {}
    for model in admin.site._registry:
        app, name = model._meta.app_label, model._meta.model_name
        base, label = f"admin:{app}_{name}", f"{app}.{name}"
        can_delete = label not in ADMIN_NO_DELETE
        after_delete = "/admin/" if label in ADMIN_READ_ONLY else f"/admin/{app}/{name}/"
        no_add = label in ADMIN_NO_ADD | ADMIN_READ_ONLY
        entries.update(
            {
                f"{base}_changelist": {"GET": staff_only(OK)},
                f"{base}_add": {"GET": staff_only(FORBIDDEN if no_add else OK)},
                f"{base}_history": {"GET": staff_only(OK)},
                f"{base}_change": {"GET": staff_only(OK)},
                f"{base}_delete": {
                    "GET": staff_only(OK if can_delete else FORBIDDEN),
                    "POST": staff_only(to(after_delete) if can_delete else FORBIDDEN),
                },
                # The pre-1.9 change URL, kept by Django as a redirect.
                f"/admin/{app}/{name}/<path:object_id>/": {
                    "GET": staff_only(to(f"/admin/{app}/{name}/{{object_id}}/change/"))
                },
            }
        )
    return entries


EXPECTED.update(admin_rule())
# Visitors' personal data (chat.admin.VisitorAdmin): export, and erasure with everything keyed to
# the visitor. Django's delete page leads to the erasure, which confirms first.
ERASE = "/admin/chat/visitor/{object_id}/erase/"
EXPECTED.update(
    {
        "admin:chat_visitor_delete": {"GET": staff_only(to(ERASE)), "POST": staff_only(to(ERASE))},
        "admin:chat_visitor_export": {"GET": staff_only(OK)},
        "admin:chat_visitor_erase": {
            "GET": staff_only(OK),
            "POST": staff_only(to("/admin/chat/visitor/")),
        },
        # Signing the visitor out everywhere (chat.services.visitor_sessions_revoke): POST only.
        "admin:chat_visitor_sign_out": {
            "GET": staff_only(NOT_ALLOWED),
            "POST": staff_only(to("/admin/chat/visitor/{object_id}/change/")),
        },
    }
)


def inbox_changers_only(outcome: Outcome) -> Row:
    """The inbox's Install page (chat.admin_install): staff who may change inboxes; anyone else
    signed in gets the desk's 403 page (not the admin's login form), the signed-out its login."""
    return (ADMIN_LOGIN,) * 3 + (FORBIDDEN,) * 3 + (outcome,)


EXPECTED.update(
    {
        "admin:chat_inbox_install": {
            "GET": inbox_changers_only(OK),
            "POST": inbox_changers_only(to("/admin/chat/inbox/{object_id}/install/")),
        },
        "admin:chat_inbox_install_seen": {"GET": inbox_changers_only(OK)},
        # Reveal: POST only (each reveal is in the admin log).
        "admin:chat_inbox_install_secret": {
            "GET": every(NOT_ALLOWED),
            "POST": inbox_changers_only(OK),
        },
    }
)

#                                anonymous visitor_a  visitor_b  agent      outsider   admin      superuser
SOCKETS: dict[str, Row] = {
    "ws/widget/<str:public_key>/": (CLOSED, FOLLOWS_A, DEAF_TO_A, CLOSED, CLOSED, CLOSED, CLOSED),
    "ws/agents/": (CLOSED, CLOSED, CLOSED, FOLLOWS_A, DEAF_TO_A, FOLLOWS_A, CLOSED),
}


# --- The routes, from the configuration itself ---------------------------------------------


def join(prefix: str, route: str) -> str:
    """A nested pattern's full route, as Django's ResolverMatch.route spells it."""
    return prefix + route.removeprefix("^") if prefix else route


def http_routes() -> list[tuple[str, str]]:
    """Every HTTP URL pattern as (key, full route): the key is the namespaced name, or "/" and
    the route for an unnamed pattern."""
    found: list[tuple[str, str]] = []

    def walk(resolver: URLResolver, prefix: str, namespace: str) -> None:
        for pattern in resolver.url_patterns:
            route = join(prefix, str(pattern.pattern))
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern, route, inner)
            else:
                found.append((f"{namespace}{pattern.name}" if pattern.name else f"/{route}", route))

    walk(get_resolver(), "", "")
    return found


def socket_router() -> URLRouter:
    """The URLRouter inside the ASGI application's websocket stack (origin check, cookies,
    session, auth: each middleware keeps the next as `.application` or `.inner`)."""
    app: Any = application.application_mapping["websocket"]
    while not isinstance(app, URLRouter):
        inner = getattr(app, "application", None) or getattr(app, "inner", None)
        assert inner is not None, f"cannot see past {type(app).__name__} to the URLRouter"
        app = inner
    return app


def socket_routes(router: URLRouter, prefix: str = "") -> list[str]:
    found: list[str] = []
    for route in router.routes:
        full = join(prefix, str(route.pattern))
        if isinstance(route.callback, URLRouter):
            found += socket_routes(route.callback, full)
        else:
            found.append(full)
    return found


HTTP_ROUTES = http_routes()
ROUTE_OF = dict(HTTP_ROUTES)
SOCKET_ROUTES = socket_routes(socket_router())


def cases(keys: list[str]) -> list[Any]:
    return [pytest.param(key, role, id=f"{key}-{role}") for key in keys for role in ROLES]


# --- The world every case starts from --------------------------------------------------------


@dataclass
class World:
    inbox: Inbox
    other_inbox: Inbox
    visitor_a: Visitor
    visitor_b: Visitor
    conversation_a: Conversation
    agent: Agent
    colleague: Agent  # a second agent of inbox 1: the one a transfer goes to
    outsider: Agent
    admin: Agent
    superuser: AbstractBaseUser
    saved_reply: CannedResponse  # the agent's own
    group: Group
    file_a: Attachment  # an image in conversation A, sent by visitor A
    pending_a: Attachment  # visitor A's upload, not sent
    pending_agent: Attachment  # the agent's upload, not sent
    sessions: dict[str, str] = field(default_factory=dict)  # role: session key, logged in once

    def user(self, role: str) -> AbstractBaseUser | None:
        if role == "superuser":
            return self.superuser
        agent = {"agent": self.agent, "outsider": self.outsider, "admin": self.admin}.get(role)
        return agent.user if agent else None

    def token(self, role: str) -> str | None:
        visitor = {"visitor_a": self.visitor_a, "visitor_b": self.visitor_b}.get(role)
        return visitor_token(visitor) if visitor else None

    def admin_object(self, label: str) -> Model:
        """One real object of each model the admin shows (its pages get real ids)."""
        activity = self.outsider.activities.first()
        objects = {
            "auth.user": self.agent.user,
            "auth.group": self.group,
            "chat.inbox": self.inbox,
            "chat.visitor": self.visitor_a,
            "chat.conversation": self.conversation_a,
            "chat.message": self.conversation_a.messages.order_by("seq").first(),
            "agents.agent": self.agent,
            "agents.cannedresponse": self.saved_reply,
            "agents.activity": activity,
            "mail.inboxmailsettings": InboxMailSettings.objects.get(inbox=self.inbox),
            "mail.agentmailsettings": AgentMailSettings.objects.get(agent=self.agent),
            "mail.outboundemail": OutboundEmail.objects.get(conversation=self.conversation_a),
            "mail.unsubscribe": Unsubscribe.objects.get(inbox=self.inbox),
            # Switched off: the world's chats must not start with a bot.
            "bots.bot": Bot.objects.get_or_create(inbox=self.inbox, defaults={"is_active": False})[
                0
            ],
            "api.apitoken": api_token_of(self.agent),
            "webhooks.webhookendpoint": webhook_endpoint(self.inbox),
            "webhooks.webhookdelivery": webhook_delivery(self.inbox, self.conversation_a),
            "chat.call": Call.objects.get_or_create(
                conversation=self.conversation_a,
                defaults={"kind": "voice", "status": "declined", "agent": self.agent},
            )[0],
        }
        if label not in objects:
            pytest.fail(f"the admin shows {label}: give World.admin_object one of them")
        return objects[label]


def webhook_endpoint(inbox: Inbox) -> WebhookEndpoint:
    return WebhookEndpoint.objects.get_or_create(
        inbox=inbox, defaults={"url": "https://93.184.215.14/hook"}
    )[0]


def webhook_delivery(inbox: Inbox, conversation: Conversation) -> WebhookDelivery:
    return WebhookDelivery.objects.get_or_create(
        endpoint=webhook_endpoint(inbox),
        defaults={
            "event": "message.created",
            "conversation": conversation,
            "seq": 1,
            "payload": {"event": "message.created"},
            "next_attempt_at": timezone.now(),
        },
    )[0]


def image_upload(name: str) -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(out, "PNG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/png")


def build_world() -> World:
    User = get_user_model()
    inbox = Inbox.objects.create(name="Acme support")
    other_inbox = Inbox.objects.create(name="Other company")
    visitor_a, visitor_b = visitor_create(inbox=inbox), visitor_create(inbox=inbox)
    conversation_a = send_sync(visitor_a, SECRET_A).conversation
    send_sync(visitor_b, "Visitor B asks something else.")

    def agent(username: str, inboxes: list[Inbox]) -> Agent:
        user = User.objects.create_user(username, password=PASSWORD)
        return agent_create(user=user, display_name=username.title(), inboxes=inboxes)

    outsider = agent("mallory", [other_inbox])
    # The outsider's own chat, claimed: they have work of their own, and the log an entry.
    their_chat = send_sync(
        visitor_create(inbox=other_inbox), "A question for inbox 2."
    ).conversation
    conversation_claim(conversation=their_chat, agent=outsider)
    boss = agent("ada", [])
    boss.role = Agent.Role.ADMIN
    boss.save(update_fields=["role"])
    alice = agent("alice", [inbox])
    # The mail app's rows, for its admin pages.
    InboxMailSettings.objects.create(inbox=inbox)
    AgentMailSettings.objects.create(agent=alice, missed_chats=True)
    Unsubscribe.objects.create(inbox=inbox, address_key="0" * 64)
    OutboundEmail.objects.create(
        kind="transcript",
        dedupe_key="matrix",
        inbox=inbox,
        conversation=conversation_a,
        to="ann@example.com",
        subject="Your chat",
        text="…",
        html="…",
        message_id="<matrix@desk.example>",
        next_attempt_at=conversation_a.created_at,
    )
    file_a = attachment_upload(inbox=inbox, upload=image_upload("parcel.png"), visitor=visitor_a)
    attachments_claim(conversation_a.messages.get(seq=1), [file_a.key], visitor=visitor_a)
    return World(
        file_a=file_a,
        pending_a=attachment_upload(inbox=inbox, upload=image_upload("a.png"), visitor=visitor_a),
        pending_agent=attachment_upload(inbox=inbox, upload=image_upload("b.png"), agent=alice),
        inbox=inbox,
        other_inbox=other_inbox,
        visitor_a=visitor_a,
        visitor_b=visitor_b,
        conversation_a=conversation_a,
        agent=alice,
        colleague=agent("bob", [inbox]),
        outsider=outsider,
        admin=boss,
        superuser=User.objects.create_superuser("root", password=PASSWORD),
        saved_reply=saved_reply_create(agent=alice, shortcut="hello", body="Hello there!"),
        group=Group.objects.create(name="Leads"),
    )


def kwargs_for(key: str, route: str, world: World) -> dict[str, Any]:
    """Real values for the route's kwargs."""
    names = GROUP.findall(route) + CONVERTER.findall(GROUP.sub("", route))
    values = {
        "pk": world.conversation_a.pk,
        "public_key": world.inbox.public_key,
        "app_label": "chat",
        "url": "no-such-page/",
        **KWARGS.get(key, lambda w: {})(world),
    }
    if "<path:object_id>" in route and "object_id" not in values:  # a model's admin page
        app, model = route.split("/")[1:3]
        values["object_id"] = world.admin_object(f"{app}.{model}").pk
    kwargs = {}
    for name in names:
        if name not in values:
            pytest.fail(f"{key}: no value for <{name}>; add one to KWARGS")
        kwargs[name] = values[name]
    return kwargs


KWARGS: dict[str, Callable[[World], dict[str, Any]]] = {
    "agents:reply_delete": lambda w: {"pk": w.saved_reply.pk},
    "chat:agent_face": lambda w: {"agent_id": w.agent.pk},
    **{
        route: (lambda w: {"key": w.file_a.key, "name": w.file_a.name})
        for route in (
            "chat:file_download",
            "chat:file_thumbnail",
            "agents:file_download",
            "agents:file_thumbnail",
        )
    },
    "chat:widget_file_discard": lambda w: {"key": w.pending_a.key},
    "agents:file_discard": lambda w: {"key": w.pending_agent.key},
    "admin:view_on_site": lambda w: {
        "content_type_id": ContentType.objects.get_for_model(Conversation).pk,
        "object_id": w.conversation_a.pk,
    },
    "admin:auth_user_password_change": lambda w: {"id": w.agent.user.pk},
    "mail:continue": lambda w: {"token": continue_token(w.conversation_a)},
    "mail:unsubscribe": lambda w: {
        "token": unsubscribe_token(inbox_id=w.inbox.pk, address="ann@example.com")
    },
}


GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")  # a named regex group
CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")  # a path converter


def path_of(route: str, kwargs: dict[str, Any]) -> str:
    """The route with its kwargs filled in."""
    path = GROUP.sub(lambda m: str(kwargs[m[1]]), route)
    path = CONVERTER.sub(lambda m: str(kwargs[m[1]]), path)
    return "/" + path.removeprefix("^").removesuffix("$")


# Request bodies (and GET queries) a permitted role succeeds with.
BODIES: dict[str, Callable[[World], dict[str, dict[str, Any]]]] = {
    "login": lambda w: {"POST": {"username": "alice", "password": PASSWORD}},
    # The admin's form carries next=/admin/ (without it, LOGIN_REDIRECT_URL: the dashboard).
    "admin:login": lambda w: {
        "POST": {"username": "root", "password": PASSWORD, "next": "/admin/"}
    },
    "agents:search": lambda w: {"GET": {"q": "parcel"}},
    "admin:chat_inbox_install": lambda w: {
        "POST": {"greeting": "Hi!", "accent_color": "#e8590c", "launcher_position": "left"}
    },
    "agents:history": lambda w: {"GET": {"before": "1000"}},
    "agents:availability": lambda w: {"POST": {"availability": "away"}},
    "agents:replies": lambda w: {"POST": {"shortcut": "thanks", "body": "Thank you!"}},
    "agents:reply": lambda w: {"POST": {"body": "On it.", "client_id": str(uuid.uuid4())}},
    "agents:note": lambda w: {"POST": {"body": "VIP.", "client_id": str(uuid.uuid4())}},
    "agents:transfer": lambda w: {"POST": {"to": w.colleague.pk, "note": "Yours, Bob."}},
    "agents:labels": lambda w: {
        "POST": {"label": Label.objects.get(inbox=w.inbox, name="Billing").pk, "on": "1"}
    },
    "agents:snooze": lambda w: {"POST": {"for": "reply"}},
    "chat:widget_send": lambda w: {"POST": {"body": "Hello?", "client_id": str(uuid.uuid4())}},
    "chat:widget_context": lambda w: {"POST": {"current_url": "https://shop.example/cart"}},
    "chat:widget_email": lambda w: {"POST": {"email": "ann@example.com"}},
    "chat:widget_attributes": lambda w: {"POST": {"attributes": {"plan": "pro"}}},
    "chat:widget_profile": lambda w: {"POST": {"name": "Ann", "email": "ann@example.com"}},
    "chat:widget_rate": lambda w: {"POST": {"rating": "5", "comment": "Quick and kind."}},
    "mail:settings": lambda w: {"POST": {"missed_chats": "on"}},
    "mail:widget_transcript": lambda w: {"POST": {"email": "ann@example.com"}},
    "chat:widget_file_upload": lambda w: {"POST": {"file": image_upload("shot.png")}},
    "agents:file_upload": lambda w: {"POST": {"file": image_upload("shot.png")}},
    "admin:autocomplete": lambda w: {
        "GET": {"app_label": "agents", "model_name": "agent", "field_name": "user", "term": "a"}
    },
    **{
        f"admin:{model._meta.app_label}_{model._meta.model_name}_delete": (
            lambda w: {"POST": {"post": "yes"}}
        )
        for model in admin.site._registry
    },
}

SETUP: dict[str, Callable[[World], object]] = {
    "agents:reopen": lambda w: conversation_end(conversation=w.conversation_a, by=w.agent),
    "agents:labels": lambda w: Label.objects.create(inbox=w.inbox, name="Billing"),
    "chat:widget_rate": lambda w: conversation_end(conversation=w.conversation_a, by=w.agent),
    "mail:widget_transcript": lambda w: conversation_end(conversation=w.conversation_a, by=w.agent),
    "mail:agent_transcript": lambda w: visitor_profile_set(
        visitor=w.visitor_a, email="ann@example.com"
    ),
}


# --- The REST API (api/, docs/API.md) ----------------------------------------------------------
# By session (the columns above), the API answers as the dashboard does: 401 without a login
# (JSON, not a redirect: it is an API), the agent's own objects, 404 for another inbox's (not
# 403), 403 for a user who is not an agent. By token (TestApiTokens), the same, as the token's
# agent. Its JSON routes take JSON bodies; its pages (the agent's tokens) are forms.
API_PAGES = {"api:tokens_page", "api:token_revoke"}
API_PUBLIC = {"api:schema", "api:docs"}  # the schema and its docs: no data, no login
UNAUTH = Outcome(401, error="not_authenticated", refused=True)
NOT_AN_AGENT = Outcome(403, error="not_an_agent", refused=True)
BAD_TOKEN = Outcome(401, error="bad_token", refused=True)
NOT_A_BOT = Outcome(403, error="not_a_bot", refused=True)  # the bot's routes, without its token
BOT_TOKEN = Outcome(403, error="bot_token", refused=True)  # a bot's token on an agent's route
# The bot's routes with its token, on conversation A (an agent's chat, not the bot's): past
# every check of who is asking, the domain's answer (docs/API.md, "Bots").
NOT_WITH_BOT = Outcome(409, error="not_with_bot", refused=True)
BOT_ROUTES = {"api:bot_messages", "api:bot_handover"}


def api(agent: Outcome, outsider: Outcome, admin: Outcome) -> Row:
    return (UNAUTH, UNAUTH, UNAUTH, agent, outsider, admin, NOT_AN_AGENT)


API_READ = api(OK, OK, OK)  # a list of what each may see
API_A = api(OK, NOT_FOUND, OK)  # an object of inbox 1 (conversation A, its visitor, the inbox)
API_405 = api(NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED)  # after the login check, as DRF orders it
EXPECTED.update(
    {
        "api:schema": {"GET": every(OK), "POST": every(NOT_ALLOWED)},
        "api:docs": {"GET": every(OK), "POST": every(NOT_ALLOWED)},
        "api:inboxes": {"GET": API_READ, "POST": API_405},
        "api:inbox": {"GET": API_A, "POST": API_405},
        "api:conversations": {"GET": API_READ, "POST": API_405},
        "api:conversation": {"GET": API_A, "POST": API_405},
        "api:messages": {
            "GET": api(SEES_A, NOT_FOUND, SEES_A),
            "POST": api(CREATED, NOT_FOUND, CREATED),
        },
        **{
            f"api:{action}": {"GET": API_405, "POST": API_A}
            for action in ("claim", "assign", "transfer", "end", "read")
        },
        "api:visitors": {"GET": API_READ, "POST": API_405},
        "api:visitor": {"GET": API_A, "POST": API_405},
        "api:saved_replies": {"GET": API_READ, "POST": API_405},
        "api:agents": {"GET": API_READ, "POST": API_405},
        "api:agent": {"GET": API_A, "POST": API_405},  # Alice: not a colleague of the outsider
        "api:availability": {"GET": API_405, "POST": API_READ},
        # A webhook bot's routes: its token only (the columns by token, below).
        **{
            key: {method: (UNAUTH,) * 3 + (NOT_A_BOT,) * 4 for method in ("GET", "POST")}
            for key in BOT_ROUTES
        },
        "api:tokens_page": {
            "GET": (LOGIN, LOGIN, LOGIN, OK, OK, OK, FORBIDDEN),
            "POST": (LOGIN, LOGIN, LOGIN, OK, OK, OK, FORBIDDEN),
        },
        # pk: the agent's own token; only its owner may revoke it here (admins: in the admin).
        "api:token_revoke": {
            "GET": every(NOT_ALLOWED),
            "POST": (LOGIN, LOGIN, LOGIN, to("/api/v1/tokens/"), NOT_FOUND, NOT_FOUND, FORBIDDEN),
        },
    }
)
KWARGS.update(
    {
        "api:inbox": lambda w: {"pk": w.inbox.pk},
        "api:visitor": lambda w: {"pk": w.visitor_a.pk},
        "api:agent": lambda w: {"pk": w.agent.pk},
        "api:token_revoke": lambda w: {"pk": api_token_of(w.agent).pk},
    }
)
BODIES.update(
    {
        "api:messages": lambda w: {"POST": {"body": "On it.", "client_id": str(uuid.uuid4())}},
        "api:assign": lambda w: {"POST": {"agent": w.colleague.pk}},
        "api:transfer": lambda w: {"POST": {"agent": w.colleague.pk, "note": "Yours, Bob."}},
        "api:read": lambda w: {"POST": {"seq": 1}},
        "api:availability": lambda w: {"POST": {"availability": "away"}},
        "api:tokens_page": lambda w: {"POST": {"name": "CI", "scopes": ["read"]}},
        "api:bot_messages": lambda w: {"POST": {"body": "Hi!", "client_id": str(uuid.uuid4())}},
        "api:bot_handover": lambda w: {"POST": {"message": "Over to the team."}},
    }
)


def api_token_of(agent: Agent) -> ApiToken:
    """The agent's token (made once per world)."""
    return ApiToken.objects.filter(agent=agent, name="matrix").first() or (
        api_token_create(agent=agent, name="matrix", scopes=["read", "write"]).token
    )


def request_checked(
    client: Client,
    method: str,
    url: str,
    key: str,
    data: dict[str, Any],
    outcome: Outcome,
    kwargs: dict[str, Any],
    who: str,
) -> None:
    """`method` `url` answers `outcome`; a refused request changed no table."""
    before = snapshot() if outcome.refused else None
    request = client.get if method == "GET" else client.post
    response = request(url, data.get(method, {}), **send_json(key, method))
    check(outcome, response, kwargs, f"{method} {url} {who}")
    if before is not None:
        after = snapshot()
        changed = [table for table in before if after[table] != before[table]]
        assert not changed, f"{method} {url} {who} was refused, yet changed {changed}"


def send_json(key: str, method: str) -> dict[str, str]:
    """The API's JSON routes take JSON bodies (a form body is a 415)."""
    if method == "POST" and key.startswith("api:") and key not in API_PAGES | API_PUBLIC:
        return {"content_type": "application/json"}
    if method == "POST" and key == "chat:widget_attributes":  # the SDK's JSON
        return {"content_type": "application/json"}
    return {}


def client_for(role: str, world: World) -> Client:
    token = world.token(role)
    client = Client(
        enforce_csrf_checks=True,
        headers={"X-CSRFToken": CSRF_TOKEN, **({"X-Visitor-Token": token} if token else {})},
    )
    client.cookies[settings.CSRF_COOKIE_NAME] = CSRF_TOKEN
    if role in world.sessions:
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[role]
    elif (user := world.user(role)) is not None:
        client.force_login(user)
    return client


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row the desk keeps, memberships included (sessions aside): a refused request
    changes none of them. Plain SQL: this runs twice per refused request."""
    tables = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label in ("chat", "agents", "mail", "auth", "admin")
    }
    with connection.cursor() as cursor:
        rows = {}
        for table in sorted(tables):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)} ORDER BY 1")  # noqa: S608 - our table names
            rows[table] = cursor.fetchall()
    return rows


def check(outcome: Outcome, response: HttpResponse, kwargs: dict[str, Any], what: str) -> None:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    body = content.decode(errors="replace")
    said = response.get("Location") or body[:300]
    assert response.status_code == outcome.status, (
        f"{what}: expected {outcome}, got {response.status_code}: {said}"
    )
    if outcome.to is not None:
        assert response["Location"].startswith(outcome.to.format(**kwargs)), (
            f"{what}: expected {outcome}, redirected to {response['Location']}"
        )
    if outcome.error is not None:
        assert response.json()["error"].startswith(outcome.error), f"{what}: {body}"
    if outcome.shows_a is not None:
        assert (MARKER_A in body) == outcome.shows_a, f"{what}: expected {outcome}"


# --- The tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def fast_passwords() -> Iterator[None]:
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="module", autouse=True)
def email_set_up() -> Iterator[None]:
    """Email links have an address to point at, so the transcript routes can succeed."""
    with override_settings(SUPPORTDESK_SITE_URL="http://testserver"):
        yield


def test_every_route_has_an_entry() -> None:
    missing = [f"{key} ({route})" for key, route in HTTP_ROUTES if key not in EXPECTED]
    missing += [route for route in SOCKET_ROUTES if route not in SOCKETS]
    assert not missing, f"routes without an entry in the matrix: {', '.join(missing)}"


def test_every_entry_names_a_route() -> None:
    stale = [key for key in EXPECTED if key not in ROUTE_OF]
    stale += [route for route in SOCKETS if route not in SOCKET_ROUTES]
    assert not stale, f"entries whose route is gone: {', '.join(stale)}"


def test_every_route_has_a_key_of_its_own() -> None:
    keys = [key for key, _ in HTTP_ROUTES] + SOCKET_ROUTES
    assert sorted(set(keys)) == sorted(keys), "two routes share a name: the matrix misses one"


def test_the_socket_router_serves_every_routing_module() -> None:
    listed = []
    for config in apps.get_app_configs():
        if find_spec(config.name) and find_spec(f"{config.name}.routing"):
            module = import_module(f"{config.name}.routing")
            listed += [str(p.pattern) for p in getattr(module, "websocket_urlpatterns", [])]
    assert sorted(listed) == sorted(SOCKET_ROUTES)


@pytest.fixture(scope="class")
def shared_world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """The world of TestHttp, built once (with its agents logged in) in a transaction that is
    rolled back at the end of the class."""
    with django_db_blocker.unblock(), transaction.atomic():
        world = build_world()
        for role in ROLES:
            if (user := world.user(role)) is not None:
                cookie = session_cookie(user)[1].decode()
                world.sessions[role] = cookie.removeprefix("sessionid=")
        yield world
        transaction.set_rollback(True)


@pytest.mark.django_db
class TestHttp:
    """Each case runs in a savepoint of its own (pytest-django's `db`) inside the shared world's
    transaction: no case sees another's changes."""

    @pytest.fixture
    def world(self, shared_world: World, db: None) -> World:
        return copy.deepcopy(shared_world)  # a case's changes to the instances stay its own

    @pytest.mark.parametrize(("key", "role"), cases([key for key, _ in HTTP_ROUTES]))
    def test_route(self, key: str, role: str, world: World) -> None:
        if key not in EXPECTED:
            pytest.fail(f"route {ROUTE_OF[key]!r} ({key}) has no entry in EXPECTED")
        route = ROUTE_OF[key]
        kwargs = kwargs_for(key, route, world)
        url = path_of(route, kwargs)
        assert resolve(url).route == route, f"{url} does not reach {route}"
        client = client_for(role, world)
        SETUP.get(key, lambda w: None)(world)
        data = BODIES.get(key, lambda w: {})(world)
        for method, row in EXPECTED[key].items():
            outcome = row[ROLES.index(role)]
            request_checked(client, method, url, key, data, outcome, kwargs, f"as {role}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("route", "role"), cases(SOCKET_ROUTES))
async def test_socket(route: str, role: str) -> None:
    if route not in SOCKETS:
        pytest.fail(f"socket route {route!r} has no entry in SOCKETS")
    outcome = SOCKETS[route][ROLES.index(role)]
    world = await database_sync_to_async(build_world)()
    path = path_of(route, await database_sync_to_async(kwargs_for)(route, route, world))
    headers = [*SAME_ORIGIN]
    protocols = None
    if (token := world.token(role)) is not None:
        protocols = protocols_for(token)
    if (user := world.user(role)) is not None:
        headers.append(await database_sync_to_async(session_cookie)(user))
    socket = Communicator(application, path, headers=headers, subprotocols=protocols)
    opened = [socket]
    try:
        connected, code = await socket.connect(timeout=5)
        assert connected, f"{path} as {role}: refused during the handshake ({code})"
        if outcome == CLOSED:
            closed = await socket.receive_output(timeout=5)
            assert closed == {"type": "websocket.close", "code": CLOSE_UNAUTHORIZED}, closed
            return
        a = world.conversation_a.pk
        frames = await answer(socket, {"type": "resume", "conversation": a, "after": 0})
        html = "".join(frame.get("html", "") for frame in frames)
        if outcome.shows_a:
            assert frames[-1] == {"type": "synced", "conversation": a, "seq": 1}, frames[-1]
            assert MARKER_A in html
            live = await send(world.visitor_a, "Still there?")
            await until(socket, lambda f: f.get("conversation") == a and f.get("seq") == live.seq)
            return
        assert frames[-1]["type"] == "error", frames[-1]
        assert frames[-1]["code"] == "not_found"
        assert MARKER_A not in html
        assert f"msg-{a}-" not in html
        for frame in [
            {"type": "read", "conversation": a, "seq": 1},
            {"type": "typing", "conversation": a, "state": "typing"},
        ]:
            assert (await answer(socket, frame))[-1]["code"] == "not_found", frame
        # A message in A reaches inbox 1's agent, and never this socket.
        control = await agent_socket(world.agent)
        opened.append(control)
        await send(world.visitor_a, "Still there?")
        await until(control, lambda f: f'id="conv-row-{a}"' in f.get("html", ""))
        assert await socket.receive_nothing(timeout=0.2)
    finally:
        for communicator in opened:
            await communicator.disconnect()


async def answer(socket: Communicator, frame: dict[str, Any]) -> list[dict[str, Any]]:
    """Send `frame`; the frames up to the `synced` or `error` that ends the answer."""
    await socket.send_json_to(frame)
    frames = [await socket.receive_json_from(timeout=5)]
    while frames[-1]["type"] not in ("synced", "error"):
        frames.append(await socket.receive_json_from(timeout=5))
    return frames


async def until(socket: Communicator, found: Callable[[dict[str, Any]], bool]) -> None:
    for _ in range(20):
        if found(await socket.receive_json_from(timeout=5)):
            return
    raise AssertionError("the frame never came")


# --- The REST API by token -----------------------------------------------------------------------

TOKEN_ROLES = (
    "token_agent",
    "token_outsider",
    "token_admin",
    "token_revoked",
    "no_token",
    "token_bot",  # the webhook bot of inbox 1
    "token_other_bot",  # the webhook bot of inbox 2
)
API_ROUTES = [key for key, _ in HTTP_ROUTES if key.startswith("api:")]


def token_row(key: str, method: str) -> tuple[Outcome, ...]:
    """What each token gets: what its agent gets by session (a token acts as its agent); a
    revoked token is refused at once (401), no token is the 401 a logged-out caller gets. The
    schema and docs are public; the tokens page is a page of the workspace: a session's, never
    a token's (a token is no login). A bot's token works on the bot's routes only, for its own
    inbox's conversations (another inbox's is a 404); on an agent's route it is a 403."""
    row = EXPECTED[key][method]
    if key in API_PUBLIC:
        return (row[0],) * len(TOKEN_ROLES)
    if key in API_PAGES:  # as for an anonymous caller: the login (GET), or 405; a POST
        # without the session's CSRF token is refused before anything else
        return (row[0] if method == "GET" else FORBIDDEN,) * len(TOKEN_ROLES)
    agent, outsider, admin = (row[ROLES.index(r)] for r in ("agent", "outsider", "admin"))
    if key in BOT_ROUTES:
        bots = (NOT_WITH_BOT, NOT_FOUND) if method == "POST" else (NOT_ALLOWED, NOT_ALLOWED)
    else:
        bots = (BOT_TOKEN, BOT_TOKEN)
    return (agent, outsider, admin, BAD_TOKEN, UNAUTH, *bots)


def token_for_role(role: str, world: World) -> str | None:
    if role in ("token_bot", "token_other_bot"):
        inbox = world.inbox if role == "token_bot" else world.other_inbox
        bot, _ = Bot.objects.update_or_create(
            inbox=inbox, defaults={"kind": Bot.Kind.WEBHOOK, "is_active": True}
        )
        return api_token_create(bot=bot, name=role, scopes=["write"]).plaintext
    agent = {
        "token_agent": world.agent,
        "token_outsider": world.outsider,
        "token_admin": world.admin,
        "token_revoked": world.agent,
    }.get(role)
    if agent is None:
        return None
    made = api_token_create(agent=agent, name=role, scopes=["read", "write"])
    if role == "token_revoked":
        api_token_revoke(token=made.token)
    return made.plaintext


def test_every_api_route_is_tried_by_token() -> None:
    assert API_ROUTES, "no api: routes found"
    assert all(key in EXPECTED for key in API_ROUTES)


@pytest.mark.django_db
class TestApiTokens:
    """Every API route and method, with the token of an agent of inbox 1, of an agent of inbox
    2 only, of an admin, a revoked token, and none: no session, no CSRF token (a token needs
    none). Same world and savepoints as TestHttp."""

    @pytest.fixture
    def world(self, shared_world: World, db: None) -> World:
        return copy.deepcopy(shared_world)

    @pytest.mark.parametrize(
        ("key", "role"),
        [pytest.param(k, r, id=f"{k}-{r}") for k in API_ROUTES for r in TOKEN_ROLES],
    )
    def test_route(self, key: str, role: str, world: World) -> None:
        route = ROUTE_OF[key]
        kwargs = kwargs_for(key, route, world)
        url = path_of(route, kwargs)
        token = token_for_role(role, world)
        client = Client(
            enforce_csrf_checks=True,
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        SETUP.get(key, lambda w: None)(world)
        data = BODIES.get(key, lambda w: {})(world)
        for method in EXPECTED[key]:
            outcome = token_row(key, method)[TOKEN_ROLES.index(role)]
            request_checked(client, method, url, key, data, outcome, kwargs, f"with {role}")
