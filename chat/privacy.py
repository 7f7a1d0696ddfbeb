"""Personal data: one visitor's export and erasure (GDPR art. 15 and 17), and retention.

A visitor's data is their row (name, email, what the widget reported about their browsing) and
their conversations with every message, internal notes included. Deleting a visitor or a
conversation lets the database cascade do the rest (see `deleted_models`); the counts returned
are what the database reports it deleted, keyed by model label, so a model added later with a
cascade shows up in them (and fails the test that compares them with the preview).

Reads and writes live together here, apart from `services.py`, because they answer one question
("what do we hold about this person?") and must change together when a model gains a field.
"""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from functools import reduce
from operator import or_
from typing import IO, Any

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone

from chat.attachments import attachment_content
from chat.events import publish_on_commit
from chat.groups import inbox_group, visitor_group
from chat.models import Attachment, Conversation, Message, Visitor
from chat.payloads import conversations_deleted_event, visitor_signed_out_event
from chat.queue import queue_changed
from chat.services import VISITOR_CONTEXT_FIELDS

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "supportdesk.visitor-export.v1"
VISITOR_FIELDS = [
    "name", "email", "created_at", *VISITOR_CONTEXT_FIELDS, "context_updated_at",
    "external_id", "identity_verified_at",  # the customer's user id, if their site vouched for it
    "token_generation",  # how often they were signed out everywhere (chat.tokens)
    "attributes",  # custom attributes from the customer's systems (REST API, SDK setAttributes)
]  # fmt: skip

# What erasing a visitor or a conversation deletes, in the order counts are shown:
# - Conversation, Message: the visitor's chats (Visitor -> Conversation -> Message cascade).
# - agents.ReadMark: how far each agent read one of those chats (cascade from Conversation).
# - agents.Activity: the audit rows about those chats ("Alice claimed #12", transfer notes in
#   `detail`): they describe the chat as much as the agent, so they go with it (cascade).
# - LogEntry: the Django admin's history of those rows; its `object_repr` repeats the
#   visitor's name or a message's first words. Not a foreign key, so deleted here by hand.
# Changed, not deleted: a later chat the deletion keeps (retention keeps a visitor's recent
# ones) loses its `previous` link to a deleted one (SET_NULL). Agents, inboxes and an agent's
# own audit rows (logins, status) are not the visitor's and stay.
# The cascades are read from the schema (`_cascades`), not listed: the agents' app sits above
# chat (docs/ARCHITECTURE.md), and a model added later with a cascade is counted without a change
# here.


def _cascades(model: type[models.Model]) -> list[models.ForeignObjectRel]:
    """The relations along which deleting rows of `model` deletes other rows (CASCADE)."""
    return [
        rel
        for rel in model._meta.related_objects
        if getattr(rel, "on_delete", None) is models.CASCADE and rel.related_model is not model
    ]


def _cascaded_models(model: type[models.Model]) -> list[type[models.Model]]:
    """Every model whose rows deleting `model`'s rows deletes, depth first."""
    found: list[type[models.Model]] = []
    for rel in _cascades(model):
        child = rel.related_model
        found += [child, *_cascaded_models(child)]
    return found


def deleted_models() -> list[type[models.Model]]:
    """What erasing a visitor or a conversation deletes, in the order counts are shown."""
    return [Visitor, Conversation, *_cascaded_models(Conversation), LogEntry]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def visitor_export(*, visitor: Visitor) -> dict[str, Any]:
    """Everything the desk holds about one visitor, as plain JSON types (a data-subject access
    request, GDPR art. 15).

    Internal notes are included, marked `"internal_note": true`: agents wrote them about this
    visitor, so they are the visitor's personal data even though the widget never shows them.
    Agents' names appear where the visitor saw them (replies, system lines) and on notes.

    Left out: the agents' audit log (`agents.Activity`) and read marks. They record what agents
    did and read, which is data about the agents; the one part of them about the visitor, a
    transfer note, is also stored as an internal note and so is exported from there.
    """
    messages = (
        Message.objects.select_related("author_agent")
        .prefetch_related("attachments")
        .order_by("seq")
    )
    conversations = (
        Conversation.objects.filter(visitor=visitor)
        .select_related("inbox", "assigned_agent")
        .prefetch_related(Prefetch("messages", queryset=messages), "calls")
        .order_by("created_at", "pk")
    )
    profile: dict[str, Any] = {"id": visitor.pk, "inbox": visitor.inbox.name}
    for field in VISITOR_FIELDS:
        value = getattr(visitor, field)
        profile[field] = _iso(value) if isinstance(value, datetime) else value
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(timezone.now()),
        "visitor": profile,
        "conversations": [_conversation_export(c) for c in conversations],
        # Files they uploaded but never sent (removed a day after the upload).
        "files_not_sent": [
            _file_export(a) for a in Attachment.objects.filter(visitor=visitor, message=None)
        ],
    }


