"""Admin for inboxes, visitors and conversation history.

Conversations and messages are read-only here: state changes go through the services (which
publish them to live dashboards); the admin is for configuration and for reading history.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from chat.models import Conversation, Inbox, Message, Visitor, new_identity_secret


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    search_fields = ["name", "public_key"]
    readonly_fields = ["public_key", "embed_snippet", "identity_secret", "created_at"]
    actions = ["regenerate_identity_secret"]
    list_display = ["name", "assignment", "auto_end_minutes", "public_key", "created_at"]
    fields = [
        "name", "widget_title", "greeting", "accent_color", "launcher_position",
        "allowed_origins", "assignment", "auto_end_minutes",
        "time_zone", "open_days", "opens_at", "closes_at", "prechat_form",
        "public_key", "embed_snippet", "identity_secret", "created_at",
    ]  # fmt: skip

    @admin.action(description="Regenerate the identity verification secret")
    def regenerate_identity_secret(self, request: HttpRequest, queryset: QuerySet[Inbox]) -> None:
        """For a leaked secret: signatures made with the old one stop working at once, so the
        site's server needs the new one (README, "Identity verification")."""
        for inbox in queryset:
            inbox.identity_secret = new_identity_secret()
            inbox.save(update_fields=["identity_secret"])
        self.message_user(request, f"New secret for {queryset.count()} inbox(es).")

    @admin.display(description="Embed snippet")
    def embed_snippet(self, inbox: Inbox) -> str:
        if not inbox.pk:
            return "Save the inbox to get its snippet."
        return format_html(
            '<code>&lt;script src="https://YOUR-DESK/widget.js" data-inbox="{}" async&gt;'
            "&lt;/script&gt;</code>",
            inbox.public_key,
        )


@admin.register(Visitor)
class VisitorAdmin(admin.ModelAdmin):
    list_display = ["__str__", "inbox", "email", "external_id", "current_url", "created_at"]
    list_filter = ["inbox"]
    search_fields = ["name", "email", "external_id"]
    readonly_fields = [
        "created_at", "current_url", "page_title", "referrer", "user_agent", "timezone",
        "language", "context_updated_at", "external_id", "identity_verified_at",
    ]  # fmt: skip


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["seq", "sender_kind", "author_agent", "body", "created_at"]
    readonly_fields = fields
    ordering = ["seq"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "visitor",
        "inbox",
        "status",
        "assigned_agent",
        "rating",
        "created_at",
        "last_message_at",
    ]
    list_filter = ["status", "inbox", "assigned_agent", "rating"]
    search_fields = ["visitor__name", "visitor__email", "messages__body"]
    list_select_related = ["visitor", "inbox", "assigned_agent"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "inbox", "visitor", "status", "assigned_agent", "previous",
        "created_at", "assigned_at", "ended_at", "last_seq", "last_message_at",
        "rating", "rating_comment", "rated_at",
    ]  # fmt: skip
    inlines = [MessageInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        # Searching message bodies joins many rows per conversation: drop the duplicates.
        queryset, _ = super().get_search_results(request, queryset, search_term)
        return queryset.distinct(), False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "conversation",
        "seq",
        "sender_kind",
        "author_agent",
        "short_body",
        "created_at",
    ]
    list_filter = ["sender_kind", "conversation__inbox"]
    search_fields = ["body"]
    list_select_related = ["conversation__visitor", "author_agent"]
    readonly_fields = [
        "conversation", "seq", "sender_kind", "author_agent", "body", "client_id", "created_at",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Body")
    def short_body(self, message: Message) -> str:
        return message.body[:80]
