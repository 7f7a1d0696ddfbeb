"""Email over HTTP: the link back to a chat, one-click unsubscribe, the mail server's inbound
replies, the transcript buttons' endpoints, and an agent's email settings.

The link back to a chat (`continue_chat`) is exchanged for the visitor's widget token only on
a POST from its page: opening the link (as mail scanners do, for every link of every email)
changes nothing. The token then reaches the widget page in the URL's fragment, which browsers
never send to a server, so no access log keeps it (the same way embed.js hands the widget a
signed-in user): `/widget/KEY/#{"visitor_token": "...", "conversation": N}`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from agents.models import Agent
from agents.selectors import conversation_for_agent
from agents.views import agent_required
from chat import services as chat_services
from chat.models import Conversation, Inbox, Visitor
from chat.sending import Refused
from chat.tokens import visitor_token
from chat.views import UNREADABLE_BODY, json_error, refused_response, visitor_required
from mail import services, tokens
from mail.models import AgentMailSettings
from supportdesk import ratelimit

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Supportdesk-Secret"  # noqa: S105 - a header name, not a secret
INBOUND_MAX_BYTES = 10 * 1024 * 1024  # a raw email; its text is all that is kept


def masked(address: str) -> str:
    """`a…e@example.com`: enough for a person to know their address, not to learn another's."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…{local[-1:] if len(local) > 1 else ''}@{domain}"


