"""The REST API's endpoints (docs/API.md). Each is thin, as the dashboard's views are: parse,
authorize through the agents' selectors (another inbox's object is a 404, as on the
dashboard), call the same service a click calls, answer with JSON. So an API write is live on
every dashboard and widget exactly as a click is."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors as agent_selectors
from agents import services as agent_services
from agents.models import Agent
from agents.presence import availability_set, presence_map
from api import selectors, services
from api.auth import BotAccess, request_agent, request_bot
from api.errors import ApiError
from api.serializers import (
    AgentSerializer,
    AssignSerializer,
    AvailabilitySerializer,
    BotHandoverSerializer,
    BotMessageCreateSerializer,
    ConversationSerializer,
    ErrorSerializer,
    HandoverSerializer,
    InboxSerializer,
    MessageCreateSerializer,
    MessagePageSerializer,
    MessageSerializer,
    ReadMarkSerializer,
    ReadSerializer,
    SavedReplySerializer,
    TransferSerializer,
    VisitorSerializer,
    VisitorUpdateSerializer,
)
from bots import services as bot_services
from chat import sending
from chat.models import Conversation, Inbox, Visitor
from chat.payloads import message_data
from chat.posting import Posted, posted
from chat.selectors import messages_after
from chat.services import (
    ConversationEnded,
    conversation_end,
    visitor_attributes_set,
    visitor_profile_set,
)
from supportdesk import crypto

MESSAGES_LIMIT = 100
MESSAGES_MAX = 200

ERRORS = {
    401: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
    429: ErrorSerializer,
}
WRITE_ERRORS = {**ERRORS, 400: ErrorSerializer, 409: ErrorSerializer, 422: ErrorSerializer}


def _int_or_404(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Http404 from None


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _refused(refused: sending.Refused) -> ApiError:
    return ApiError(refused.status, refused.code, refused.message)


def _rule(exc: ValidationError) -> ApiError:
    """A domain rule refused the write (a ValidationError with its code): 422."""
    return ApiError(422, exc.code or "invalid", " ".join(exc.messages))


# --- Inboxes ------------------------------------------------------------------------------------


class InboxList(APIView):
    @extend_schema(responses={200: InboxSerializer(many=True), **ERRORS}, tags=["inboxes"])
    def get(self, request: Request) -> Response:
        """The inboxes you work in (every inbox, for an admin)."""
        inboxes = selectors.inboxes_for_agent(request_agent(request))
        return Response(InboxSerializer(inboxes, many=True).data)


class InboxDetail(APIView):
    @extend_schema(responses={200: InboxSerializer, **ERRORS}, tags=["inboxes"])
    def get(self, request: Request, pk: int) -> Response:
        inbox = selectors.inboxes_for_agent(request_agent(request)).filter(pk=pk).first()
        if inbox is None:
            raise Http404("No such inbox.")
        return Response(InboxSerializer(inbox).data)


# --- Conversations ------------------------------------------------------------------------------


class ConversationCursor(CursorPagination):
    """Keyset pagination on (updated_at, id): stable while conversations change, no OFFSET."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = ("-updated_at", "-id")

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> tuple[str, ...]:
        if request.query_params.get("ordering") == "updated_at":
            return ("updated_at", "id")
        return ("-updated_at", "-id")


class ConversationFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=Conversation.Status.values, required=False)
    inbox = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    agent = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="The assigned agent's id.",
    )
    updated_since = serializers.DateTimeField(
        required=False, help_text="ISO 8601; conversations with updated_at at or after it."
    )
    ordering = serializers.ChoiceField(
        choices=["-updated_at", "updated_at"],
        required=False,
        help_text="Newest first (default), or oldest first (to follow changes with updated_since).",
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200)
    cursor = serializers.CharField(required=False, help_text="`next` or `previous` of a page.")


