"""Every write an agent makes: accounts, claiming and assigning conversations."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable, Sequence

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import MaxLengthValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from agents.models import Activity, Agent, CannedResponse, ReadMark, message_length_limit
from agents.selectors import conversation_for_agent
from chat.models import Conversation, Inbox, Message
from chat.posting import Posted, agent_reply_post, posted
from chat.queue import queue_changed
from chat.sending import Draft
from chat.services import (
    ConversationEnded,
    MessageResult,
    append_message,
    clean_body,
    conversation_lock,
    conversation_read,
    message_create,
    request_assignment,
    system_line,
)
from chat.signals import conversation_assigned
from supportdesk.logs import log_on_commit

logger = logging.getLogger(__name__)


# What a claim may take: a waiting chat, or one with the bot (an agent stepping in stops it).
CLAIMABLE = (Conversation.Status.WAITING, Conversation.Status.BOT)


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
    if not works_in(agent, locked.inbox_id):
        raise PermissionDenied(_("%(name)s does not work in this inbox.") % {"name": agent})
    if locked.assigned_agent_id == agent.pk:
        return locked
    if only_if_waiting and locked.status not in CLAIMABLE:
        raise AlreadyAssigned(locked)
    if locked.status == Conversation.Status.WAITING:
        queue_changed(locked.inbox_id)  # out of the line: those behind it move up
    _assign_locked(locked, agent)
    how = "claim" if only_if_waiting else "assign"
    conversation_assigned.send(
        sender=Conversation, conversation=locked, agent=agent, by=None, how=how
    )
    append_message(
        locked,
        sender_kind=Message.SenderKind.SYSTEM,
        body=system_line(gettext_noop("%(name)s joined the chat."), name=agent.display_name),
    )
    log_on_commit(
        logger,
        "conversation assigned",
        event="conversation.assigned",
        conversation_id=locked.pk,
        inbox_id=locked.inbox_id,
        agent_id=agent.pk,
        how=how,
    )
    return locked


def _assign_locked(locked: Conversation, agent: Agent) -> None:
    """Make `agent` the locked conversation's agent and the conversation active. The first
    assignment also ends the chat's time in the queue (`first_assigned_at`, for analytics)."""
    locked.status = Conversation.Status.ACTIVE
    locked.assigned_agent = agent
    locked.assigned_at = timezone.now()
    fields = ["status", "assigned_agent", "assigned_at"]
    if locked.first_assigned_at is None:
        locked.first_assigned_at = locked.assigned_at
        fields.append("first_assigned_at")
    locked.save(update_fields=fields)


def works_in(agent: Agent, inbox_id: int) -> bool:
    """Whether `agent` may handle the inbox's chats: a member, or an admin."""
    return agent.is_admin or agent.inboxes.filter(pk=inbox_id).exists()


@transaction.atomic
def conversation_claim(*, conversation: Conversation, agent: Agent) -> Conversation:
    """A waiting conversation (or one with the bot, which then stops), taken by `agent` for
    themself."""
    claimed = conversation_assign(conversation=conversation, agent=agent, only_if_waiting=True)
    Activity.objects.create(actor=agent, verb=Activity.Verb.CLAIM, conversation=claimed)
    return claimed


@transaction.atomic
def conversation_transfer(
    *, conversation: Conversation, by: Agent, to: Agent, note: str = ""
) -> Conversation:
    """Hand an open chat to another agent of its inbox, with an optional internal note for them.

    Any agent of the inbox may transfer (a colleague covering a break); an admin may reassign
    any chat. The visitor sees who took over; the note stays among agents.
    """
    note = note.strip()
    if note:
        clean_body(note)
    locked = conversation_lock(conversation)
    if locked.status == Conversation.Status.ENDED:
        raise ConversationEnded(_("This chat has ended."))
    if not works_in(by, locked.inbox_id):
        raise PermissionDenied(_("You do not work in this inbox."))
    if not to.inboxes.filter(pk=locked.inbox_id).exists():
        raise PermissionDenied(_("%(name)s does not work in this inbox.") % {"name": to})
    if locked.assigned_agent_id == to.pk:
        raise AlreadyAssigned(locked)
    previous_agent_id = locked.assigned_agent_id
    _assign_locked(locked, to)
    conversation_assigned.send(
        sender=Conversation, conversation=locked, agent=to, by=by, how="transfer"
    )
    append_message(
        locked,
        sender_kind=Message.SenderKind.SYSTEM,
        body=system_line(
            gettext_noop("%(by)s transferred the chat to %(to)s."),
            by=by.display_name,
            to=to.display_name,
        ),
        # Who handed the chat to whom is the team's business: the visitor hears only who they
        # are talking to now.
        audience=Message.Audience.AGENTS,
        visitor_body=system_line(
            gettext_noop("You're now chatting with %(name)s."), name=to.display_name
        ),
    )
    if note:
        append_message(locked, sender_kind=Message.SenderKind.NOTE, body=note, author_agent=by)
    Activity.objects.create(
        actor=by,
        verb=Activity.Verb.TRANSFER,
        conversation=locked,
        target_agent=to,
        detail=note[:500],
    )
    if previous_agent_id is not None:
        request_assignment(locked.inbox_id)  # the previous agent has room again
    log_on_commit(
        logger,
        "conversation transferred",
        event="conversation.assigned",
        conversation_id=locked.pk,
        inbox_id=locked.inbox_id,
        agent_id=to.pk,
        from_agent_id=previous_agent_id,
        by_agent_id=by.pk,
        how="transfer",
    )
    return locked


