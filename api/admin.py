"""API tokens in the admin: list, make one for any agent or webhook bot (shown once, on the
page that follows the form, never stored in the session or a message), revoke. Nothing else is
editable."""

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
from bots.models import Bot


class ApiTokenAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=ApiToken.Scope.choices,
        initial=[ApiToken.Scope.READ],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = ApiToken
        fields = ["agent", "bot", "name", "scopes"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if bool(data.get("agent")) == bool(data.get("bot")):
            raise forms.ValidationError(_("Choose an agent or a bot (one of the two)."))
        bot = data.get("bot")
        if bot is not None and bot.kind != Bot.Kind.WEBHOOK:
            raise forms.ValidationError(
                _("Only a webhook bot answers through the API: change the bot's kind first.")
            )
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "agent",
        "bot",
        "token_prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "agent__display_name", "bot__name"]
    list_select_related = ["agent", "bot"]
    actions = ["revoke"]
    readonly_fields = [
        "agent",
        "bot",
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

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """From a bot's page (?bot=ID): the write scope, the one a bot's token needs."""
        initial = super().get_changeform_initial_data(request)
        if "bot" in initial:
            initial["scopes"] = [ApiToken.Scope.WRITE]
        return initial

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["agent", "bot", "name", "scopes"] if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            return  # nothing of a token is edited: revoke it and make another
        made = services.api_token_create(
            agent=obj.agent, bot=obj.bot, name=obj.name, scopes=obj.scopes
        )
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
