"""The dashboard's AI assist (agents.assist): "Suggest reply" and "Summarize" of the open chat.

A slow endpoint must not slow the desk. Every HTTP request runs on one of a few threads
(supportdesk.handler, SUPPORTDESK_HTTP_THREADS); a request that waited there for the endpoint
would hold one for up to SUPPORTDESK_AI_TIMEOUT_SECONDS, and a few agents asking at once would
stop every click on every dashboard. So a view does the quick part in its thread (login, the
conversation looked up as every view does, the rate limit, the transcript read), gives its
database connection back, and answers with a streaming response whose one chunk an async
generator produces on the event loop: the wait for the endpoint holds no thread and no
connection.

The price: the status line leaves before the endpoint has answered, so the endpoint's own
failures (timeout, HTTP error, an unreadable answer) come as `200` with the error shape
`{"error": code, "message": text}`; a success is `{"text": ...}`. Everything decided before the
wait has its own status: login redirect, 403 (no agent), 404 (not one of the agent's chats), 503
`assist_off` (not configured), 409 (ended), 422 (nothing to work from), 429 (rate limit).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence

from django.db import connection
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_POST

from agents import assist, selectors
from agents.models import Agent
from agents.views import agent_required
from chat.models import Conversation
from chat.views import json_error
from supportdesk import ratelimit


@require_POST
@agent_required
def suggest_reply(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """A suggested next reply for the reply box (the agent edits and sends it, or not)."""
    return _assisted(agent, pk, task="suggest")


@require_POST
@agent_required
def summarize(request: HttpRequest, agent: Agent, pk: int) -> HttpResponse:
    """A short summary of the chat, shown to the agent only; never stored."""
    return _assisted(agent, pk, task="summary")


def _assisted(agent: Agent, pk: int, *, task: assist.Task) -> HttpResponse:
    conversation = selectors.conversation_for_agent(agent=agent, pk=pk)  # 404 before anything
    if not assist.assist_enabled():
        return json_error(503, "assist_off", "The AI assistant is not set up on this desk.")
    if conversation.status == Conversation.Status.ENDED:
        return json_error(409, "ended", "This chat has ended.")
    wait = ratelimit.hit("agent_assist", agent.pk)
    if wait:
        return ratelimit.too_many(
            wait, f"Too many requests to the assistant; try again in {wait} s."
        )
    lines = assist.transcript(conversation)
    if not lines:
        return json_error(422, "nothing_yet", "There is nothing in this chat to work from yet.")
    _release_database()
    response = StreamingHttpResponse(
        _answer(task, lines, conversation.pk), content_type="application/json"
    )
    response["Cache-Control"] = "no-store"
    return response


async def _answer(task: assist.Task, lines: Sequence[assist.Line], pk: int) -> AsyncIterator[bytes]:
    """The response's one chunk, produced on the event loop after the endpoint answered."""
    try:
        text = await assist.complete(task=task, lines=lines, conversation_id=pk)
    except assist.AssistError as exc:
        yield json.dumps({"error": exc.code, "message": exc.message}).encode()
        return
    yield json.dumps({"text": text}).encode()


def _release_database() -> None:
    """Hand the thread's connection back to the pool now: the response may take the endpoint's
    whole timeout to finish, and request_finished (which would close it) waits for that. Inside
    a transaction (a test's) the connection stays."""
    if not connection.in_atomic_block:
        connection.close()
