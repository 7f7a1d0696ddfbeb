"""The visitor side over HTTP: the embed script, the widget page, and its small API.

The widget's API is authenticated by the `X-Visitor-Token` header (see chat.tokens), not by
cookies, so it is not exposed to cross-site request forgery and is exempt from the CSRF check:
a forged cross-site request cannot carry the header without the desk's CORS consent (none given).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
    ValidationError,
)
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat import attachments, faces, files, install, selectors, sending, services
from chat.availability import inbox_availability
from chat.identity import IdentityRejected, identity_claimed, identity_verify, visitor_identify
from chat.models import Attachment, Conversation, Inbox, Visitor
from chat.payloads import attachment_data, conversation_data, visitor_copy
from chat.posting import Posted
from chat.rendering import Viewer, render_availability, render_messages
from chat.selectors import inbox_by_public_key
from chat.sending import SLOW_DOWN
from chat.tokens import (
    InvalidVisitorToken,
    TokenClaims,
    token_claims,
    visitor_for_claims,
    visitor_from_token,
    visitor_token,
)
from supportdesk import csp, ratelimit
from supportdesk.csp import csp_exempt

TOKEN_HEADER = "X-Visitor-Token"  # noqa: S105 - a header name, not a secret
# What Django raises when it cannot read a form body: too big, too many fields, a broken
# multipart or a non-UTF-8 urlencoded one.
UNREADABLE_BODY = (
    BadRequest,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
    MultiPartParserError,
)

logger = logging.getLogger(__name__)


def json_error(status: int, code: str, message: str) -> JsonResponse:
    """The one error shape of the widget API (docs/PROTOCOL.md)."""
    return JsonResponse({"error": code, "message": message}, status=status)


def unreadable_body(request: HttpRequest) -> JsonResponse | None:
    """Read the form body now, so that one Django cannot read gets the API's error shape."""
    try:
        request.POST  # noqa: B018 - reading is the point
    except UNREADABLE_BODY as exc:
        logger.warning("unreadable widget request: %s", exc)
        return json_error(400, "bad_request", "The request body could not be read.")
    return None


def visitor_claims(
    request: HttpRequest, *limits: tuple[str, object]
) -> tuple[TokenClaims | None, HttpResponse | None]:
    """The visitor token's claims, after the rate limits (per IP address, per visitor and any
    `limits` given for this visitor, counted in one round trip): `(claims, None)`, or
    `(None, the 401 or 429 to answer)`. Nothing here reads the database."""
    ip = ratelimit.client_ip(request)
    try:
        claims = token_claims(request.headers.get(TOKEN_HEADER, ""))
    except InvalidVisitorToken as exc:
        if wait := ratelimit.hit("widget_ip", ip):
            return None, ratelimit.too_many(wait, str(SLOW_DOWN))
        return None, token_refused(exc)
    try:
        sending.visitor_limits(ip, claims.visitor_id, *limits)
    except sending.Refused as refused:
        return None, refused_response(refused)
    return claims, None


def token_refused(exc: InvalidVisitorToken) -> JsonResponse:
    return refused_response(sending.invalid_token(exc))


def visitor_of(
    request: HttpRequest, public_key: str, *limits: tuple[str, object]
) -> tuple[Visitor | None, HttpResponse | None]:
    """The visitor of the token, for this inbox only, after the rate limits (`visitor_claims`):
    `(visitor, None)`, or `(None, the 401 or 429 to answer)`."""
    claims, refusal = visitor_claims(request, *limits)
    if claims is None:
        return None, refusal
    try:
        return visitor_for_claims(claims, public_key=public_key), None
    except InvalidVisitorToken as exc:
        return None, token_refused(exc)