class ConversationList(GenericAPIView):
    pagination_class = ConversationCursor
    serializer_class = ConversationSerializer

    def get_queryset(self) -> QuerySet[Conversation]:
        filters = _valid(ConversationFilters, self.request.query_params)
        return selectors.conversations_filtered(
            request_agent(self.request),
            status=filters.get("status"),
            inbox_id=filters.get("inbox"),
            agent_id=filters.get("agent"),
            updated_since=filters.get("updated_since"),
        )

    @extend_schema(
        parameters=[ConversationFilters],
        responses={200: ConversationSerializer(many=True), **ERRORS, 400: ErrorSerializer},
        tags=["conversations"],
    )
    def get(self, request: Request) -> Response:
        """Conversations you may see, newest activity first, a page at a time (`next`)."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ConversationSerializer(page, many=True).data)


def _conversation(request: Request, pk: int) -> Conversation:
    """The conversation with `updated_at`, if the caller may see it; 404 otherwise."""
    conversation = selectors.conversations_updated(request_agent(request)).filter(pk=pk).first()
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


class ConversationDetail(APIView):
    @extend_schema(responses={200: ConversationSerializer, **ERRORS}, tags=["conversations"])
    def get(self, request: Request, pk: int) -> Response:
        return Response(ConversationSerializer(_conversation(request, pk)).data)


class ConversationAction(APIView):
    """A change of a conversation's hands or state: the answer is the conversation after it."""

    def act(
        self, request: Request, pk: int, change: Callable[[Agent, Conversation], Any]
    ) -> Response:
        agent = request_agent(request)
        conversation = agent_selectors.conversation_for_agent(agent=agent, pk=pk)
        try:
            change(agent, conversation)
        except agent_services.AlreadyAssigned as exc:
            raise ApiError(409, "already_assigned", str(exc)) from None
        except ConversationEnded as exc:
            raise ApiError(409, "conversation_ended", str(exc)) from None
        except PermissionDenied as exc:
            raise ApiError(422, "bad_agent", str(exc)) from None
        except ValidationError as exc:
            raise _rule(exc) from None
        return Response(ConversationSerializer(_conversation(request, pk)).data)


def _colleague(agent: Agent, pk: int) -> Agent:
    """An agent the caller may name (sharing an inbox; anyone, for an admin): 422 otherwise,
    the same for one who does not exist (ids of other companies' agents are not confirmed)."""
    found = agent_selectors.team_members(agent).filter(pk=pk).first()
    if found is None:
        raise ApiError(422, "bad_agent", "No such agent in your inboxes.")
    return found


class ConversationClaim(ConversationAction):
    @extend_schema(
        request=None,
        responses={200: ConversationSerializer, **WRITE_ERRORS},
        tags=["conversations"],
    )
    def post(self, request: Request, pk: int) -> Response:
        """Take a waiting chat (or one with the bot) yourself; 409 if someone was first."""
        return self.act(
            request,
            pk,
            lambda agent, c: agent_services.conversation_claim(conversation=c, agent=agent),
        )


class ConversationAssign(ConversationAction):
    @extend_schema(
        request=AssignSerializer,
        responses={200: ConversationSerializer, **WRITE_ERRORS},
        tags=["conversations"],
    )
    def post(self, request: Request, pk: int) -> Response:
        """Give a waiting chat (or one with the bot) to an agent of its inbox; 409 if someone
        has it already (then transfer it)."""
        data = _valid(AssignSerializer, request.data)

        def assign(agent: Agent, conversation: Conversation) -> None:
            to = _colleague(agent, data["agent"])
            agent_services.conversation_assign(
                conversation=conversation, agent=to, only_if_waiting=True
            )

        return self.act(request, pk, assign)


class ConversationTransfer(ConversationAction):
    @extend_schema(
        request=TransferSerializer,
        responses={200: ConversationSerializer, **WRITE_ERRORS},
        tags=["conversations"],
    )
    def post(self, request: Request, pk: int) -> Response:
        """Hand an open chat to another agent of its inbox, with an optional internal note."""
        data = _valid(TransferSerializer, request.data)

        def transfer(agent: Agent, conversation: Conversation) -> None:
            to = _colleague(agent, data["agent"])
            agent_services.conversation_transfer(
                conversation=conversation, by=agent, to=to, note=data["note"]
            )

        return self.act(request, pk, transfer)


