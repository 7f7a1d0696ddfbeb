"""Webhook endpoints (per inbox; the signing secret shown once saved) and their deliveries, with
the receiver's answers, "Redeliver" and "Enable again"."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from webhooks import services
from webhooks.models import Event, WebhookDelivery, WebhookEndpoint
from webhooks.outbox import body_of
from webhooks.targets import UnsafeTarget, private_allowed, resolve


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label="URL", max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=Event.choices, widget=forms.CheckboxSelectMultiple, required=True
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["inbox", "url", "events", "include_internal_notes", "allow_private_network"]

    def clean(self) -> dict[str, Any]:
        """Refuse a URL that may not be requested (webhooks.targets), now rather than at the
        first delivery; it is checked again before each one."""
        cleaned = super().clean()
        url = cleaned.get("url")
        if url:
            allow = private_allowed(bool(cleaned.get("allow_private_network")))
            try:
                resolve(url, allow_private=allow)
            except UnsafeTarget as exc:
                self.add_error("url", str(exc))
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["url", "inbox", "is_active", "consecutive_failures", "disabled_reason"]
    list_filter = ["is_active", "inbox"]
    search_fields = ["url"]
    readonly_fields = [
        "secret",
        "is_active",
        "disabled_reason",
        "consecutive_failures",
        "failing_since",
        "created_at",
    ]
    actions = ["enable", "rotate_secret"]

    @admin.action(description="Enable again (and send what waited)")
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            services.endpoint_enable(endpoint=endpoint)
        self.message_user(request, f"{len(queryset)} endpoints enabled.", messages.SUCCESS)

    @admin.action(description="Make a new signing secret")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            services.endpoint_secret_rotate(endpoint=endpoint)
        self.message_user(
            request,
            "New secrets made: give them to the receivers (each endpoint's page shows it).",
            messages.WARNING,
        )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """The notice of endpoints the desk turned off because they kept failing."""
        disabled = WebhookEndpoint.objects.filter(is_active=False).exclude(disabled_reason="")
        for endpoint in disabled[:10]:
            self.message_user(
                request, f"{endpoint.url} is disabled: {endpoint.disabled_reason}", messages.WARNING
            )
        return super().changelist_view(request, extra_context)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The outbox, to look at: rows are written by webhooks.services, sent by webhooks.outbox."""

    list_display = [
        "created_at",
        "event",
        "endpoint",
        "conversation_id",
        "seq",
        "state",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    ]
    list_filter = ["state", "event", "endpoint"]
    search_fields = ["=event_id", "=conversation__id"]
    list_select_related = ["endpoint"]
    readonly_fields = [
        "event_id",
        "event",
        "endpoint",
        "conversation_id",
        "seq",
        "state",
        "attempts",
        "created_at",
        "next_attempt_at",
        "last_attempt_at",
        "delivered_at",
        "last_status_code",
        "last_error",
        "response",
        "body",
    ]
    exclude = ["payload", "last_response", "conversation"]
    actions = ["redeliver", "cancel"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.change_webhookdelivery")

    @admin.display(description="Body sent")
    def body(self, obj: WebhookDelivery) -> str:
        pretty = json.dumps(json.loads(body_of(obj.payload)), indent=2, ensure_ascii=False)
        return format_html("<pre>{}</pre>", pretty)

    @admin.display(description="Last response (its start)")
    def response(self, obj: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", obj.last_response)

    @admin.action(description="Redeliver now (same event id)", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        n = services.deliveries_redeliver(deliveries=queryset)
        self.message_user(request, f"{n} deliveries will be sent again now.", messages.SUCCESS)

    @admin.action(description="Cancel (stop trying)", permissions=["redeliver"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        n = services.deliveries_cancel(deliveries=queryset)
        self.message_user(request, f"{n} pending deliveries cancelled.", messages.SUCCESS)
