"""Triage writes: reopening an ended chat, labels and snoozes.

Each is a state change every dashboard must see, live and after a reconnect, so each is a
message with the conversation's next `seq` (docs/PROTOCOL.md): a line for everyone when the
visitor's side changes (a reopened chat), else a line for the agents alone
(`Message.Audience.AGENTS`: the visitor's widget gets an empty placeholder that keeps its
cursor gap-free). The line's event carries the conversation's new state (its labels, its
snooze), which the dashboards' rows and pane headers render.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from agents.models import Agent
from agents.services import works_in
from chat.models import Conversation, Label, Message
from chat.queue import queue_changed
from chat.services import (
    ConversationEnded,
    append_message,
    conversation_lock,
    request_assignment,
    system_line,
)
from supportdesk.logs import log_on_commit

logger = logging.getLogger(__name__)

# Snoozes a person picks from the pane (minutes); "until the visitor writes" is None.
SNOOZE_CHOICES = (60, 240, 24 * 60)
WAKE_BATCH = 100


class NotEnded(Exception):
    """Only an ended chat can be reopened."""


class VisitorHasNewChat(Exception):
    """The visitor started another chat since: one open chat per visitor."""


def _locked_for(conversation: Conversation, by: Agent) -> Conversation:
    locked = conversation_lock(conversation)
    if not works_in(by, locked.inbox_id):
        raise PermissionDenied(_("You do not work in this inbox."))
    return locked


@transaction.atomic
def conversation_reopen(
    *, conversation: Conversation, by: Agent, to_queue: bool = False
) -> Conversation:
    """An ended chat open again: active with the agent it had (when they still work in its
    inbox), or back in the queue (`to_queue`, or nobody to give it back to). A line for both
    sides says so; the visitor's widget follows it live. NotEnded for an open chat;
    VisitorHasNewChat when the visitor has started another one since (one open chat each)."""
    locked = _locked_for(conversation, by)
    if locked.status != Conversation.Status.ENDED:
        raise NotEnded(_("This chat is open already."))
    if (
        Conversation.objects.filter(visitor_id=locked.visitor_id)
        .exclude(status=Conversation.Status.ENDED)
        .exists()
    ):
        raise VisitorHasNewChat(_("The visitor has started a new chat since; open that one."))
    agent = locked.assigned_agent
    back_to_agent = (
        not to_queue
        and agent is not None
        and agent.user.is_active
        and works_in(agent, locked.inbox_id)
    )
    locked.ended_at = None
    locked.snoozed_at = locked.snoozed_until = None
    if back_to_agent:
        locked.status = Conversation.Status.ACTIVE
    else:
        locked.status = Conversation.Status.WAITING
        locked.assigned_agent = None
    try:
        with transaction.atomic():  # the visitor may start a chat this very moment
            locked.save(
                update_fields=[
                    "status",
                    "ended_at",
                    "assigned_agent",
                    "snoozed_at",
                    "snoozed_until",
                ]
            )
    except IntegrityError:
        raise VisitorHasNewChat(
            _("The visitor has started a new chat since; open that one.")
        ) from None
    append_message(
        locked,
        sender_kind=Message.SenderKind.SYSTEM,
        body=system_line(gettext_noop("%(name)s reopened the chat."), name=by.display_name),
    )
    if not back_to_agent:
        queue_changed(locked.inbox_id)
        request_assignment(locked.inbox_id)
    log_on_commit(
        logger,
        "conversation reopened",
        event="conversation.reopened",
        conversation_id=locked.pk,
        inbox_id=locked.inbox_id,
        agent_id=by.pk,
        status=locked.status,
    )
    return locked


def inbox_label(*, conversation: Conversation, label_id: int) -> Label:
    """The label, if it is one of the conversation's inbox's; Label.DoesNotExist otherwise (a
    label of another inbox is no label here: the views answer 404)."""
    return Label.objects.get(pk=label_id, inbox_id=conversation.inbox_id)


@transaction.atomic
def conversation_label_set(
    *, conversation: Conversation, by: Agent, label_id: int, on: bool
) -> Conversation:
    """Put the inbox's label `label_id` on the chat (`on`) or take it off; nothing changes (and
    no line) if it already is as asked. Label.DoesNotExist for a label of another inbox."""
    locked = _locked_for(conversation, by)
    label = inbox_label(conversation=locked, label_id=label_id)
    has = locked.labels.filter(pk=label.pk).exists()
    if has == on:
        return locked
    if on:
        locked.labels.add(label)
        line = gettext_noop("%(name)s added the label %(label)s.")
    else:
        locked.labels.remove(label)
        line = gettext_noop("%(name)s removed the label %(label)s.")
    locked.labels_json = None  # read again for the line's event (chat.payloads)
    append_message(
        locked,
        sender_kind=Message.SenderKind.SYSTEM,
        body=system_line(line, name=by.display_name, label=label.name),
        audience=Message.Audience.AGENTS,
    )
    return locked


@transaction.atomic
def conversation_snooze(
    *, conversation: Conversation, by: Agent, until: datetime | None
) -> Conversation:
    """Keep an open chat out of the lists until `until` (None: until the visitor writes; their
    message always wakes it). ConversationEnded for an ended chat."""
    locked = _locked_for(conversation, by)
    if locked.status == Conversation.Status.ENDED:
        raise ConversationEnded(_("This chat has ended."))
    locked.snoozed_at = timezone.now()
    locked.snoozed_until = until
    locked.save(update_fields=["snoozed_at", "snoozed_until"])
    if until is None:
        line = system_line(
            gettext_noop("%(name)s snoozed the chat until the visitor writes."),
            name=by.display_name,
        )
    else:
        line = system_line(
            gettext_noop("%(name)s snoozed the chat until %(time)s."),
            name=by.display_name,
            time=_local(until, locked.inbox.time_zone),
        )
    append_message(
        locked,
        sender_kind=Message.SenderKind.SYSTEM,
        body=line,
        audience=Message.Audience.AGENTS,
    )
    return locked


@transaction.atomic
def conversation_unsnooze(*, conversation: Conversation, by: Agent | None) -> Conversation:
    """The chat back in the lists: woken by an agent (`by`), or by its time coming (None).
    Nothing happens (and no line) if it is not snoozed."""
    locked = conversation_lock(conversation) if by is None else _locked_for(conversation, by)
    if locked.snoozed_at is None:
        return locked
    if by is None and (locked.snoozed_until is None or locked.snoozed_until > timezone.now()):
        return locked  # snoozed again meanwhile, for longer
    locked.snoozed_at = locked.snoozed_until = None
    locked.save(update_fields=["snoozed_at", "snoozed_until"])
    if by is None:
        line = system_line(gettext_noop("The snooze ended."))
    else:
        line = system_line(gettext_noop("%(name)s woke the chat."), name=by.display_name)
    append_message(
        locked, sender_kind=Message.SenderKind.SYSTEM, body=line, audience=Message.Audience.AGENTS
    )
    return locked


def conversations_wake() -> int:
    """Wake the snoozed chats whose time came (housekeeping); at most WAKE_BATCH a run."""
    due = (
        Conversation.objects.filter(snoozed_at__isnull=False, snoozed_until__lte=timezone.now())
        .order_by("snoozed_until")
        .values_list("pk", flat=True)[:WAKE_BATCH]
    )
    woken = 0
    for pk in list(due):
        conversation_unsnooze(conversation=Conversation(pk=pk), by=None)
        woken += 1
    return woken


def snooze_until(choice: str, *, now: datetime | None = None) -> datetime | None:
    """What the pane's snooze choice means: "reply" (None: until the visitor writes) or a number
    of minutes from SNOOZE_CHOICES. ValueError for anything else."""
    if choice == "reply":
        return None
    minutes = int(choice)
    if minutes not in SNOOZE_CHOICES:
        raise ValueError(choice)
    return (now or timezone.now()) + timedelta(minutes=minutes)


def _local(moment: datetime, zone: str) -> str:
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