@require_http_methods(["GET", "POST"])
@never_cache
def continue_chat(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the page of a link from a missed-replies email, with a button to continue. POST
    (the button): the visitor's widget token, handed to the inbox's widget page in the
    fragment of a 303. Only ever the visitor the link was sent to (mail.tokens)."""
    try:
        conversation = tokens.continue_conversation(token)
    except Refused as refused:
        return render(request, "mail/continue.html", {"error": refused}, status=refused.status)
    inbox = conversation.inbox
    if request.method == "GET":
        context = {
            "inbox": inbox,
            "address": masked(conversation.visitor.email),
            "action": request.path,
        }
        return render(request, "mail/continue.html", context)
    handover = json.dumps(
        {"visitor_token": visitor_token(conversation.visitor), "conversation": conversation.pk}
    )
    logger.info(
        "chat continued from an email",
        extra={
            "event": "mail.continued",
            "conversation_id": conversation.pk,
            "visitor_id": conversation.visitor_id,
        },
    )
    response = HttpResponseRedirect(
        reverse("chat:widget_page", args=[inbox.public_key]) + "#" + quote(handover, safe="")
    )
    response.status_code = 303  # a GET of the widget page, whatever the browser did before
    return response


@csrf_exempt  # RFC 8058: the mail provider POSTs from its own servers, without our cookies
@require_http_methods(["GET", "POST"])
@never_cache
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page with the button (opening a link must not unsubscribe: scanners open them
    all). POST, the button or the mail program's one-click (`List-Unsubscribe=One-Click`): no
    more visitor emails from the inbox to that address."""
    try:
        inbox_id, address_key = tokens.unsubscribe_claims(token)
    except Refused as refused:
        return render(request, "mail/unsubscribe.html", {"error": refused}, status=refused.status)
    inbox = Inbox.objects.filter(pk=inbox_id).first()
    if inbox is None:
        gone = Refused(404, "unknown_inbox", "This inbox no longer exists; it sends no email.")
        return render(request, "mail/unsubscribe.html", {"error": gone}, status=404)
    if request.method == "GET":
        return render(request, "mail/unsubscribe.html", {"inbox": inbox, "action": request.path})
    services.unsubscribe(inbox=inbox, address_key=address_key)
    return render(request, "mail/unsubscribe.html", {"inbox": inbox, "done": True})


@csrf_exempt  # a mail server's request, authenticated by the shared secret
@require_POST
def inbound(request: HttpRequest) -> HttpResponse:
    """A raw RFC 822 email from the mail server (Postfix `pipe`, an inbound-email webhook):
    a visitor's reply, stored as their message (mail.services.inbound_receive). The secret comes
    in the X-Supportdesk-Secret header, or as the password of HTTP Basic auth (for webhooks that
    can only put credentials in their URL). 201 stored, 200 a repeat, 202 an auto-reply dropped;
    refusals are JSON errors (docs/OPERATIONS.md, "Inbound email")."""
    secret = settings.SUPPORTDESK_MAIL_INBOUND_SECRET
    ip = ratelimit.client_ip(request)
    if not secret:
        logger.warning("inbound email refused: off", extra={"event": "mail.inbound_off", "ip": ip})
        return json_error(
            404, "inbound_off", "Inbound email is off (SUPPORTDESK_MAIL_INBOUND_SECRET is empty)."
        )
    if not _secret_given(request, secret):
        logger.warning(
            "inbound email refused: bad secret",
            extra={"event": "mail.inbound_bad_secret", "ip": ip},
        )
        response = json_error(401, "bad_secret", "The inbound email secret is missing or wrong.")
        response["WWW-Authenticate"] = 'Basic realm="supportdesk inbound email"'
        return response
    try:
        received = services.inbound_receive(_raw_email(request))
    except Refused as refused:
        logger.warning(
            "inbound email refused: %s",
            refused.code,
            extra={"event": "mail.inbound_refused", "code": refused.code, "ip": ip},
        )
        return refused_response(refused)
    message = received.message
    answer: dict[str, object] = {"outcome": received.outcome}
    if message is not None:
        answer |= {"conversation": message.conversation_id, "seq": message.seq}
        logger.info(
            "inbound email %s",
            received.outcome,
            extra={
                "event": f"mail.inbound_{received.outcome}",
                "conversation_id": message.conversation_id,
                "seq": message.seq,
            },
        )
    status = {"stored": 201, "duplicate": 200, "ignored": 202}[received.outcome]
    return JsonResponse(answer, status=status)


def _secret_given(request: HttpRequest, secret: str) -> bool:
    """Whether the request carries `secret` (header, or Basic auth's password), compared in
    constant time."""
    given = request.headers.get(SECRET_HEADER, "")
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if not given and scheme.lower() == "basic":
        try:
            given = base64.b64decode(credentials, validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            given = ""
    return bool(given) and hmac.compare_digest(given.encode(), secret.encode())


def _raw_email(request: HttpRequest) -> bytes:
    """The raw email: the body itself, or a webhook's form field `email` (SendGrid) or
    `body-mime` (Mailgun), or an uploaded file of either name. `Refused` (400, 413) else."""
    too_big = Refused(413, "email_too_big", f"An email may have at most {INBOUND_MAX_BYTES} bytes.")
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            upload = request.FILES.get("email") or request.FILES.get("body-mime")
            field = request.POST.get("email") or request.POST.get("body-mime") or ""
        except UNREADABLE_BODY:
            raise too_big from None
        if upload is not None:
            if upload.size > INBOUND_MAX_BYTES:
                raise too_big
            return upload.read()
        if not field:
            raise Refused(400, "empty_email", "The form has no `email` or `body-mime` field.")
        return field.encode("utf-8", "surrogateescape")
    raw = request.read(INBOUND_MAX_BYTES + 1)
    if len(raw) > INBOUND_MAX_BYTES:
        raise too_big
    return raw


def _transcript_queued(request: HttpRequest, conversation: Conversation) -> HttpResponse:
    """Queue the transcript; a fragment saying where it goes (202 queued, 200 queued before)."""
    try:
        _, created = services.transcript_queue(conversation=conversation)
    except Refused as refused:
        if getattr(request, "htmx", False):  # a button on a page: the reason, where it was
            context = {"refused": refused}
            return render(request, "mail/transcript_queued.html", context, status=refused.status)
        return refused_response(refused)
    context = {"address": conversation.visitor.email}
    return render(request, "mail/transcript_queued.html", context, status=202 if created else 200)


@csrf_exempt  # the widget's API: authenticated by its token header (chat.views)
@require_POST
@visitor_required
def widget_transcript(request: HttpRequest, visitor: Visitor, pk: int) -> HttpResponse:
    """The visitor asks for the transcript of their ended chat, to the address they gave (or,
    with `email`, to this one, saved as theirs first)."""
    conversation = (
        Conversation.objects.select_related("inbox").filter(visitor=visitor, pk=pk).first()
    )
    if conversation is None:
        return json_error(404, "not_found", "No such conversation.")
    if conversation.status != Conversation.Status.ENDED:
        return json_error(409, "not_ended", "The transcript can be sent once the chat has ended.")
    htmx = getattr(request, "htmx", False)  # the widget's button, answered with its own form

    def form(status: int, **context: object) -> HttpResponse:
        context["conversation"] = conversation
        return render(request, "chat/widget/page.html#transcript", context, status=status)

    if address := request.POST.get("email", "").strip():
        try:
            chat_services.visitor_profile_set(visitor=visitor, email=address)
        except ValidationError as exc:
            if htmx:
                return form(
                    422,
                    transcript_ask=True,
                    transcript_error=" ".join(exc.messages),
                    transcript_value=address,  # kept, to mend
                )
            return json_error(422, exc.code or "invalid", " ".join(exc.messages))
    conversation.visitor = visitor
    if not htmx:
        return _transcript_queued(request, conversation)
    try:
        _, created = services.transcript_queue(conversation=conversation)
    except Refused as refused:
        if refused.code == "no_email":  # ask for one, in place: a step, not an error
            return form(200, transcript_ask=True)
        return form(refused.status, transcript_refused=refused.message)
    answer = form(202 if created else 200, transcript_to=visitor.email)
    if address:  # the widget's "so we can reply" line learns the address too
        context = {"oob": True, "visitor_email": visitor.email}
        answer.content += render_to_string("chat/widget/page.html#email_capture", context).encode()
    return answer


@require_POST
@agent_required
def agent_transcript(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """An agent sends a conversation of their inboxes to its visitor's address."""
    return _transcript_queued(request, conversation_for_agent(agent=agent, pk=pk))


@require_http_methods(["GET", "POST"])
@agent_required
def agent_settings(request: HttpRequest, agent: Agent) -> HttpResponse:
    """What the agent wants to be emailed about (opt-in)."""
    if request.method == "POST":
        services.agent_mail_settings_set(
            agent_id=agent.pk, missed_chats=request.POST.get("missed_chats") == "on"
        )
        return redirect("mail:settings")
    current = AgentMailSettings.objects.filter(agent=agent).first()
    context = {
        "agent": agent,
        "address": agent.user.email,
        "missed_chats": bool(current and current.missed_chats),
    }
    return render(request, "mail/settings.html", context)
