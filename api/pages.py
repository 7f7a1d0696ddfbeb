"""The agent's own API tokens page (account menu, "API tokens"): make one (shown once) and
revoke one. Server-rendered, like the saved replies page; a session login, not a token."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from agents.models import Agent
from agents.views import agent_required
from api import services
from api.models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("e.g. CRM sync"))
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=ApiToken.Scope.choices,
        initial=[ApiToken.Scope.READ],
        widget=forms.CheckboxSelectMultiple,
    )


@never_cache  # the answer that shows a new token must not sit in any cache
@require_http_methods(["GET", "POST"])
@agent_required
def tokens_page(request: HttpRequest, agent: Agent) -> HttpResponse:
    """The agent's tokens; a POST makes one and shows it, this once."""
    form = TokenForm(request.POST or None)
    made = None
    if request.method == "POST" and form.is_valid():
        try:
            made = services.api_token_create(
                agent=agent, name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            form = TokenForm()
    status = 422 if request.method == "POST" and made is None else 200
    tokens = ApiToken.objects.filter(agent=agent)
    context = {"form": form, "tokens": tokens, "made": made}
    return render(request, "api/tokens.html", context, status=status)


@require_POST
@agent_required
def token_revoke(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """Revoke one of one's own tokens (another's, an admin's included, is a 404)."""
    services.api_token_revoke(token=get_object_or_404(ApiToken, pk=pk, agent=agent))
    return redirect("api:tokens_page")