@transaction.atomic
def note_create(
    *,
    conversation: Conversation,
    agent: Agent,
    body: str,
    client_id: uuid.UUID,
    attachments: Sequence[str] = (),
) -> MessageResult:
    """An internal note (with the agent's uploads `attachments`): in the conversation's
    timeline for agents, never shown to the visitor, nor its files."""
    result = message_create(
        conversation=conversation,
        sender_kind=Message.SenderKind.NOTE,
        body=body,
        client_id=client_id,
        author_agent=agent,
        attachments=attachments,
    )
    if result.created:
        Activity.objects.create(actor=agent, verb=Activity.Verb.NOTE, conversation=conversation)
    return result


def read_mark(*, agent: Agent, conversation_id: int, seq: int) -> int:
    """Move the agent's read watermark of a conversation forward (never back); the new mark."""
    capped = conversation_read(conversation_id=conversation_id, reader="agent", seq=seq)
    if capped is None:
        return 0
    seq = capped
    mark, created = ReadMark.objects.get_or_create(
        agent=agent, conversation_id=conversation_id, defaults={"seq": seq}
    )
    if not created and mark.seq < seq:
        ReadMark.objects.filter(pk=mark.pk, seq__lt=seq).update(seq=seq)
        return seq
    return mark.seq if not created else seq


@transaction.atomic
def agent_reply(
    *,
    conversation: Conversation,
    agent: Agent,
    body: str,
    client_id: uuid.UUID,
    attachments: Sequence[str] = (),
) -> MessageResult:
    """An agent's reply (with the agent's uploads `attachments`). Replying to a waiting chat (or
    one with the bot) claims it first, as in every desk agents know; replying to a colleague's
    active chat is allowed and leaves the assignment alone."""
    if conversation.status in CLAIMABLE:
        # Refuse an empty reply before it claims anything.
        clean_body(body, allow_empty=bool(attachments))
        with contextlib.suppress(AlreadyAssigned):
            conversation_claim(conversation=conversation, agent=agent)
    return message_create(
        conversation=conversation,
        sender_kind=Message.SenderKind.AGENT,
        body=body,
        client_id=client_id,
        author_agent=agent,
        attachments=attachments,
    )


def reply_post(*, agent: Agent, conversation_id: int, draft: Draft) -> Posted:
    """The agent's reply, however it came (HTTP or the socket): the fast path's two statements
    check the agent may write there (chat.posting); anything else (files, a waiting chat, a
    retry) takes the full path, which looks the conversation up as every view does (404)."""
    if not draft.attachments:
        fast = agent_reply_post(
            agent=agent, conversation_id=conversation_id, body=draft.text, client_id=draft.client_id
        )
        if fast is not None:
            return fast
    conversation = conversation_for_agent(agent=agent, pk=conversation_id)
    return posted(
        agent_reply(
            conversation=conversation,
            agent=agent,
            body=draft.text,
            client_id=draft.client_id,
            attachments=draft.attachments,
        )
    )


def saved_reply_create(*, agent: Agent, shortcut: str, body: str) -> CannedResponse:
    """A personal saved reply; a clear error if the agent already has that shortcut."""
    MaxLengthValidator(message_length_limit)(body.strip())  # as long as a message may be
    if CannedResponse.objects.filter(agent=agent, shortcut=shortcut).exists():
        raise ValidationError(_("You already have /%(shortcut)s.") % {"shortcut": shortcut})
    return CannedResponse.objects.create(agent=agent, shortcut=shortcut, body=body.strip())