class ConversationEnd(ConversationAction):
    @extend_schema(
        request=None,
        responses={200: ConversationSerializer, **WRITE_ERRORS},
        tags=["conversations"],
    )
    def post(self, request: Request, pk: int) -> Response:
        """End an open chat (the visitor sees it end and may rate it)."""
        return self.act(request, pk, lambda agent, c: conversation_end(conversation=c, by=agent))


class ConversationRead(APIView):
    @extend_schema(
        request=ReadSerializer,
        responses={200: ReadMarkSerializer, **WRITE_ERRORS},
        tags=["conversations"],
    )
    def post(self, request: Request, pk: int) -> Response:
        """You have read the conversation up to `seq`: the visitor's ticks and your unread
        counts move, as when the dashboard shows it."""
        agent = request_agent(request)
        conversation = agent_selectors.conversation_for_agent(agent=agent, pk=pk)
        seq = _valid(ReadSerializer, request.data)["seq"]
        mark = services.conversation_read_mark(
            agent=agent, conversation_id=conversation.pk, seq=seq
        )
        return Response({"seq": mark})


# --- Messages -----------------------------------------------------------------------------------


class MessageQuery(serializers.Serializer):
    after = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=2**31 - 1, help_text="A seq."
    )
    limit = serializers.IntegerField(
        required=False, default=MESSAGES_LIMIT, min_value=1, max_value=MESSAGES_MAX
    )


class MessageList(APIView):
    @extend_schema(
        parameters=[MessageQuery],
        responses={200: MessagePageSerializer, **ERRORS, 400: ErrorSerializer},
        tags=["messages"],
    )
    def get(self, request: Request, pk: int) -> Response:
        """The conversation's messages after seq `after`, oldest first (internal notes too)."""
        agent = request_agent(request)
        conversation = agent_selectors.conversation_for_agent(agent=agent, pk=pk)
        query = _valid(MessageQuery, request.query_params)
        rows = messages_after(
            conversation_id=conversation.pk, after=query["after"], limit=query["limit"] + 1
        )
        page = rows[: query["limit"]]
        data = {"results": page, "has_more": len(rows) > query["limit"]}
        return Response(MessagePageSerializer(data).data)

    @extend_schema(
        request=MessageCreateSerializer,
        responses={201: MessageSerializer, 200: MessageSerializer, **WRITE_ERRORS},
        tags=["messages"],
    )
    def post(self, request: Request, pk: int) -> Response:
        """A reply to the visitor (a waiting chat is claimed first, as on the dashboard), or an
        internal note (`internal: true`). 201 stored; 200 a retry of a stored `client_id`."""
        agent = request_agent(request)
        conversation = agent_selectors.conversation_for_agent(agent=agent, pk=pk)
        data = _valid(MessageCreateSerializer, request.data)
        client_id = data.get("client_id") or uuid.uuid4()
        try:
            draft = sending.parse(data["body"], str(client_id))
        except sending.Refused as refused:
            raise _refused(refused) from None

        def send(draft: sending.Draft) -> Posted:
            if data["internal"]:
                return posted(
                    agent_services.note_create(
                        conversation=conversation,
                        agent=agent,
                        body=draft.text,
                        client_id=draft.client_id,
                    )
                )
            return agent_services.reply_post(
                agent=agent, conversation_id=conversation.pk, draft=draft
            )

        try:
            result = sending.store(send, draft)
        except sending.Refused as refused:
            raise _refused(refused) from None
        return Response(
            MessageSerializer(result.message).data, status=201 if result.created else 200
        )


# --- A webhook bot's answers (its own token; docs/API.md, "Bots") --------------------------------


class BotAction(APIView):
    permission_classes = [BotAccess]

    def act(self, change: Callable[[], Any]) -> Any:
        """Run the bot's write; the domain's refusals as the API's errors."""
        try:
            return change()
        except Conversation.DoesNotExist:
            raise Http404("No such conversation in the bot's inbox.") from None
        except bot_services.NotWithBot:
            raise ApiError(
                409,
                "not_with_bot",
                "The conversation is no longer with the bot (handed over, claimed or ended).",
            ) from None
        except ValidationError as exc:
            raise _rule(exc) from None


