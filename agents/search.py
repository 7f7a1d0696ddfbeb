"""Message search across the conversations an agent may see.

PostgreSQL: full-text search (`websearch_to_tsquery`: words, "quoted phrases", -exclusions),
ranked by `ts_rank` and highlighted by `ts_headline`, over the GIN index of migration
chat.0005 (the expression here must stay identical to the index's for the planner to use it).
SQLite: every word as a case-insensitive substring, newest first, highlighted in Python.
With encryption at rest (supportdesk.crypto) SQL cannot read the bodies: every word's keyed
token must be in the message's blind index (`Message.body_tokens`; on PostgreSQL through the
GIN index of migration chat.0026), newest first, highlighted in Python after decryption. Whole
words match, case and Unicode forms aside; substrings, stems, phrases and -exclusions do not
(a quoted phrase is its words; an excluded word is ignored): docs/SECURITY.md, "Search".
Both: a message whose file names hold every word is found too ("📎 invoice.pdf"), after the
text hits (names are short and not language: substrings, not the text search).

Labels (agents.triage): `label:billing` (or `label:"two words"`) keeps the chats that carry a
label of that name; alone, it finds those chats (each by its newest message), newest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from agents.models import Agent
from agents.selectors import conversations_for_agent
from chat.models import Attachment, Conversation, Message
from chat.payloads import FILE_MARK, previewable
from supportdesk import crypto

RESULT_LIMIT = 30
MAX_QUERY_LENGTH = 200
# Highlight markers from Unicode's private use area: the body is escaped first, then only
# these become <mark>, so a message's own HTML can never reach the page as markup.
START, STOP = "\ue000", "\ue001"
VECTOR = "to_tsvector('english'::regconfig, chat_message.body)"
TOKENS = "to_tsvector('simple'::regconfig, chat_message.body_tokens)"  # as chat.0026 indexes it
QUERY = "websearch_to_tsquery('english'::regconfig, %s)"
SNIPPET_CHARS = 160


@dataclass(frozen=True)
class SearchHit:
    message_id: int
    conversation_id: int
    seq: int
    visitor_name: str
    sender_kind: str
    created_at: str
    snippet: SafeString


LABEL = re.compile(r'(?i)\blabel:(?:"([^"]+)"|(\S+))')


def message_search(*, agent: Agent, query: str) -> list[SearchHit]:
    # No message holds a NUL (they are refused), and PostgreSQL refuses one in a query.
    query = query.replace("\x00", "").strip()[:MAX_QUERY_LENGTH]
    labels = [(quoted or bare).strip() for quoted, bare in LABEL.findall(query)]
    query = LABEL.sub(" ", query).strip()
    if not query and not labels:
        return []
    conversations = conversations_for_agent(agent)
    for name in labels:
        conversations = conversations.filter(labels__name__iexact=name)
    messages = (
        Message.objects.filter(conversation__in=conversations)
        .exclude(sender_kind=Message.SenderKind.SYSTEM)
        .select_related("conversation__visitor")
    )
    if not query:
        rows = _labelled(conversations)
    elif crypto.enabled():
        rows = _blind(messages, query)
    elif connection.vendor == "postgresql":
        rows = _postgres(messages, query)
    else:
        rows = _fallback(messages, query)
    found = {m.pk for m, _ in rows}
    if query:
        rows += [hit for hit in _file_names(messages, query) if hit[0].pk not in found]
    return [
        SearchHit(
            message_id=m.pk,
            conversation_id=m.conversation_id,
            seq=m.seq,
            visitor_name=m.conversation.visitor.display_name,
            sender_kind=m.sender_kind,
            created_at=m.created_at.isoformat(),
            snippet=_marked(snippet),
        )
        for m, snippet in rows
    ]


def _labelled(conversations: QuerySet[Conversation]) -> list[tuple[Message, str]]:
    """The newest visitor, agent or bot message of each conversation, newest chats first."""
    newest = previewable(OuterRef("pk")).values("pk")[:1]
    ids = list(
        conversations.order_by("-last_message_at", "-pk")
        .annotate(newest=Subquery(newest))
        .exclude(newest__isnull=True)
        .values_list("newest", flat=True)[:RESULT_LIMIT]
    )
    found = Message.objects.select_related("conversation__visitor").in_bulk(ids)
    return [(found[pk], found[pk].body[:SNIPPET_CHARS] or "…") for pk in ids if pk in found]


def _postgres(messages: QuerySet[Message], query: str) -> list[tuple[Message, str]]:
    options = f"StartSel={START}, StopSel={STOP}, MaxWords=35, MinWords=12, MaxFragments=2"
    found = (
        messages.extra(where=[f"{VECTOR} @@ {QUERY}"], params=[query])  # noqa: S610 - bound
        .annotate(
            rank=RawSQL(f"ts_rank({VECTOR}, {QUERY})", [query]),  # noqa: S611 - bound param
            headline=RawSQL(  # noqa: S611 - bound params
                f"ts_headline('english'::regconfig, chat_message.body, {QUERY}, %s)",
                [query, options],
            ),
        )
        .order_by("-rank", "-created_at")[:RESULT_LIMIT]
    )
    return [(m, m.headline) for m in found]


def _fallback(messages: QuerySet[Message], query: str) -> list[tuple[Message, str]]:
    words = _words(query)
    if not words:
        return []
    for word in words:
        messages = messages.filter(body__icontains=word)
    pattern = _pattern(words)
    found = messages.order_by("-created_at")[:RESULT_LIMIT]
    return [(m, _highlight(m.body, pattern)) for m in found]


def _blind(messages: QuerySet[Message], query: str) -> list[tuple[Message, str]]:
    """Messages whose blind index holds every word's token (encryption on)."""
    # An excluded word ("-refund") is no word to find: without it, it would be one to require.
    plain = re.sub(r'(?:^|\s)-"[^"]*"|(?:^|\s)-\S+', " ", query)
    tokens = crypto.query_tokens(plain)
    if not tokens:
        return []
    if connection.vendor == "postgresql":
        found_in = f"{TOKENS} @@ to_tsquery('simple'::regconfig, %s)"
        messages = messages.extra(where=[found_in], params=[" & ".join(tokens)])  # noqa: S610
    else:
        for token in tokens:  # padded with spaces: a whole token, never part of another
            messages = messages.filter(body_tokens__contains=f" {token} ")
    pattern = re.compile(
        r"\b(?:" + "|".join(re.escape(w) for w in crypto.words(plain)[:8]) + r")\b", re.IGNORECASE
    )
    found = messages.order_by("-created_at")[:RESULT_LIMIT]
    return [(m, _highlight(m.body, pattern)) for m in found]