def _file_export(attachment: Attachment) -> dict[str, Any]:
    return {
        "name": attachment.name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "uploaded_at": _iso(attachment.created_at),
        "path": _archive_path(attachment),  # in the export's zip
    }


def _archive_path(attachment: Attachment) -> str:
    return f"files/{attachment.key}/{attachment.name}"


def visitor_export_archive(*, visitor: Visitor) -> IO[bytes]:
    """The export as a zip: `visitor-<id>.json` (`visitor_export`) and every file of theirs
    (sent, received, or uploaded and not sent) under `files/<key>/<name>`. Internal notes'
    files are included, as the notes are. Spooled to disk past 16 MB; positioned at 0."""
    data = visitor_export(visitor=visitor)
    archive = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - returned
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(
            f"visitor-{visitor.pk}.json", json.dumps(data, indent=2, ensure_ascii=False)
        )
        theirs = Attachment.objects.filter(
            Q(visitor=visitor) | Q(message__conversation__visitor=visitor)
        )
        for attachment in theirs.order_by("created_at", "pk"):
            try:
                with attachment.file.open("rb") as stored:
                    content = attachment_content(attachment, stored.read())  # decrypted
                zipped.writestr(_archive_path(attachment), content)
            except FileNotFoundError:
                logger.warning("export: stored file of attachment %s is missing", attachment.pk)
    archive.seek(0)
    return archive


def _conversation_export(conversation: Conversation) -> dict[str, Any]:
    agent = conversation.assigned_agent
    return {
        "id": conversation.pk,
        "inbox": conversation.inbox.name,
        "status": conversation.status,
        "created_at": _iso(conversation.created_at),
        "assigned_at": _iso(conversation.assigned_at),
        "assigned_agent": agent.display_name if agent else None,
        "ended_at": _iso(conversation.ended_at),
        "previous_conversation_id": conversation.previous_id,
        "rating": conversation.rating,
        "rating_comment": conversation.rating_comment,
        "rated_at": _iso(conversation.rated_at),
        "visitor_read_up_to_seq": conversation.visitor_read_seq,
        "messages": [
            {
                "seq": message.seq,
                "sender_kind": message.sender_kind,
                "internal_note": message.sender_kind == Message.SenderKind.NOTE,
                "author_agent": message.author_agent.display_name if message.author_agent else None,
                "body": message.body,
                "created_at": _iso(message.created_at),
                "files": [_file_export(a) for a in message.attachments.all()],
            }
            for message in conversation.messages.all()
        ],
        # The record of each call (chat.calls): the desk never holds a call's audio or video.
        "calls": [
            {
                "kind": call.kind,
                "status": call.status,
                "started_at": _iso(call.created_at),
                "answered_at": _iso(call.answered_at),
                "ended_at": _iso(call.ended_at),
                "ended_by": call.ended_by,
            }
            for call in conversation.calls.all()
        ],
    }


def visitor_deletion_preview(*, visitor: Visitor) -> dict[str, int]:
    """What `visitor_delete` would delete, counted per model (the admin's confirmation page)."""
    return _counts(
        conversations=Conversation.objects.filter(visitor=visitor),
        visitors=Visitor.objects.filter(pk=visitor.pk),
    )


