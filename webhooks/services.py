"""Every write of the webhooks app: the outbox rows, written inside the change's transaction,
and what admins do to endpoints and deliveries.

The domain tells us what happened through `chat.signals` (sent inside its transactions; the
receivers are connected in webhooks.apps). A receiver first asks `inbox_has_endpoints` (memory,
no query: webhooks.selectors), so a message in an inbox without endpoints costs nothing more;
with endpoints it costs one query for them and one INSERT of a row per endpoint that wants the
event. The rows commit or roll back with the change; once committed, a worker is woken to send
them (webhooks.outbox.deliveries_kick), and housekeeping sends whatever it did not.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from chat.models import Conversation, Message
from chat.payloads import ChatMessageEvent, ConversationData, conversation_data
from webhooks import outbox
from webhooks.models import Event, WebhookDelivery, WebhookEndpoint, new_secret
from webhooks.selectors import endpoints_changed, inbox_has_endpoints

# What a payload tells of a conversation: `chat.payloads.conversation_row`'s fields, without
# the dashboard's own (preview, read marks, the inbox's name, which `inbox` carries).
CONVERSATION_FIELDS = (
    "id", "visitor_id", "visitor_name", "status", "assigned_agent_id", "assigned_agent_name",
    "created_at", "last_seq", "last_message_at", "rating",
)  # fmt: skip


def deliveries_queue(
    *,
    event: str,
    conversation: ConversationData,
    seq: int,
    data: dict[str, Any],
    internal: bool = False,
) -> list[WebhookDelivery]:
    """One outbox row for each active endpoint of the conversation's inbox that wants `event`
    (an internal note only for those that asked), all with one event id; a send is scheduled
    for after the commit.

    Precondition: inside the transaction of the change (the rows commit or roll back with it),
    holding the conversation's row lock, so rows of one conversation get ids in the order of
    their events (webhooks.outbox sends them in that order).
    """
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(
            inbox_id=conversation["inbox_id"], is_active=True
        ).only("pk", "events", "include_internal_notes")
        if endpoint.wants(event, internal=internal)
    ]
    if not endpoints:
        return []
    event_id = uuid.uuid4()
    now = timezone.now()
    payload = {
        "id": str(event_id),
        "event": event,
        "created_at": now.isoformat(),
        "inbox": {"id": conversation["inbox_id"], "name": conversation["inbox_name"]},
        "conversation_id": conversation["id"],
        "seq": seq,
        "data": data,
    }
    rows = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint=endpoint,
                event_id=event_id,
                event=event,
                conversation_id=conversation["id"],
                seq=seq,
                payload=payload,
                next_attempt_at=now,
            )
            for endpoint in endpoints
        ]
    )
    transaction.on_commit(outbox.deliveries_kick)
    return rows


def webhook_conversation(data: ConversationData) -> dict[str, Any]:
    """A conversation as payloads show it (docs/API.md, "Webhooks")."""
    return {field: data[field] for field in CONVERSATION_FIELDS}  # type: ignore[literal-required]


def _agent(agent: Any) -> dict[str, Any] | None:
    return {"id": agent.pk, "name": agent.display_name} if agent is not None else None


def _loaded(conversation: Conversation) -> ConversationData:
    return conversation_data(conversation, preview=None)


# ---- Receivers of chat.signals (connected in webhooks.apps) ---------------------------------


def on_message_stored(sender: Any, event: ChatMessageEvent, **kwargs: Any) -> None:
    conversation = event["conversation"]
    if not inbox_has_endpoints(conversation["inbox_id"]):
        return
    message = event["message"]
    deliveries_queue(
        event=Event.MESSAGE_CREATED,
        conversation=conversation,
        seq=message["seq"],
        data={"message": dict(message), "conversation": webhook_conversation(conversation)},
        # A note, or a line for the agents alone ("Alice transferred the chat to Bob."; it has
        # a `visitor_body`): only for endpoints that asked for what visitors never see.
        internal=message["sender_kind"] == Message.SenderKind.NOTE or "visitor_body" in message,
    )


def _conversation_event(conversation: Conversation, event: str, **data: object) -> None:
    """Queue `event` about `conversation` for its inbox's endpoints (nothing, not even the
    conversation's serialization, for an inbox without): its data is the conversation and
    `data`."""
    if not inbox_has_endpoints(conversation.inbox_id):
        return
    loaded = _loaded(conversation)
    deliveries_queue(
        event=event,
        conversation=loaded,
        seq=conversation.last_seq,
        data={
            "conversation": webhook_conversation(loaded),
            **data,
        },
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def on_conversation_started(sender: Any, conversation: Conversation, **kwargs: Any) -> None:
    _conversation_event(conversation, Event.CONVERSATION_CREATED)


def on_conversation_assigned(
    sender: Any, conversation: Conversation, agent: Any, by: Any, how: str, **kwargs: Any
) -> None:
    _conversation_event(
        conversation, Event.CONVERSATION_ASSIGNED, agent=_agent(agent), by=_agent(by), how=how
    )


def on_conversation_ended(
    sender: Any, conversation: Conversation, by: Any, reason: str, **kwargs: Any
) -> None:
    _conversation_event(
        conversation,
        Event.CONVERSATION_ENDED,
        ended_at=_iso(conversation.ended_at),
        by=_agent(by),
        reason=reason,
    )


def on_conversation_rated(sender: Any, conversation: Conversation, **kwargs: Any) -> None:
    _conversation_event(
        conversation,
        Event.CONVERSATION_RATED,
        rating=conversation.rating,
        comment=conversation.rating_comment,
        rated_at=_iso(conversation.rated_at),
    )


def on_endpoint_changed(sender: Any, **kwargs: Any) -> None:
    """post_save / post_delete of an endpoint: the processes' inbox sets are reloaded."""
    endpoints_changed()


# ---- What admins do -------------------------------------------------------------------------


@transaction.atomic
def deliveries_redeliver(*, deliveries: QuerySet[WebhookDelivery]) -> int:
    """Send these deliveries again now, with the same event id (receivers de-duplicate on it),
    whatever their state, with a fresh round of retries. How many. A redelivered event goes out
    when it is due, not in its conversation's order: it is an admin's explicit request."""
    count = deliveries.update(
        state=WebhookDelivery.State.PENDING,
        next_attempt_at=timezone.now(),
        attempts=0,
        delivered_at=None,
    )
    transaction.on_commit(outbox.deliveries_kick)
    return count


@transaction.atomic
def deliveries_cancel(*, deliveries: QuerySet[WebhookDelivery]) -> int:
    """Stop trying the pending ones of these deliveries (they stay listed, as cancelled)."""
    return deliveries.filter(state=WebhookDelivery.State.PENDING).update(
        state=WebhookDelivery.State.CANCELLED
    )


@transaction.atomic
def endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Turn an endpoint (back) on: its failure count starts again, and what waited for it while
    it was off is sent now, in order."""
    endpoint.is_active = True
    endpoint.disabled_reason = ""
    endpoint.consecutive_failures = 0
    endpoint.failing_since = None
    endpoint.save(
        update_fields=["is_active", "disabled_reason", "consecutive_failures", "failing_since"]
    )
    endpoint.deliveries.filter(state=WebhookDelivery.State.PENDING).update(
        next_attempt_at=timezone.now()
    )
    transaction.on_commit(outbox.deliveries_kick)
    return endpoint


@transaction.atomic
def endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new signing secret, from the next attempt on (a leaked one stops working at once)."""
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret"])
    return endpoint
