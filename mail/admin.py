from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from mail.models import AgentMailSettings, InboxMailSettings, OutboundEmail, Unsubscribe
from mail.services import emails_retry


class ReadOnly:
    """Rows written by mail.services alone: looked at (and deleted) in the admin, never edited."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(InboxMailSettings)
class InboxMailSettingsAdmin(admin.ModelAdmin):
    list_display = ["inbox", "missed_reply_minutes", "missed_chat_minutes"]


@admin.register(AgentMailSettings)
class AgentMailSettingsAdmin(admin.ModelAdmin):
    list_display = ["agent", "missed_chats"]


@admin.register(OutboundEmail)
class OutboundEmailAdmin(ReadOnly, admin.ModelAdmin):
    """The queue, to look at: rows are written by mail.services and sent by mail.outbox."""

    list_display = ["created_at", "kind", "to", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "kind"]
    search_fields = ["to", "subject", "message_id"]
    actions = ["send_again"]

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("mail.change_outboundemail")

    @admin.action(description="Send again now (failed or cancelled)", permissions=["resend"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboundEmail]) -> None:
        n = emails_retry(pks=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{n} emails queued again.", messages.SUCCESS)


@admin.register(Unsubscribe)
class UnsubscribeAdmin(ReadOnly, admin.ModelAdmin):
    """Delete a row to email that address again (they asked to be emailed after all)."""

    list_display = ["inbox", "address_key", "created_at"]
    list_filter = ["inbox"]