def visitor_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Resolve the visitor from the token header, for this inbox only; 401 otherwise.

    Rate limits come first, per IP address and then per visitor (429, supportdesk.ratelimit).
    """

    @wraps(view)
    def wrapper(request: HttpRequest, public_key: str, *args: Any, **kwargs: Any) -> HttpResponse:
        visitor, refusal = visitor_of(request, public_key)
        if visitor is None:
            return refusal  # type: ignore[return-value]
        if unreadable := unreadable_body(request):
            return unreadable
        return view(request, visitor, *args, **kwargs)

    return wrapper


# Every line's indentation, and the blank lines the template's comments leave.
EMBED_WHITESPACE = re.compile(r"^[ \t]*\n|^[ \t]+", re.MULTILINE)


@require_GET
@cache_control(public=True, max_age=300)
def widget_script(request: HttpRequest) -> HttpResponse:
    """The embed script: `<script src=".../widget.js" data-inbox="KEY" async></script>`.

    Served without indentation: every customer's page downloads it (deploy/nginx also gzips
    it, ~3 KB; a desk without that proxy sends it as it is). The template has no line-spanning
    strings, so the code is unchanged."""
    response = render(
        request, "chat/widget/embed.js", content_type="text/javascript; charset=utf-8"
    )
    response.content = EMBED_WHITESPACE.sub("", response.content.decode())
    return response


@require_GET
@xframe_options_exempt
@never_cache
def widget_page(request: HttpRequest, public_key: str) -> HttpResponse:
    inbox = inbox_by_public_key(public_key)
    if inbox is None:
        response = render(request, "chat/widget/unknown_inbox.html", status=404)
        # Shown inside the customer's page, whichever it is: the error must be visible there.
        response[csp.HEADER] = csp.policy(frame_ancestors="*")
        return response
    # For the inbox's Install page: seen on which site, when (no query; a cache write a minute).
    install.widget_load_record(inbox_id=inbox.pk, request=request)
    status = inbox_availability(inbox)
    response = render(
        request,
        "chat/widget/page.html",
        {
            "inbox": inbox,
            # Faces (chat.faces): a few of the team online now, and how fast they answer.
            "team": faces.team_faces(inbox.pk, TEAM_FACES),
            "reply_time": faces.reply_time_text(faces.typical_reply_seconds(inbox.pk)),
            "logo_version": faces.version_of(inbox.logo),
            "urls": {
                "session": reverse("chat:widget_session", args=[public_key]),
                "conversation": reverse("chat:widget_conversation", args=[public_key]),
                "send": reverse("chat:widget_send", args=[public_key]),
                "context": reverse("chat:widget_context", args=[public_key]),
                "profile": reverse("chat:widget_profile", args=[public_key]),
                "files": reverse("chat:widget_file_upload", args=[public_key]),
                "socket": f"/ws/widget/{public_key}/",
            },
            "availability_html": render_availability(status, version=0),
        },
    )
    ancestors = " ".join(inbox.allowed_origin_list) or "*"
    response[csp.HEADER] = csp.policy(frame_ancestors=f"'self' {ancestors}")
    return response


TEAM_FACES = 3  # how many of the team's faces the widget's header shows before anyone joins


@require_GET
def inbox_logo(request: HttpRequest, public_key: str) -> HttpResponse:
    """The inbox's logo (beside the widget's greeting), from whichever storage holds it."""
    inbox = inbox_by_public_key(public_key)
    return faces.image_response(inbox.logo if inbox else None)


@require_GET
def agent_face(request: HttpRequest, public_key: str, agent_id: int) -> HttpResponse:
    """An agent's face in this inbox's widget: their photo, or their initials on their colour
    (an SVG). Only for an agent who may appear there (chat.faces.agent_face)."""
    inbox = inbox_by_public_key(public_key)
    found = faces.agent_face(inbox.pk, agent_id) if inbox else None
    if found is None:
        raise Http404("No such agent.")
    name, photo = found
    return faces.image_response(photo) if photo else faces.initials_response(name)


@csrf_exempt
@require_POST
def widget_session(request: HttpRequest, public_key: str) -> JsonResponse:
    """Return the caller's token if it is still good for this inbox, else a new visitor's; with
    a verified identity (`user_id`, `email`, `name`, `timestamp`, `signature`), that user's."""
    ip = ratelimit.client_ip(request)
    if wait := ratelimit.hit("widget_ip", ip):
        return ratelimit.too_many(wait, str(SLOW_DOWN))
    inbox = inbox_by_public_key(public_key)
    if inbox is None:
        return json_error(404, "unknown_inbox", "No inbox has this key.")
    visitor: Visitor | None
    try:
        visitor = visitor_from_token(request.headers.get(TOKEN_HEADER, ""), public_key=public_key)
    except InvalidVisitorToken:
        visitor = None
    answer: dict[str, Any] = {}
    if unreadable := unreadable_body(request):
        return unreadable
    if identity_claimed(request.POST):
        # A signed-in user of the customer's site (chat.identity); unverified claims are ignored.
        try:
            identity = identity_verify(inbox, request.POST)
            visitor = visitor_identify(inbox=inbox, current=visitor, identity=identity)
            answer = {"identity": "verified"}
        except IdentityRejected as exc:
            answer = {"identity": "rejected", "identity_error": exc.reason}
    if visitor is None:
        # Only new visitors count here: a returning one costs the desk nothing.
        if wait := ratelimit.hit("session_ip", ip):
            return ratelimit.too_many(wait, str(SLOW_DOWN))
        visitor = services.visitor_create(inbox=inbox)
    return JsonResponse({"token": visitor_token(visitor), "visitor": visitor.pk, **answer})