class BotMessageCreate(BotAction):
    @extend_schema(
        request=BotMessageCreateSerializer,
        responses={201: MessageSerializer, 200: MessageSerializer, **WRITE_ERRORS},
        tags=["bots"],
    )
    def post(self, request: Request, pk: int) -> Response:
        """The bot's answer to the visitor, in a conversation still with the bot (409 once it
        has left it). 201 stored; 200 a retry of a stored `client_id`."""
        data = _valid(BotMessageCreateSerializer, request.data)
        bot = request_bot(request)
        client_id = data.get("client_id")
        stored, created = self.act(
            lambda: bot_services.bot_reply(
                bot=bot,
                conversation_id=pk,
                body=data["body"],
                quick_replies=data["quick_replies"],
                client_id=client_id,
            )
        )
        data = MessageSerializer(message_data(stored)).data
        return Response(data, status=201 if created else 200)


class BotHandover(BotAction):
    @extend_schema(
        request=BotHandoverSerializer,
        responses={200: HandoverSerializer, **WRITE_ERRORS},
        tags=["bots"],
    )
    def post(self, request: Request, pk: int) -> Response:
        """The bot hands the chat to the team (after saying `message`, if given): it joins the
        queue, as when the visitor asks for a person. 409 if it has left the bot already."""
        data = _valid(BotHandoverSerializer, request.data)
        bot = request_bot(request)
        self.act(
            lambda: bot_services.bot_hand_over(bot=bot, conversation_id=pk, message=data["message"])
        )
        return Response({"conversation_id": pk, "status": Conversation.Status.WAITING})


# --- Visitors -----------------------------------------------------------------------------------


