"""API tokens in the admin: list, make one for any agent (shown once, on the page that follows
the form, never stored in the session or a message), revoke. Nothing else is editable."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from api import services
from api.models import ApiToken


class ApiTokenAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=ApiToken.Scope.choices,
        initial=[ApiToken.Scope.READ],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = ApiToken
        fields = ["agent", "name", "scopes"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "agent",
        "token_prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "agent__display_name"]
    list_select_related = ["agent"]
    actions = ["revoke"]
    readonly_fields = [
        "agent",
        "name",
        "token_prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    fields = readonly_fields

    @admin.display(description=_("token"))
    def token_prefix(self, token: ApiToken) -> str:
        return f"sd_{token.prefix}_…"

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["agent", "name", "scopes"] if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            return  # nothing of a token is edited: revoke it and make another
        made = services.api_token_create(agent=obj.agent, name=obj.name, scopes=obj.scopes)
        obj.pk, obj.prefix, obj.created_at = made.token.pk, made.token.prefix, made.token.created_at
        obj._state.adding = False
        request._api_token_plaintext = made.plaintext  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: Any = None
    ) -> HttpResponse:
        """The token, this once: a page of its own, not a message kept in the session."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "token": obj,
            "plaintext": getattr(request, "_api_token_plaintext", ""),
            "title": _("API token created"),
        }
        response = TemplateResponse(request, "admin/api/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            services.api_token_revoke(token=token)
            count += 1
        revoked = ngettext("%(n)d token revoked.", "%(n)d tokens revoked.", count) % {"n": count}
        self.message_user(request, revoked, messages.SUCCESS)
