"""The API's resources as JSON, and what its writes accept. Output serializers read model
instances or the domain's own payload dicts (chat.payloads.MessageData), so the schema says
exactly what is sent."""

from __future__ import annotations

from django.core.validators import ProhibitNullCharactersValidator
from rest_framework import serializers

from chat.models import Conversation
from chat.payloads import labels_from_json
from chat.services import (
    VISITOR_ATTRIBUTE_KEY_LENGTH,
    VISITOR_ATTRIBUTES_MAX_BYTES,
    VISITOR_ATTRIBUTES_MAX_KEYS,
)


class InboxSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    public_key = serializers.CharField(help_text="The key of the widget's script tag.")
    assignment = serializers.CharField(help_text="manual or automatic")
    created_at = serializers.DateTimeField()


class ConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    inbox_id = serializers.IntegerField()
    inbox_name = serializers.CharField(source="inbox.name")
    visitor_id = serializers.IntegerField()
    visitor_name = serializers.CharField(source="visitor.display_name")
    status = serializers.ChoiceField(choices=Conversation.Status.choices)
    assigned_agent_id = serializers.IntegerField(allow_null=True)
    assigned_agent_name = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField(
        help_text="The newest message or system line (a claim, transfer or ending adds one), "
        "else the creation: what `updated_since` and the ordering read."
    )
    assigned_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    last_seq = serializers.IntegerField(help_text="The seq of the newest message.")
    last_message_at = serializers.DateTimeField(allow_null=True)
    visitor_read_seq = serializers.IntegerField()
    agent_read_seq = serializers.IntegerField()
    rating = serializers.IntegerField(allow_null=True)
    rating_comment = serializers.CharField()
    labels = serializers.SerializerMethodField(
        help_text="The names of the labels agents put on the chat, by name."
    )

    def get_assigned_agent_name(self, conversation: Conversation) -> str:
        agent = conversation.assigned_agent
        return agent.display_name if agent is not None else ""

    def get_labels(self, conversation: Conversation) -> list[str]:
        """Annotated by the API's selectors (`with_labels`), else read."""
        labels = getattr(conversation, "labels_json", None)
        if labels is None:
            return list(conversation.labels.order_by("name").values_list("name", flat=True))
        return [label["name"] for label in labels_from_json(labels)]


class AttachmentSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    image = serializers.BooleanField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    seq = serializers.IntegerField(help_text="1, 2, 3... per conversation, without gaps.")
    sender_kind = serializers.ChoiceField(choices=["visitor", "agent", "system", "note", "bot"])
    author_name = serializers.CharField(allow_blank=True)
    body = serializers.CharField(allow_blank=True)
    client_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    attachments = AttachmentSerializer(many=True)
    quick_replies = serializers.ListField(child=serializers.CharField(), required=False)


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    has_more = serializers.BooleanField(help_text="More after the last one: ask again after it.")


class TextField(serializers.CharField):
    """Text as the domain checks it: a NUL is the service's 422 (`invalid_character`), as on
    the widget and the dashboard, not DRF's own 400."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]


class MessageCreateSerializer(serializers.Serializer):
    body = TextField(allow_blank=True, trim_whitespace=False, max_length=100_000)
    client_id = serializers.UUIDField(
        required=False,
        help_text="Made by the client; a retry with the same one returns the stored message "
        "(200) instead of storing it again. One is made for you if missing (no retry then).",
    )
    internal = serializers.BooleanField(
        default=False, help_text="An internal note: agents only, never shown to the visitor."
    )


class BotMessageCreateSerializer(serializers.Serializer):
    body = TextField(allow_blank=True, trim_whitespace=False, max_length=100_000)
    quick_replies = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=10,
        default=list,
        help_text="Buttons under the answer in the widget; a click sends its text as the "
        "visitor's message. “Talk to a person” is always added after them.",
    )
    client_id = serializers.UUIDField(
        required=False,
        help_text="Yours: the same one again returns the stored message (200) instead of "
        "storing it twice, e.g. when you answer a redelivered turn.",
    )


class BotHandoverSerializer(serializers.Serializer):
    message = TextField(
        allow_blank=True,
        trim_whitespace=False,
        max_length=100_000,
        default="",
        help_text="Optional: what the bot says before the team takes over.",
    )


class HandoverSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=["waiting"], help_text="In the team's queue: automatic assignment starts here."
    )


class AssignSerializer(serializers.Serializer):
    agent = serializers.IntegerField(help_text="The agent's id (GET /api/v1/agents/).")


class TransferSerializer(serializers.Serializer):
    agent = serializers.IntegerField(help_text="The agent who takes the chat over.")
    note = TextField(
        required=False, allow_blank=True, default="", trim_whitespace=False, max_length=100_000
    )


class ReadSerializer(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0, max_value=2**31 - 1)


class ReadMarkSerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text="Your read mark now (it never moves back).")


class VisitorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    inbox_id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    email = serializers.CharField(allow_blank=True)
    display_name = serializers.CharField()
    external_id = serializers.CharField(
        allow_blank=True, help_text="The customer's own user id, when verified."
    )
    identity_verified_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    current_url = serializers.CharField(allow_blank=True)
    page_title = serializers.CharField(allow_blank=True)
    referrer = serializers.CharField(allow_blank=True)
    user_agent = serializers.CharField(allow_blank=True)
    timezone = serializers.CharField(allow_blank=True)
    language = serializers.CharField(allow_blank=True)
    attributes = serializers.DictField(
        help_text="Custom attributes: strings, numbers, booleans.", child=serializers.JSONField()
    )


class VisitorUpdateSerializer(serializers.Serializer):
    name = TextField(required=False, allow_blank=True, trim_whitespace=False, max_length=10_000)
    email = TextField(required=False, allow_blank=False, trim_whitespace=False, max_length=10_000)
    attributes = serializers.DictField(
        required=False,
        child=serializers.JSONField(allow_null=True),
        help_text=(
            "Merged into the visitor's attributes; null deletes a key. At most "
            f"{VISITOR_ATTRIBUTES_MAX_KEYS} keys of at most {VISITOR_ATTRIBUTE_KEY_LENGTH} "
            f"characters, values a string, number, boolean or null, at most "
            f"{VISITOR_ATTRIBUTES_MAX_BYTES} bytes of JSON in all (422 past a limit)."
        ),
    )


class SavedReplySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    shortcut = serializers.CharField()
    body = serializers.CharField()
    personal = serializers.SerializerMethodField(help_text="Yours, not an inbox's shared one.")
    inbox_id = serializers.IntegerField(allow_null=True)

    def get_personal(self, reply: object) -> bool:
        return getattr(reply, "agent_id", None) is not None


class AgentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    role = serializers.CharField()
    presence = serializers.ChoiceField(choices=["online", "away", "offline"])
    inbox_ids = serializers.ListField(child=serializers.IntegerField())


class AvailabilitySerializer(serializers.Serializer):
    availability = serializers.ChoiceField(choices=["online", "away"])


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A code, e.g. not_found, conversation_ended.")
    message = serializers.CharField(help_text="For a person.")
    fields = serializers.DictField(required=False)
    retry_after = serializers.IntegerField(required=False)
