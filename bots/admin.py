"""The bots in the admin: one per inbox, with its rules inline."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from bots.models import Bot, BotRule
from bots.services import bot_conversations_release


class BotRuleInline(admin.StackedInline):
    model = BotRule
    extra = 1
    fields = ["position", "keywords", "answer", "quick_replies", "hands_over"]


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    inlines = [BotRuleInline]
    list_display = ["name", "inbox", "kind", "is_active", "max_turns"]
    list_filter = ["is_active"]
    fields = [
        "inbox", "kind", "name", "is_active", "max_turns", "handover_keywords",
        "handover_message", "fallback_message", "fallback_hands_over",
    ]  # fmt: skip

    def save_model(self, request: HttpRequest, obj: Bot, form: ModelForm, change: bool) -> None:
        was = form.initial.get("inbox") if change else None
        super().save_model(request, obj, form, change)
        if not obj.is_active:
            bot_conversations_release(inbox_id=obj.inbox_id)
        if was is not None and was != obj.inbox_id:
            bot_conversations_release(inbox_id=was)  # moved to another inbox

    def delete_model(self, request: HttpRequest, obj: Bot) -> None:
        super().delete_model(request, obj)
        bot_conversations_release(inbox_id=obj.inbox_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Bot]) -> None:
        inboxes: list[Any] = list(queryset.values_list("inbox_id", flat=True))
        super().delete_queryset(request, queryset)
        for inbox_id in inboxes:
            bot_conversations_release(inbox_id=inbox_id)
