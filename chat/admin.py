"""Admin for inboxes, visitors and conversation history.

Conversations and messages are read-only here: state changes go through the services (which
publish them to live dashboards); the admin is for configuration and for reading history.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.admin.utils import unquote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
)
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from chat.admin_install import install_urls
from chat.calls import duration_text, turn_configured
from chat.models import (
    Call,
    Conversation,
    Inbox,
    Label,
    Message,
    Visitor,
    new_identity_secret,
)
from chat.privacy import (
    count_lines,
    describe_counts,
    visitor_delete,
    visitor_deletion_preview,
    visitor_export_archive,
)
from chat.services import visitor_sessions_revoke
from supportdesk import crypto

WEEKDAYS = [
    ("1", _("Monday")), ("2", _("Tuesday")), ("3", _("Wednesday")), ("4", _("Thursday")),
    ("5", _("Friday")), ("6", _("Saturday")), ("7", _("Sunday")),
]  # fmt: skip


class EncryptedSearch(admin.ModelAdmin):
    """With encryption at rest (supportdesk.crypto) SQL cannot search an encrypted column: the
    `encrypted` search fields are left out, and with `blind_index` set, a row whose messages
    hold every word of the search (whole words: the blind index) is found as well."""

    encrypted: tuple[str, ...] = ()
    blind_index = ""  # the path to a Message.body_tokens, e.g. "messages__body_tokens"

    def get_search_fields(self, request: HttpRequest) -> Any:
        fields = super().get_search_fields(request)
        if not crypto.enabled():
            return fields
        return [f for f in fields if f not in self.encrypted]

    def get_sortable_by(self, request: HttpRequest) -> Any:
        # Ordered by ciphertext is no order: the encrypted columns are not sortable then.
        fields = super().get_sortable_by(request)
        if not crypto.enabled():
            return fields
        return [f for f in fields if f not in self.encrypted]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> Any:
        found, duplicates = super().get_search_results(request, queryset, search_term)
        if not crypto.enabled() or not search_term.strip():
            return found, duplicates
        if not self.get_search_fields(request):  # Django would not filter at all
            found = queryset.none()
        tokens = crypto.query_tokens(search_term) if self.blind_index else []
        if tokens:
            hits = queryset
            for token in tokens:
                hits = hits.filter(**{f"{self.blind_index}__contains": f" {token} "})
            found, duplicates = found | hits, True
        return found, duplicates


class InboxAdminForm(forms.ModelForm):
    """The inbox's look and hours as an admin sets them: a colour picker, a time zone from the
    list, and the open days as checkboxes (stored as weekday digits, "12345")."""

    time_zone = forms.ChoiceField(
        label=capfirst(Inbox._meta.get_field("time_zone").verbose_name),
        choices=[(z, z) for z in sorted(available_timezones())],
        help_text=_("The business hours below are in this time zone."),
    )
    open_days = forms.MultipleChoiceField(
        label=capfirst(Inbox._meta.get_field("open_days").verbose_name),
        choices=WEEKDAYS,
        widget=forms.CheckboxSelectMultiple,
        required=True,
    )

    class Meta:
        model = Inbox
        fields = "__all__"  # noqa: DJ007 (the admin's `fields` chooses and orders them)
        widgets = {"accent_color": forms.TextInput(attrs={"type": "color"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["open_days"] = list(self.initial.get("open_days") or "")
        # A zone stored before the list (free text then) stays what it was until changed.
        current = self.initial.get("time_zone")
        field = self.fields["time_zone"]
        if current and current not in dict(field.choices):
            field.choices = [(current, current), *field.choices]

    def clean_open_days(self) -> str:
        return "".join(sorted(set(self.cleaned_data["open_days"])))


class LabelInline(admin.TabularInline):
    """The inbox's labels (agents put them on chats from the dashboard)."""

    model = Label
    extra = 1
    fields = ["name", "color"]


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    form = InboxAdminForm
    inlines = [LabelInline]
    search_fields = ["name", "public_key"]
    readonly_fields = [
        "public_key", "embed_snippet", "identity_secret_masked", "call_servers", "created_at",
    ]  # fmt: skip
    actions = ["regenerate_identity_secret"]
    list_display = ["name", "assignment", "auto_end_minutes", "public_key", "created_at"]
    fields = [
        "name", "widget_title", "greeting", "logo", "accent_color", "launcher_position",
        "allowed_origins", "assignment", "auto_end_minutes",
        "wait_warn_minutes", "wait_alert_minutes",
        "time_zone", "open_days", "opens_at", "closes_at", "prechat_form",
        "calls_enabled", "call_servers",
        "public_key", "embed_snippet", "identity_secret_masked", "created_at",
    ]  # fmt: skip

    @admin.action(description="Regenerate the identity verification secret")
    def regenerate_identity_secret(self, request: HttpRequest, queryset: QuerySet[Inbox]) -> None:
        """For a leaked secret: signatures made with the old one stop working at once, so the
        site's server needs the new one (README, "Identity verification")."""
        for inbox in queryset:
            inbox.identity_secret = new_identity_secret()
            inbox.save(update_fields=["identity_secret"])
        self.message_user(request, f"New secret for {queryset.count()} inbox(es).")

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The snippet names this desk's own address, as the admin reached it; a readonly field
        # is shown without the request, so it is at hand for this render only.
        token = _admin_request.set(request)
        try:
            response = super().changeform_view(request, *args, **kwargs)
            if isinstance(response, TemplateResponse):
                response.render()
            return response
        finally:
            _admin_request.reset(token)

    def get_urls(self) -> list[URLPattern]:
        # The Install page (chat.admin_install), before the defaults' "<path:object_id>/".
        return [*install_urls(self), *super().get_urls()]

    @admin.display(description=_("identity verification secret"))
    def identity_secret_masked(self, inbox: Inbox) -> str:
        """Never shown in clear here: an admin reveals it on the Install page (logged)."""
        if not inbox.pk:
            return "—"
        return format_html(
            '<span class="secret-masked" aria-label="{}">••••••••••••••••</span> '
            '<a href="{}#identity">{}</a>',
            _("hidden"),
            reverse("admin:chat_inbox_install", args=[inbox.pk]),
            _("Reveal it on the Install page"),
        )

    @admin.display(description=_("how calls connect"))
    def call_servers(self, inbox: Inbox) -> str:
        """What the desk's settings give calls to connect through (docs/CALLS.md): said here,
        where an admin switches calls on, so "it does not connect from the office" has an
        answer before anyone asks."""
        if turn_configured():
            return _(
                "Through a TURN server when no direct path exists (SUPPORTDESK_TURN_URLS; "
                "browsers get credentials valid for %(minutes)d minutes)."
            ) % {"minutes": settings.SUPPORTDESK_TURN_TTL_SECONDS // 60}
        if settings.SUPPORTDESK_STUN_URLS:
            return _(
                "No TURN server is configured: calls connect directly, or through STUN "
                "(SUPPORTDESK_STUN_URLS). Visitors behind strict firewalls may not connect; "
                "see docs/CALLS.md to add coturn."
            )
        return _(
            "No STUN or TURN server is configured: calls connect only directly, on networks "
            "that reach each other (SUPPORTDESK_STUN_URLS, SUPPORTDESK_TURN_URLS; docs/CALLS.md)."
        )

    @admin.display(description="Embed snippet")
    def embed_snippet(self, inbox: Inbox) -> str:
        if not inbox.pk:
            return "Save the inbox to get its snippet."
        request = _admin_request.get()
        script = reverse("chat:widget_script")
        src = request.build_absolute_uri(script) if request else f"https://YOUR-DESK{script}"
        return format_html(
            '<code>&lt;script src="{}" data-inbox="{}" async&gt;&lt;/script&gt;</code>'
            '<br><a href="{}">{}</a>',
            src,
            inbox.public_key,
            reverse("admin:chat_inbox_install", args=[inbox.pk]),
            _("Install page: copy it, preview the widget, check it is on your site"),
        )


# The request of the admin page being rendered (InboxAdmin.changeform_view).
_admin_request: ContextVar[HttpRequest | None] = ContextVar("admin_request", default=None)


@admin.register(Visitor)
class VisitorAdmin(EncryptedSearch):
    """Visitors, with their personal data: export as JSON, and erasure with everything keyed to
    them (`chat.privacy`). Django's own delete (the link, and the bulk action) is routed to the
    erasure, so every deletion tells the dashboards and leaves no name in the admin log."""

    list_display = ["__str__", "inbox", "email", "external_id", "current_url", "created_at"]
    list_filter = ["inbox"]
    search_fields = ["name", "email", "external_id"]
    encrypted = ("name", "email")  # with a key set, the user id alone is searched
    readonly_fields = [
        "created_at", "current_url", "page_title", "referrer", "user_agent", "timezone",
        "language", "context_updated_at", "external_id", "identity_verified_at",
    ]  # fmt: skip

    def get_urls(self) -> list[URLPattern]:
        # Before the defaults: their "<path:object_id>/" catch-all would take these.
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/export/",
                self.admin_site.admin_view(self.export_view),
                name=f"{name}_export",
            ),
            path(
                "<path:object_id>/erase/",
                self.admin_site.admin_view(self.erase_view),
                name=f"{name}_erase",
            ),
            path(
                "<path:object_id>/sign-out/",
                self.admin_site.admin_view(self.sign_out_view),
                name=f"{name}_sign_out",
            ),
            *super().get_urls(),
        ]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # The bulk delete would skip the erasure's confirmation counts, the dashboards and the
        # log clean-up; visitors are erased one at a time, from their page.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_erase", object_id)

    def visitor_or_refuse(
        self, request: HttpRequest, object_id: str, allowed: Callable[..., bool]
    ) -> Visitor:
        """The visitor, if `allowed(request, visitor)`: 403 without the permission at all (before
        the lookup, so ids are not confirmed to those who may not act), 404 if there is none."""
        if not allowed(request):
            raise PermissionDenied
        visitor = self.get_object(request, unquote(object_id))
        if visitor is None:
            raise Http404
        if not allowed(request, visitor):
            raise PermissionDenied
        return visitor

    def export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Everything about the visitor as a zip download: their data as JSON, and their files
        (needs the view permission)."""
        visitor = self.visitor_or_refuse(request, object_id, self.has_view_permission)
        return FileResponse(
            visitor_export_archive(visitor=visitor),
            as_attachment=True,
            filename=f"visitor-{visitor.pk}.zip",
            content_type="application/zip",
        )

    def sign_out_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: sign the visitor out everywhere (`visitor_sessions_revoke`), log it, back to
        their page. Needs the change permission."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        visitor = self.visitor_or_refuse(request, object_id, self.has_change_permission)
        visitor_sessions_revoke(visitor=visitor)
        self.log_change(request, visitor, "Signed out everywhere: every token issued was revoked.")
        self.message_user(
            request,
            f"{visitor} was signed out everywhere. Their open chat widgets start a new session.",
        )
        return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", visitor.pk)

    def erase_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: what erasing the visitor deletes, counted. POST: erase, log it, back to the list.
        Needs the delete permission."""
        visitor = self.visitor_or_refuse(request, object_id, self.has_delete_permission)
        label = f"Visitor #{visitor.pk}"  # not their name: the log outlives them
        if request.method == "POST":
            counts = visitor_delete(visitor=visitor)
            LogEntry.objects.create(
                user_id=request.user.pk,
                content_type=ContentType.objects.get_for_model(Visitor),
                object_id=str(visitor.pk),
                object_repr=label,
                action_flag=DELETION,
                change_message=f"Erased with all their data: {describe_counts(counts)}.",
            )
            self.message_user(request, f"{label} and all their data were deleted.")
            return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Delete {visitor} and all their data?",
            "subtitle": label,
            "opts": self.opts,
            "visitor": visitor,
            "counts": list(count_lines(visitor_deletion_preview(visitor=visitor))),
        }
        return TemplateResponse(request, "admin/chat/visitor/erase_confirmation.html", context)


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
class ConversationAdmin(EncryptedSearch):
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
    encrypted = ("visitor__name", "visitor__email", "messages__body")
    blind_index = "messages__body_tokens"
    list_select_related = ["visitor", "inbox", "assigned_agent"]
    date_hierarchy = "created_at"
    # Every field: state, read marks and the analytics' times change only through the services
    # (chat.services, agents.services), which keep them consistent and tell the sockets.
    readonly_fields = [field.name for field in Conversation._meta.concrete_fields]
    inlines = [MessageInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # View only: a save would write the whole row back (a stale last_seq among it) without
        # the row lock the services take.
        return False

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: int) -> HttpResponse:
        super().response_delete(request, obj_display, obj_id)  # its "deleted" message
        # Back to the list, which a view-only admin still has (Django would go to the index).
        return redirect("admin:chat_conversation_changelist")

    def get_search_results(self, request, queryset, search_term):
        # Searching message bodies joins many rows per conversation: drop the duplicates.
        queryset, _ = super().get_search_results(request, queryset, search_term)
        return queryset.distinct(), False


@admin.register(Message)
class MessageAdmin(EncryptedSearch):
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
    encrypted = ("body",)
    blind_index = "body_tokens"
    list_select_related = ["conversation__visitor", "author_agent"]
    readonly_fields = [
        "conversation", "seq", "sender_kind", "author_agent", "body", "audience", "visitor_body",
        "client_id", "created_at",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Body")
    def short_body(self, message: Message) -> str:
        return message.body[:80]


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    """The record of calls (chat.calls): read-only, as the calls happened. The desk holds no
    audio or video of them."""

    list_display = ["__str__", "kind", "status", "agent", "created_at", "duration", "ended_by"]
    list_filter = ["kind", "status", "ended_by"]
    list_select_related = ["agent"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "conversation", "agent", "kind", "status", "created_at", "answered_at", "ended_at",
        "ended_by", "duration",
    ]  # fmt: skip
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False

    @admin.display(description=_("duration"))
    def duration(self, call: Call) -> str:
        seconds = call.duration_seconds
        return "—" if seconds is None else duration_text(seconds)
