"""Every write an agent makes: accounts, claiming and assigning conversations."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from agents.models import Agent
from chat.models import Conversation, Inbox, Message
from chat.services import (
    ConversationEnded,
    MessageResult,
    append_message,
    clean_body,
    conversation_lock,
    message_create,
)


class AlreadyAssigned(Exception):
    """Someone else took the conversation first."""

    def __init__(self, conversation: Conversation) -> None:
        name = conversation.assigned_agent.display_name if conversation.assigned_agent else "?"
        super().__init__(_("%(name)s already took this chat.") % {"name": name})
        self.conversation = conversation


@transaction.atomic
def agent_create(
    *, user: AbstractBaseUser, display_name: str, inboxes: Iterable[Inbox] = ()
) -> Agent:
    """Make an existing user an agent of `inboxes`."""
    agent = Agent.objects.create(user=user, display_name=display_name)
    agent.inboxes.set(inboxes)
    return agent


@transaction.atomic
def conversation_assign(
    *, conversation: Conversation, agent: Agent, only_if_waiting: bool
) -> Conversation:
    """Make `agent` the conversation's agent and the conversation active.

    With `only_if_waiting` (a claim), a conversation someone already took raises AlreadyAssigned:
    two agents claiming at once serialize on the row lock and exactly one wins.
    """
    locked = conversation_lock(conversation)
    if locked.status == Conversation.Status.ENDED:
        raise ConversationEnded(_("This chat has ended."))
    if not agent.inboxes.filter(pk=locked.inbox_id).exists():
        raise PermissionDenied(_("%(name)s does not work in this inbox.") % {"name": agent})
    if locked.assigned_agent_id == agent.pk:
        return locked
    if only_if_waiting and locked.status != Conversation.Status.WAITING:
        raise AlreadyAssigned(locked)
    locked.status = Conversation.Status.ACTIVE
    locked.assigned_agent = agent
    locked.assigned_at = timezone.now()
    locked.save(update_fields=["status", "assigned_agent", "assigned_at"])
    append_message(
        locked,
        sender_kind=Message.SenderKind.SYSTEM,
        body=_("%(name)s joined the chat.") % {"name": agent.display_name},
    )
    return locked


def conversation_claim(*, conversation: Conversation, agent: Agent) -> Conversation:
    """A waiting conversation, taken by `agent` for themself."""
    return conversation_assign(conversation=conversation, agent=agent, only_if_waiting=True)


@transaction.atomic
def agent_reply(
    *, conversation: Conversation, agent: Agent, body: str, client_id: uuid.UUID
) -> MessageResult:
    """An agent's reply. Replying to a waiting chat claims it first, as in every desk agents know;
    replying to a colleague's active chat is allowed and leaves the assignment alone."""
    if conversation.status == Conversation.Status.WAITING:
        clean_body(body)  # Refuse an empty reply before it claims anything.
        with contextlib.suppress(AlreadyAssigned):
            conversation_claim(conversation=conversation, agent=agent)
    return message_create(
        conversation=conversation,
        sender_kind=Message.SenderKind.AGENT,
        body=body,
        client_id=client_id,
        author_agent=agent,
    )