@csrf_exempt
@require_GET
@never_cache
@visitor_required
def widget_conversation(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    """The visitor's newest conversation as the widget's log (HTML fragment)."""
    conversation = selectors.visitor_latest_conversation(visitor)
    if conversation is None:
        summary, messages, earlier = None, [], []
    else:
        # The same dict the socket renders the state line from: one template path.
        summary = conversation_data(conversation, preview=None)
        # The visitor's copies (visitor_copy): nothing for the agents alone reaches this page.
        messages = [
            visitor_copy(m) for m in selectors.message_history(conversation_id=conversation.pk)
        ]
        earlier = [
            {**e, "messages": [visitor_copy(m) for m in e["messages"]]}
            for e in selectors.visitor_earlier_conversations(visitor, before=conversation)
        ]
    return render(
        request,
        "chat/widget/page.html#conversation",
        {
            "inbox": visitor.inbox,
            "conversation": summary,
            "messages": messages,
            "earlier": earlier,
            "viewer": "visitor",
            "file_pass": attachments.file_pass(visitor.pk, visitor.token_generation),
            "visitor_email": visitor.email,
        },
    )


@csrf_exempt
@require_POST
def widget_send(request: HttpRequest, public_key: str) -> HttpResponse:
    """Store a visitor's message (idempotent on client_id); 201 with its HTML, 200 for a repeat.

    The hot path of the widget: no query before the write, which checks the visitor and the
    inbox itself (chat.posting); anything unusual takes the full path (chat.services)."""
    claims, refusal = visitor_claims(request, sending.MESSAGE_LIMIT)
    if claims is None:
        return refusal  # type: ignore[return-value]
    if unreadable := unreadable_body(request):
        return unreadable

    def send(draft: sending.Draft) -> Posted:
        return sending.visitor_post(claims=claims, public_key=public_key, draft=draft)

    def authorize() -> HttpResponse | None:
        try:
            visitor_for_claims(claims, public_key=public_key)
        except InvalidVisitorToken as exc:
            return token_refused(exc)
        return None

    try:
        return handle_send(
            request,
            viewer="visitor",
            send=send,
            authorize=authorize,
            file_pass=attachments.file_pass(claims.visitor_id, claims.generation),
        )
    except InvalidVisitorToken as exc:  # unknown: a deleted visitor, or another inbox's token
        return token_refused(exc)


@csrf_exempt
@require_POST
@visitor_required
def widget_context(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    """Where the visitor is on the host site (page, title, referrer) and what they use (browser,
    time zone, language): shown live beside the conversation in the dashboard."""
    services.visitor_context_update(
        visitor=visitor, context={k: request.POST.get(k, "") for k in request.POST}
    )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
@visitor_required
def widget_attributes(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    """The host page's `Supportdesk.setAttributes()` (docs/API.md): JSON `{"attributes": {...}}`
    merged into the visitor's custom attributes, which agents see beside the chat. 204, or 422
    with the service's reason (its limits are the REST API's too)."""
    if len(request.body) > 4 * services.VISITOR_ATTRIBUTES_MAX_BYTES:  # JSON escapes: some slack
        return json_error(413, "too_large", "The attributes are too large.")
    try:
        attributes = json.loads(request.body)["attributes"]
    except (ValueError, KeyError, TypeError):
        return json_error(400, "bad_request", 'Send JSON: {"attributes": {...}}.')
    try:
        services.visitor_attributes_set(visitor=visitor, attributes=attributes)
    except ValidationError as exc:
        return json_error(422, exc.code or "invalid", " ".join(exc.messages))
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
@visitor_required
def widget_rate(request: HttpRequest, visitor: Visitor, pk: int) -> HttpResponse:
    """The visitor rates an ended chat; answers with its new state line (HTML)."""
    try:
        rating = int(request.POST.get("rating", ""))
    except ValueError:
        rating = 0
    try:
        conversation = services.conversation_rate(
            visitor=visitor,
            conversation_id=pk,
            rating=rating,
            comment=request.POST.get("comment", ""),
        )
    except Conversation.DoesNotExist:
        return json_error(404, "not_found", "No such conversation.")
    except ValidationError as exc:
        status = 409 if exc.code == "not_ended" else 422
        return json_error(status, exc.code or "invalid", " ".join(exc.messages))
    summary = conversation_data(conversation, preview=None)
    return render(request, "chat/widget/page.html#state", {"conversation": summary})


@csrf_exempt
@require_POST
@visitor_required
def widget_email(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    """Where to reply when nobody is online: the visitor's email (agents see it)."""
    try:
        services.visitor_profile_set(visitor=visitor, email=request.POST.get("email", ""))
    except ValidationError as exc:
        context = {"visitor_email": "", "email_error": " ".join(exc.messages)}
        return render(request, "chat/widget/page.html#email_capture", context, status=422)
    return render(request, "chat/widget/page.html#email_capture", {"visitor_email": visitor.email})


@csrf_exempt
@require_POST
@visitor_required
def widget_profile(request: HttpRequest, visitor: Visitor) -> HttpResponse:
    """The pre-chat form: the visitor's name and email, before their first message."""
    try:
        services.visitor_profile_set(
            visitor=visitor,
            email=request.POST.get("email", ""),
            name=request.POST.get("name", ""),
        )
    except ValidationError as exc:
        return json_error(422, exc.code or "invalid", " ".join(exc.messages))
    return HttpResponse(status=204)


def handle_send(
    request: HttpRequest,
    *,
    viewer: Viewer,
    send: Callable[[sending.Draft], Posted],
    authorize: Callable[[], object],
    file_pass: str = "",
) -> HttpResponse:
    """What the visitor's and the agent's send views share: parse `body`, `client_id` and the
    `attachments` (file keys, repeated), store through `send` (given the draft), answer with
    the message's HTML (201 new, 200 repeat) or a JSON error.

    `send` checks the caller's right to write there itself, in its first statement
    (chat.posting). A request whose body is refused never gets that far, so `authorize` (which
    raises, or answers, the refusal a caller without that right gets) runs first on that path:
    a caller who may not write there learns nothing from the body's errors."""
    try:
        draft = sending.parse(
            request.POST.get("body", ""),
            request.POST.get("client_id"),
            request.POST.getlist("attachments"),
        )
    except sending.Refused as refused:
        return authorize_first(authorize) or refused_response(refused)
    try:
        result = sending.store(send, draft)
    except sending.Refused as refused:
        return refused_response(refused)
    message = result.message
    response = HttpResponse(
        render_messages([message], viewer=viewer, file_pass=file_pass),
        status=201 if result.created else 200,
    )
    response["X-Conversation-Id"] = str(message["conversation_id"])
    response["X-Seq"] = str(message["seq"])
    return response


def refused_response(refused: sending.Refused) -> JsonResponse:
    """A refused send as the widget API answers it (429s with Retry-After)."""
    if refused.retry_after is not None:
        return ratelimit.too_many(refused.retry_after, refused.message)
    return json_error(refused.status, refused.code, refused.message)


def authorize_first(authorize: Callable[[], object]) -> HttpResponse | None:
    """`authorize()`'s answer if it is one (a refusal), else None: go on with the body's error."""
    answer = authorize()
    return answer if isinstance(answer, HttpResponse) else None


@csp_exempt
@require_GET
def demo_page(request: HttpRequest) -> HttpResponse:
    """A plain page that embeds the widget exactly as a customer's site would. Only with
    SUPPORTDESK_DEMO_PAGE (on with DEBUG): in production it would publish the first inbox's key
    and invite anyone into it."""
    if not settings.SUPPORTDESK_DEMO_PAGE:
        raise Http404("the demo page is off (SUPPORTDESK_DEMO_PAGE)")
    inbox = Inbox.objects.order_by("pk").first()
    return render(request, "chat/demo.html", {"inbox": inbox})


# Files (chat.attachments) ----------------------------------------------------------------------

UPLOAD_LIMIT = ("visitor_uploads", _("You are sending files too fast; wait a moment."))


def upload_too_large(request: HttpRequest) -> JsonResponse | None:
    """413 at once for a body longer than a file may be (plus room for the form around it),
    before Django reads any of it."""
    limit = settings.SUPPORTDESK_UPLOAD_MAX_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= limit + 64 * 1024:
        return None
    text = gettext("A file can be at most %(limit)s.") % {"limit": attachments.human_size(limit)}
    return json_error(413, "file_too_large", text)


def uploaded(
    request: HttpRequest,
    store: Callable[[UploadedFile], Attachment],
    *,
    viewer: Viewer,
    file_pass: str = "",
) -> JsonResponse:
    """What the visitor's and the agent's upload views share: read the one file of the form
    (field `file`), store it through `store`, and answer 201 with what the client shows of
    it, or the refusal (413 too large, 422 any other reason) with the file's name in it."""
    if rejected := upload_too_large(request):
        return rejected
    if unreadable := unreadable_body(request):
        return unreadable
    upload = request.FILES.get("file")
    if upload is None:
        return json_error(400, "no_file", gettext("Send the file in the form field 'file'."))
    try:
        attachment = store(upload)
    except files.Refused as refused:
        status = 413 if refused.code == "file_too_large" else 422
        return json_error(status, refused.code, refused.message)
    data = attachment_data(attachment)
    return JsonResponse(
        {
            **data,
            "size_text": attachments.human_size(attachment.size),
            "url": attachments.file_url(data, viewer=viewer, file_pass=file_pass),
            "thumbnail": (
                attachments.file_url(data, viewer=viewer, thumbnail=True, file_pass=file_pass)
                if data["image"]
                else None
            ),
        },
        status=201,
    )


@csrf_exempt
@require_POST
def widget_file_upload(request: HttpRequest, public_key: str) -> HttpResponse:
    """A visitor uploads one file (multipart, field `file`): a pending upload, sent later by
    naming its key in a message's `attachments`."""
    visitor, refusal = visitor_of(request, public_key, UPLOAD_LIMIT)
    if visitor is None:
        return refusal  # type: ignore[return-value]
    return uploaded(
        request,
        lambda upload: attachments.attachment_upload(
            inbox=visitor.inbox, upload=upload, visitor=visitor
        ),
        viewer="visitor",
        file_pass=attachments.file_pass(visitor.pk, visitor.token_generation),
    )


@csrf_exempt
@require_POST
@visitor_required
def widget_file_discard(request: HttpRequest, visitor: Visitor, key: str) -> HttpResponse:
    """The visitor removes an upload they have not sent (cancelled, or taken off the message)."""
    if not attachments.attachment_discard(key=key, visitor=visitor):
        return json_error(404, "not_found", gettext("No such file waiting to be sent."))
    return HttpResponse(status=204)


@require_GET
def file_download(
    request: HttpRequest, key: str, name: str, thumbnail: bool = False
) -> HttpResponse:
    """A file for a visitor: the link's file pass names them (chat.attachments); the file must
    be theirs to see. Anything else is a 404, which confirms nothing about the key."""
    visitor = attachments.visitor_of_pass(request.GET.get("pass", ""))
    if visitor is None:
        raise Http404("No such file.")
    return attachments.served(
        key, lambda a: attachments.visitor_may_see(visitor, a), thumbnail=thumbnail
    )