@transaction.atomic
def visitor_delete(*, visitor: Visitor) -> dict[str, int]:
    """Erase one visitor and everything keyed to them (GDPR art. 17); counts per model label.

    Locks the visitor, then their conversations, in the order the services take them
    (`conversation_start`, then `conversation_lock`): a message being written now finishes
    first, or waits and then finds nothing. After commit the dashboards drop the conversations,
    the inbox's waiting line moves if one was waiting, and the visitor's open widgets close
    their socket with 4401, so they drop the token and start a new, empty session.
    """
    Visitor.objects.select_for_update().filter(pk=visitor.pk).values_list("pk").get()
    conversations = Conversation.objects.filter(visitor=visitor)
    list(conversations.select_for_update().values_list("pk"))  # evaluated to take the locks
    return _delete(
        conversations=conversations,
        visitors=Visitor.objects.filter(pk=visitor.pk),
        close_widgets=True,
    )


def retention_cutoff(older_than_days: int) -> datetime:
    """The moment before which ended conversations are purged; ValueError unless days >= 1, so
    a misconfigured 0 (or a sign slip) cannot wipe the history."""
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int):
        raise TypeError("older_than_days must be a whole number of days")
    if older_than_days < 1:
        raise ValueError(f"older_than_days must be at least 1, not {older_than_days}")
    return timezone.now() - timedelta(days=older_than_days)


def _purgeable_conversations(cutoff: datetime) -> QuerySet[Conversation]:
    # Only ended ones: a waiting or active chat is never purged, however old.
    return Conversation.objects.filter(status=Conversation.Status.ENDED, ended_at__lt=cutoff)


def _purgeable_visitors(cutoff: datetime) -> QuerySet[Visitor]:
    """Visitors with no sign of life since `cutoff` whose every conversation (if any) is
    purgeable: after the conversations go, they are left with none. Includes visitors who
    opened the widget and never wrote: their row still holds their browsing context."""
    kept = Conversation.objects.filter(visitor=OuterRef("pk")).exclude(
        pk__in=_purgeable_conversations(cutoff).values("pk")
    )
    return Visitor.objects.filter(
        Q(context_updated_at__isnull=True) | Q(context_updated_at__lt=cutoff),
        created_at__lt=cutoff,
    ).filter(~Exists(kept))


def conversations_purge_preview(*, older_than_days: int) -> dict[str, int]:
    """What `conversations_purge` would delete now, counted per model (the command's dry run)."""
    cutoff = retention_cutoff(older_than_days)
    return _counts(
        conversations=_purgeable_conversations(cutoff), visitors=_purgeable_visitors(cutoff)
    )


def conversations_purge(*, older_than_days: int, batch_size: int = 500) -> dict[str, int]:
    """Retention: delete ended conversations that ended more than `older_than_days` ago, then
    visitors left with no conversations and no sign of life since then. Counts per model label.

    Works in batches of `batch_size` rows, each its own transaction (row locks held briefly, a
    failure keeps what was done, concurrent runs share the work). Waiting and active
    conversations are never touched. ValueError for days < 1 (see `retention_cutoff`).
    """
    cutoff = retention_cutoff(older_than_days)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    counts: Counter[str] = Counter()
    for candidates in (_purgeable_conversations(cutoff), _purgeable_visitors(cutoff)):
        while batch := _purge_batch(candidates, batch_size):
            counts.update(batch)
    tally = _tally(counts)
    if any(tally.values()):
        logger.info("retention (%s days): deleted %s", older_than_days, describe_counts(tally))
    return tally


@transaction.atomic
def _purge_batch(candidates: QuerySet[Any], batch_size: int) -> dict[str, int] | None:
    """Delete the first `batch_size` of `candidates` (conversations or visitors), or None if
    there are none left. Locks them first; the conditions are checked again under the lock."""
    locked = candidates.select_for_update().order_by("pk").values_list("pk", flat=True)
    pks = list(locked[:batch_size])
    if not pks:
        return None
    batch = candidates.filter(pk__in=pks)
    if candidates.model is Conversation:
        return _delete(conversations=batch, visitors=Visitor.objects.none())
    return _delete(conversations=Conversation.objects.none(), visitors=batch)


