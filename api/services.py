"""Every write to API tokens: made (shown once), used (its time), revoked."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from agents.models import Agent
from agents.services import read_mark
from api.models import ApiToken
from bots.models import Bot
from chat.events import publish_on_commit
from chat.groups import agent_group
from chat.payloads import AgentReadEvent
from supportdesk.logs import log_on_commit

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "sd"  # noqa: S105 - the tokens' visible prefix, no secret
# `last_used_at` moves at most this often: one UPDATE a minute per token, not one per request.
LAST_USED_PRECISION = timedelta(minutes=1)


class MadeToken(NamedTuple):
    token: ApiToken
    plaintext: str  # the whole token, `sd_<prefix>_<secret>`: shown once, never stored


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def scopes_clean(scopes: Iterable[str]) -> list[str]:
    """The scopes in a fixed order, or ValidationError for an unknown one or none at all."""
    given = set(scopes)
    unknown = given - set(ApiToken.Scope.values)
    if unknown:
        raise ValidationError(
            _("Unknown scope: %(scopes)s.") % {"scopes": ", ".join(sorted(unknown))},
            code="bad_scope",
        )
    if not given:
        raise ValidationError(_("Choose at least one scope."), code="bad_scope")
    return [scope for scope in ApiToken.Scope.values if scope in given]


def api_token_create(
    *, agent: Agent | None = None, bot: Bot | None = None, name: str, scopes: Iterable[str]
) -> MadeToken:
    """A new token for `agent`, or for the webhook bot `bot` (one of the two); the plaintext is
    returned here and nowhere else, ever."""
    if (agent is None) == (bot is None):
        raise ValidationError(_("A token is for an agent or for a bot."), code="bad_owner")
    if bot is not None and bot.kind != Bot.Kind.WEBHOOK:
        raise ValidationError(
            _("Only a webhook bot answers through the API: change the bot's kind first."),
            code="not_webhook_bot",
        )
    name = name.replace("\x00", "").strip()
    if not name:
        raise ValidationError(_("Give the token a name."), code="bad_name")
    if len(name) > ApiToken._meta.get_field("name").max_length:  # type: ignore[operator]
        raise ValidationError(_("A token's name can be at most 100 characters."), code="bad_name")
    scopes = scopes_clean(scopes)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        agent=agent,
        bot=bot,
        name=name,
        prefix=prefix,
        secret_hash=secret_hash(secret),
        scopes=scopes,
    )
    log_on_commit(
        logger,
        "api token created",
        event="api.token_created",
        token_id=token.pk,
        agent_id=token.agent_id,
        bot_id=token.bot_id,
        scopes=",".join(scopes),
    )
    return MadeToken(token, f"{TOKEN_PREFIX}_{prefix}_{secret}")


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke the token: its next request fails (tokens are checked on every request, nothing
    is cached). Revoking a revoked token changes nothing."""
    if token.revoked_at is None:
        now = timezone.now()
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
        token.refresh_from_db(fields=["revoked_at"])
        log_on_commit(
            logger,
            "api token revoked",
            event="api.token_revoked",
            token_id=token.pk,
            agent_id=token.agent_id,
            bot_id=token.bot_id,
        )
    return token


def api_token_used(*, token: ApiToken) -> None:
    """Record that the token was just used, unless that was recorded within the last minute:
    one filtered UPDATE, which also settles two processes racing to record it."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_PRECISION:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_PRECISION)
    ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


def conversation_read_mark(*, agent: Agent, conversation_id: int, seq: int) -> int:
    """The agent's read mark of a conversation moved to `seq` (never back), as the dashboard's
    socket does it: the visitor's ticks move (agents.services.read_mark), and the agent's open
    dashboard tabs recount its unread (`agent.read`, on commit). The new mark."""
    mark = read_mark(agent=agent, conversation_id=conversation_id, seq=seq)
    event: AgentReadEvent = {"type": "agent.read", "conversation_id": conversation_id, "seq": mark}
    publish_on_commit([agent_group(agent.pk)], event)
    return mark