class VisitorFilters(serializers.Serializer):
    email = serializers.CharField(required=False, help_text="Exact address.")
    external_id = serializers.CharField(required=False, help_text="Your own user id.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200)
    cursor = serializers.CharField(required=False)


def _email_matches(rows: QuerySet[Visitor], email: str) -> QuerySet[Visitor]:
    """The visitors whose address is `email` exactly, with the addresses encrypted
    (supportdesk.crypto): the keyed token finds the candidates through its index (case
    folded), the decrypted addresses decide, as `email = %s` does without a key."""
    field = Visitor._meta.get_field("email_token")
    candidates = rows.filter(email_token=field.tokens(email)).exclude(email_token="")  # type: ignore[attr-defined]
    return rows.filter(pk__in=[v.pk for v in candidates.only("pk", "email") if v.email == email])


class VisitorCursor(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = ("-id",)


class VisitorList(GenericAPIView):
    pagination_class = VisitorCursor
    serializer_class = VisitorSerializer

    def get_queryset(self) -> QuerySet[Visitor]:
        filters = _valid(VisitorFilters, self.request.query_params)
        rows = selectors.visitors_for_agent(request_agent(self.request))
        for name in ("email", "external_id"):
            if name in filters:
                wanted = filters[name].replace("\x00", "")
                if name == "email" and crypto.enabled():
                    rows = _email_matches(rows, wanted)
                else:
                    rows = rows.filter(**{name: wanted})
        return rows

    @extend_schema(
        parameters=[VisitorFilters],
        responses={200: VisitorSerializer(many=True), **ERRORS, 400: ErrorSerializer},
        tags=["visitors"],
    )
    def get(self, request: Request) -> Response:
        """Visitors of your inboxes, newest first; find one by email or by your user id."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(VisitorSerializer(page, many=True).data)


class VisitorDetail(APIView):
    def visitor(self, request: Request, pk: int) -> Visitor:
        visitor = selectors.visitor_for_agent(agent=request_agent(request), pk=pk)
        if visitor is None:
            raise Http404("No such visitor.")
        return visitor

    @extend_schema(responses={200: VisitorSerializer, **ERRORS}, tags=["visitors"])
    def get(self, request: Request, pk: int) -> Response:
        return Response(VisitorSerializer(self.visitor(request, pk)).data)

    @extend_schema(
        request=VisitorUpdateSerializer,
        responses={200: VisitorSerializer, **WRITE_ERRORS},
        tags=["visitors"],
    )
    def patch(self, request: Request, pk: int) -> Response:
        """Set the name, email and custom attributes (merged; null deletes a key). Agents
        beside the visitor's chat see the change at once. Each part is checked before any is
        written."""
        visitor = self.visitor(request, pk)
        data = _valid(VisitorUpdateSerializer, request.data)
        try:
            with transaction.atomic():  # all or nothing, and published only on commit
                if "name" in data or "email" in data:
                    visitor_profile_set(
                        visitor=visitor, email=data.get("email"), name=data.get("name")
                    )
                if "attributes" in data:
                    visitor_attributes_set(visitor=visitor, attributes=data["attributes"])
        except ValidationError as exc:
            raise _rule(exc) from None
        visitor.refresh_from_db()
        return Response(VisitorSerializer(visitor).data)


# --- Saved replies ------------------------------------------------------------------------------


class SavedReplyQuery(serializers.Serializer):
    inbox = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)


class SavedReplyList(APIView):
    @extend_schema(
        parameters=[SavedReplyQuery],
        responses={200: SavedReplySerializer(many=True), **ERRORS, 400: ErrorSerializer},
        tags=["saved replies"],
    )
    def get(self, request: Request) -> Response:
        """Your own saved replies and the shared ones of your inboxes (of `inbox`, if given)."""
        query = _valid(SavedReplyQuery, request.query_params)
        rows = selectors.saved_replies_for_agent(
            request_agent(request), inbox_id=query.get("inbox")
        )
        return Response(SavedReplySerializer(rows, many=True).data)


# --- Agents -------------------------------------------------------------------------------------


def _agents_data(viewer: Agent, agents: QuerySet[Agent]) -> list[dict[str, Any]]:
    """Agents with their presence, and those of their inboxes the viewer sees."""
    visible = set(viewer.visible_inboxes().values_list("pk", flat=True))
    rows = list(
        agents.prefetch_related(Prefetch("inboxes", queryset=Inbox.objects.only("pk"))).order_by(
            "display_name", "pk"
        )
    )
    presence = presence_map(rows)
    return [
        {
            "id": a.pk,
            "display_name": a.display_name,
            "role": a.role,
            "presence": presence[a.pk],
            "inbox_ids": sorted(i.pk for i in a.inboxes.all() if i.pk in visible),
        }
        for a in rows
    ]


class AgentList(APIView):
    @extend_schema(responses={200: AgentSerializer(many=True), **ERRORS}, tags=["agents"])
    def get(self, request: Request) -> Response:
        """The agents who share an inbox with you (every agent, for an admin), with presence."""
        viewer = request_agent(request)
        data = _agents_data(viewer, agent_selectors.team_members(viewer))
        return Response(AgentSerializer(data, many=True).data)


class AgentDetail(APIView):
    @extend_schema(responses={200: AgentSerializer, **ERRORS}, tags=["agents"])
    def get(self, request: Request, pk: str) -> Response:
        """An agent by id, or `me`: the token's own agent."""
        viewer = request_agent(request)
        wanted = viewer.pk if pk == "me" else _int_or_404(pk)
        if wanted == viewer.pk:
            members = Agent.objects.filter(pk=viewer.pk)
        else:
            members = agent_selectors.team_members(viewer).filter(pk=wanted)
        data = _agents_data(viewer, members)
        if not data:
            raise Http404("No such agent.")
        return Response(AgentSerializer(data[0]).data)


class AgentAvailability(APIView):
    @extend_schema(
        request=AvailabilitySerializer,
        responses={200: AgentSerializer, **WRITE_ERRORS},
        tags=["agents"],
    )
    def post(self, request: Request) -> Response:
        """Your own status: online (takes chats) or away, as the dashboard's status menu. You
        show as offline while no dashboard of yours is open, whatever the choice."""
        viewer = request_agent(request)
        choice = _valid(AvailabilitySerializer, request.data)["availability"]
        availability_set(agent=viewer, availability=choice)
        data = _agents_data(viewer, Agent.objects.filter(pk=viewer.pk))
        return Response(AgentSerializer(data[0]).data)