def _delete(
    *,
    conversations: QuerySet[Conversation],
    visitors: QuerySet[Visitor],
    close_widgets: bool = False,
) -> dict[str, int]:
    """Delete `conversations`, then `visitors`, with their admin history; counts per model.
    On commit, dashboards hear which conversations are gone (and, with `close_widgets`, the
    visitors' sockets that they are: only for an erasure, not for retention's idle visitors).

    Precondition: inside a transaction, the rows locked. The admin log goes first: it is found
    through the rows it describes.
    """
    gone = list(conversations.values_list("pk", "inbox_id", "status"))
    visitor_ids = list(visitors.values_list("pk", flat=True)) if close_widgets else []
    counts: Counter[str] = Counter()
    counts.update(_admin_log(conversations=conversations, visitors=visitors).delete()[1])
    counts.update(conversations.delete()[1])
    counts.update(visitors.delete()[1])
    for inbox_id in {inbox for _, inbox, status in gone if status == Conversation.Status.WAITING}:
        queue_changed(inbox_id)  # those behind it move up
    _publish_deletions_on_commit([(pk, inbox) for pk, inbox, _ in gone], visitor_ids)
    return _tally(counts)


def _publish_deletions_on_commit(
    conversations: list[tuple[int, int]], visitor_ids: list[int]
) -> None:
    """Once the deletion commits, tell each inbox's dashboards which of its conversations
    (`(id, inbox_id)` pairs) are gone, and each erased visitor's sockets that they are."""
    by_inbox: dict[int, list[int]] = {}
    for conversation_id, inbox_id in conversations:
        by_inbox.setdefault(inbox_id, []).append(conversation_id)
    for inbox_id, ids in by_inbox.items():
        publish_on_commit([inbox_group(inbox_id)], conversations_deleted_event(ids))
    for visitor_id in visitor_ids:
        publish_on_commit([visitor_group(visitor_id)], visitor_signed_out_event(visitor_id))


def _counts(
    *, conversations: QuerySet[Conversation], visitors: QuerySet[Visitor]
) -> dict[str, int]:
    """What `_delete` would delete, by count queries (nothing loaded, nothing locked)."""
    counts = Counter(
        {
            Visitor._meta.label: visitors.count(),
            Conversation._meta.label: conversations.count(),
            LogEntry._meta.label: _admin_log(
                conversations=conversations, visitors=visitors
            ).count(),
        }
    )
    counts.update(_cascade_counts(conversations))
    return _tally(counts)


def _cascade_counts(rows: QuerySet[Any]) -> Counter[str]:
    """How many rows deleting `rows` deletes through the cascades, per model (count queries
    with subqueries: nothing loaded)."""
    counts: Counter[str] = Counter()
    for rel in _cascades(rows.model):
        children = rel.related_model._base_manager.filter(**{f"{rel.field.name}__in": rows})
        counts[rel.related_model._meta.label] += children.count()
        counts.update(_cascade_counts(children))
    return counts


def _admin_log(
    *, conversations: QuerySet[Conversation], visitors: QuerySet[Visitor]
) -> QuerySet[LogEntry]:
    """The Django admin's log entries about these visitors, conversations and their messages.

    `LogEntry.object_id` is text, so the ids are compared as text, in subqueries (a visitor
    may have thousands of messages; no id list is loaded into Python)."""
    about = [visitors, conversations, Message.objects.filter(conversation__in=conversations)]
    return LogEntry.objects.filter(
        reduce(
            or_,
            (
                Q(
                    content_type=ContentType.objects.get_for_model(rows.model),
                    object_id__in=rows.annotate(key=Cast("pk", models.TextField())).values("key"),
                )
                for rows in about
            ),
        )
    )


def _tally(counts: Mapping[str, int]) -> dict[str, int]:
    """Counts in `deleted_models()` order, zeros included; any other model the database
    reports after them."""
    ordered = {model._meta.label: counts.get(model._meta.label, 0) for model in deleted_models()}
    return ordered | {label: n for label, n in counts.items() if label not in ordered}


def describe_counts(counts: Mapping[str, int]) -> str:
    """The counts in words, such as 3 conversations, 12 messages, 1 visitor; or nothing."""
    return ", ".join(count_lines(counts)) or "nothing"


def count_lines(counts: Mapping[str, int]) -> Iterator[str]:
    """One "12 messages" per model with rows, in the order given."""
    for label, n in counts.items():
        if n:
            opts = apps.get_model(label)._meta
            yield f"{n} {opts.verbose_name if n == 1 else opts.verbose_name_plural}"
