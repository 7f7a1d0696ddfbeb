"""Who is calling the API, and what they may do: an API token (`Authorization: Bearer ...`)
acts as its agent, with its scopes; a logged-in agent's session (the browsable docs) acts as
that agent, with every scope, and DRF checks its CSRF token on writes. A webhook bot's token
acts as the bot, on the bot's endpoints only (`BotAccess`), and is refused everywhere else."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from agents.models import Agent
from agents.selectors import agent_for_user
from api import selectors, services
from api.models import ApiToken
from bots.models import Bot
from supportdesk import ratelimit

RATE = "api"  # settings.SUPPORTDESK_RATE_LIMITS["api"], per token (or per agent, by session)


class RateLimited(exceptions.Throttled):
    default_code = "rate_limited"


def limit(key: str) -> None:
    """Count one request against the API's rate for `key`; `RateLimited` (429) when spent."""
    if wait := ratelimit.hit(RATE, key):
        raise RateLimited(wait=wait, detail=_("Too many requests; wait a moment and try again."))


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer sd_<prefix>_<secret>`. A header with another scheme is not ours
    (None: the next class may know it); a Bearer token that is not a live one is a 401 at once
    (revoked tokens too: nothing is cached). Failed attempts count against the caller's address."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _sep, plaintext = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = selectors.api_token_for(plaintext.strip())
        if token is None:
            limit(f"ip:{ratelimit.client_ip(request._request)}")
            raise exceptions.AuthenticationFailed(
                _("The API token is not valid (malformed, unknown or revoked)."), code="bad_token"
            )
        limit(f"token:{token.pk}")
        services.api_token_used(token=token)
        # A bot is no user of the desk: DRF sees an anonymous one, BotAccess sees the bot.
        return (token.agent.user if token.agent is not None else AnonymousUser()), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class AgentSessionAuthentication(SessionAuthentication):
    """The dashboard's login, for the browsable docs (CSRF enforced on writes, as DRF does)."""


def request_agent(request: Request) -> Agent:
    """The agent the request acts as (set by `AgentAccess`)."""
    return request.agent  # type: ignore[attr-defined, no-any-return]


class AgentAccess(BasePermission):
    """An agent (by token or session), with the token's scope for the method: `read` for GET,
    HEAD and OPTIONS, `write` for the rest. Sets `request.agent`."""

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None and token.agent is None:
            raise exceptions.PermissionDenied(
                _(
                    "This is a bot's token: it can post the bot's answers and hand over"
                    " (/api/v1/bot/...), nothing else."
                ),
                code="bot_token",
            )
        if token is not None:
            agent = token.agent
        else:
            if not request.user or not request.user.is_authenticated:
                raise exceptions.NotAuthenticated(
                    _("Send an API token: Authorization: Bearer sd_..."), code="not_authenticated"
                )
            found = agent_for_user(request.user)
            if found is None:
                raise exceptions.PermissionDenied(
                    _("You are not an agent of this desk."), code="not_an_agent"
                )
            agent = found
            limit(f"agent:{agent.pk}")
        needed = ApiToken.Scope.READ if request.method in SAFE_METHODS else ApiToken.Scope.WRITE
        if token is not None and not token.has_scope(needed):
            raise exceptions.PermissionDenied(
                _("This token lacks the %(scope)s scope.") % {"scope": needed}, code="scope"
            )
        request.agent = agent  # type: ignore[attr-defined]
        return True


def request_bot(request: Request) -> Bot:
    """The bot the request acts as (set by `BotAccess`)."""
    return request.bot  # type: ignore[attr-defined, no-any-return]


class BotAccess(BasePermission):
    """A webhook bot's token with the `write` scope (the bot's endpoints only write), of a bot
    that is active and still a webhook bot. Sets `request.bot`."""

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is None and not (request.user and request.user.is_authenticated):
            raise exceptions.NotAuthenticated(
                _("Send the bot's API token: Authorization: Bearer sd_..."),
                code="not_authenticated",
            )
        bot = token.bot if token is not None else None
        if token is None or bot is None:
            raise exceptions.PermissionDenied(
                _("Only a bot's token can speak as a bot."), code="not_a_bot"
            )
        if not token.has_scope(ApiToken.Scope.WRITE):
            raise exceptions.PermissionDenied(
                _("This token lacks the %(scope)s scope.") % {"scope": ApiToken.Scope.WRITE},
                code="scope",
            )
        if not bot.is_active or bot.kind != Bot.Kind.WEBHOOK:
            raise exceptions.PermissionDenied(
                _("The bot is switched off or no longer a webhook bot."), code="bot_inactive"
            )
        request.bot = bot  # type: ignore[attr-defined]
        return True