def _file_names(messages: QuerySet[Message], query: str) -> list[tuple[Message, str]]:
    """Messages with a file whose name holds every word, newest first, the name as snippet."""
    words = _words(query)
    if not words:
        return []
    files = Attachment.objects.filter(message__in=messages)
    for word in words:
        files = files.filter(name__icontains=word)
    pattern = _pattern(words)
    hits = files.select_related("message__conversation__visitor").order_by("-created_at")
    return [
        (a.message, FILE_MARK + _highlight(a.name, pattern))
        for a in hits[:RESULT_LIMIT]
        if a.message is not None
    ]


def _words(query: str) -> list[str]:
    return [w for w in re.findall(r"\w+", query) if w][:8]


def _pattern(words: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)


def _highlight(body: str, pattern: re.Pattern[str]) -> str:
    first = pattern.search(body)
    start = max(0, (first.start() if first else 0) - SNIPPET_CHARS // 3)
    excerpt = body[start : start + SNIPPET_CHARS]
    marked = pattern.sub(lambda m: f"{START}{m.group(0)}{STOP}", excerpt)
    return ("…" if start else "") + marked + ("…" if start + SNIPPET_CHARS < len(body) else "")


def _marked(text: str) -> SafeString:
    return mark_safe(  # noqa: S308 - escaped first; only our own markers become tags
        escape(text).replace(START, "<mark>").replace(STOP, "</mark>")
    )
