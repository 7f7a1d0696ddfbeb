"""The bots in the admin: one per inbox, with its rules inline; for a webhook bot, what it
still needs (an endpoint taking `bot.turn`, a token) with links to make them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bots.models import Bot, BotRule
from bots.selectors import webhook_bot_setup
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
        "inbox", "kind", "setup", "name", "is_active", "max_turns", "handover_keywords",
        "handover_message", "fallback_message", "fallback_hands_over", "answer_timeout_seconds",
    ]  # fmt: skip
    readonly_fields = ["setup"]

    @admin.display(description=gettext_lazy("webhook bot set-up"))
    def setup(self, bot: Bot) -> SafeString | str:
        """What a webhook bot needs, and whether it has it (docs/API.md, "Bots")."""
        if bot.pk is None or bot.kind != Bot.Kind.WEBHOOK:
            return _("Only for webhook bots: save the bot with that kind first.")
        found = webhook_bot_setup(bot)
        add_endpoint = reverse("admin:webhooks_webhookendpoint_add") + f"?inbox={bot.inbox_id}"
        add_token = reverse("admin:api_apitoken_add") + f"?bot={bot.pk}"
        endpoints = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:webhooks_webhookendpoint_change", args=[e.pk]), e.url)
                for e in found.endpoints
            ),
        )
        return format_html(
            "<p>{} {}</p><p>{} <a href='{}'>{}</a></p><p>{}</p>",
            _("The visitor's messages go to:") if found.endpoints else _("No endpoint yet."),
            endpoints
            or format_html(
                "<a href='{}'>{}</a>",
                add_endpoint,
                _("Add a webhook endpoint for this inbox with the event bot.turn"),
            ),
            _("Tokens: %(n)d live.") % {"n": found.tokens},
            add_token,
            _("Make a token for the bot"),
            _(
                "Without an endpoint the chat goes to the team at once; without an answer"
                " within the seconds set below, too."
            ),
        )

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
