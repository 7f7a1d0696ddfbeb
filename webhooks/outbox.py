"""Sending the outbox (webhooks.models.WebhookDelivery): at least once, in order per
conversation, with backoff, from three places:

- a worker thread per process, woken after every commit that queued rows (`deliveries_kick`),
  so deliveries leave within moments of the change, never from the request's own thread; it
  then sleeps until the next retry is due;
- housekeeping's heartbeat (agents.housekeeping.periodic_tasks, `webhooks_housekeeping`);
- `manage.py send_webhooks` for cron.

A run claims due rows with FOR UPDATE SKIP LOCKED (two processes never take the same row) and
moves their next attempt a LEASE ahead before it makes any request, outside any transaction: a
process that dies mid-delivery leaves its rows pending, and they are sent again once the lease
has passed (at least once; receivers de-duplicate on the event id). Only the head of each
(endpoint, conversation) line is claimed: a row waits while an earlier row of the same endpoint
and conversation is pending, so a receiver gets one conversation's events in order, while the
other conversations go on.

A 2xx answer delivers; anything else (another status, a redirect, a timeout, a refused
connection, an address refused by webhooks.targets) is retried after RETRY_DELAYS (10 s up to
8 h; MAX_ATTEMPTS span about 39 hours), then the row is marked failed. An endpoint that failed
every attempt for DISABLE_AFTER (and at least DISABLE_MIN_FAILURES times) is disabled, with the
reason in the admin and a WARNING in the log; its pending rows wait until it is enabled again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Exists, F, Min, OuterRef, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from webhooks import signing
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.selectors import active_inboxes_refresh, endpoints_changed
from webhooks.targets import UnsafeTarget, private_allowed, resolve

logger = logging.getLogger(__name__)

State = WebhookDelivery.State
HOUSEKEEPING_BATCH = 20  # on a dashboard's heartbeat: small, a database thread runs it
KICK_BATCH = 100
LEASE = timedelta(minutes=2)  # longer than any request may take (the timeout)
# Seconds before each retry: the 13th and last attempt comes about 39 hours after the first,
# so a receiver down for a whole day still gets everything, and the endpoint is disabled (after
# DISABLE_AFTER) before its oldest event is given up on.
RETRY_DELAYS = (10, 30, 60, 300, 900, 3600, 7200, 14400, 28800, 28800, 28800, 28800)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
DISABLE_AFTER = timedelta(hours=24)
DISABLE_MIN_FAILURES = 10
RESPONSE_READ_BYTES = 16 * 1024
RESPONSE_KEEP_CHARS = 2000
KEEP = timedelta(days=30)  # delivered, failed and cancelled rows (copies of messages) then go
PAYLOAD_ORDER = ("id", "event", "created_at", "inbox", "conversation_id", "seq", "data")


@dataclass
class Outcome:
    delivered: bool
    status_code: int | None = None
    response: str = ""
    error: str = ""
    unreachable: bool = False  # the endpoint could not be talked to: skip its other rows


def retry_delay(attempts: int) -> timedelta:
    """The wait before the next attempt, after `attempts` failed ones."""
    return timedelta(seconds=RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1])


def deliveries_send_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Make up to `limit` delivery attempts of what is due; how many were delivered."""
    now = now or timezone.now()
    delivered = tried = 0
    # A client (so a connection pool) per endpoint: connections are pooled by the address
    # connected to, and two endpoints' names on one address (a CDN) must not share a TLS
    # connection made, and its certificate checked, for the other's name.
    clients: dict[int, httpx.Client] = {}
    try:
        while tried < limit:
            rows = _claim(now, limit - tried)
            if not rows:
                break
            if not connection.in_atomic_block:
                connection.close()  # back to the pool while we wait on the receivers
            unreachable: dict[int, datetime] = {}  # endpoint -> when its rows are tried again
            for row in rows:
                if row.endpoint_id in unreachable:
                    _put_back(row, unreachable[row.endpoint_id])
                    continue
                tried += 1
                if row.endpoint_id not in clients:
                    clients[row.endpoint_id] = _client()
                outcome = _attempt(clients[row.endpoint_id], row)
                retry_at = _record(row, outcome, now)
                delivered += outcome.delivered
                if outcome.unreachable and retry_at is not None:
                    unreachable[row.endpoint_id] = retry_at
    finally:
        for client in clients.values():
            client.close()
    return delivered


def _client() -> httpx.Client:
    return httpx.Client(
        timeout=settings.SUPPORTDESK_WEBHOOKS_TIMEOUT_SECONDS,
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment: the address checked is the one used
    )


def _heads() -> QuerySet[WebhookDelivery]:
    """The pending rows of active endpoints with no earlier pending row in their line (the
    same endpoint and conversation): the only ones that may be sent."""
    earlier = WebhookDelivery.objects.filter(
        endpoint=OuterRef("endpoint"),
        conversation=OuterRef("conversation"),
        state=State.PENDING,
        pk__lt=OuterRef("pk"),
    )
    return WebhookDelivery.objects.filter(state=State.PENDING, endpoint__is_active=True).exclude(
        Exists(earlier)
    )


@transaction.atomic
def _claim(now: datetime, limit: int) -> list[WebhookDelivery]:
    """The due heads of their (endpoint, conversation) lines that no other process holds, their
    next attempt moved a lease ahead."""
    due = (
        _heads()
        .select_for_update(skip_locked=True, of=("self",))
        .filter(next_attempt_at__lte=now)
        .select_related("endpoint")
        .order_by("pk")
    )
    rows = list(due[:limit])
    WebhookDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(
        next_attempt_at=now + LEASE
    )
    return rows


def _attempt(client: httpx.Client, row: WebhookDelivery) -> Outcome:
    endpoint = row.endpoint
    try:
        target = resolve(
            endpoint.url, allow_private=private_allowed(endpoint.allow_private_network)
        )
    except UnsafeTarget as exc:
        return Outcome(False, error=str(exc)[:500], unreachable=True)
    body = body_of(row.payload)
    headers = signing.headers(
        secret=endpoint.secret,
        event_id=str(row.event_id),
        event=row.event,
        body=body,
        timestamp=int(time.time()),
    )
    headers["Host"] = target.host
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    try:
        with client.stream(
            "POST", target.url, content=body, headers=headers, extensions=extensions
        ) as response:
            text = _read_some(response)
    except httpx.HTTPError as exc:  # refused, unreachable, timed out, TLS, protocol
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500], unreachable=True)
    ok = 200 <= response.status_code < 300
    return Outcome(
        ok,
        status_code=response.status_code,
        response=text,
        error="" if ok else f"HTTP {response.status_code}",
    )


def body_of(payload: dict) -> bytes:
    """The JSON body sent (and signed), its keys in the documented order."""
    ordered = {key: payload[key] for key in PAYLOAD_ORDER if key in payload}
    ordered |= {key: value for key, value in payload.items() if key not in ordered}
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":")).encode()


def _read_some(response: httpx.Response) -> str:
    """The start of the answer's body, for the admin (a receiver's error page can be large)."""
    read = b""
    for chunk in response.iter_bytes():
        read += chunk
        if len(read) >= RESPONSE_READ_BYTES:
            break
    return read.decode("utf-8", errors="replace")[:RESPONSE_KEEP_CHARS]


def _record(row: WebhookDelivery, outcome: Outcome, now: datetime) -> datetime | None:
    """Store the attempt's outcome; when the row is tried again (None: not)."""
    fields = {
        "attempts": F("attempts") + 1,
        "last_attempt_at": timezone.now(),
        "last_status_code": outcome.status_code,
        "last_response": outcome.response,
        "last_error": outcome.error,
    }
    attempts = row.attempts + 1
    retry_at = None
    if outcome.delivered:
        fields |= {"state": State.DELIVERED, "delivered_at": timezone.now()}
    elif attempts >= MAX_ATTEMPTS:
        fields["state"] = State.FAILED
        logger.error(
            "webhook delivery failed for good",
            extra={
                "event": "webhooks.failed",
                "delivery_id": row.pk,
                "endpoint_id": row.endpoint_id,
                "error": outcome.error,
            },
        )
    else:
        retry_at = now + retry_delay(attempts)
        fields["next_attempt_at"] = retry_at
    WebhookDelivery.objects.filter(pk=row.pk).update(**fields)
    if outcome.delivered:
        _endpoint_succeeded(row.endpoint)
    else:
        _endpoint_failed(row.endpoint, outcome, now)
    return retry_at


def _put_back(row: WebhookDelivery, at: datetime) -> None:
    """Not tried in this run (its endpoint just failed to answer): due again with that one."""
    WebhookDelivery.objects.filter(pk=row.pk, state=State.PENDING).update(next_attempt_at=at)


def _endpoint_succeeded(endpoint: WebhookEndpoint) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk, consecutive_failures__gt=0).update(
        consecutive_failures=0, failing_since=None
    )


def _endpoint_failed(endpoint: WebhookEndpoint, outcome: Outcome, now: datetime) -> None:
    """Count the failure; disable the endpoint once it has failed for DISABLE_AFTER."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        consecutive_failures=F("consecutive_failures") + 1,
        failing_since=Coalesce(F("failing_since"), now),
    )
    reason = (
        f"Disabled on {now:%Y-%m-%d %H:%M} UTC: every attempt failed since the first failure "
        f"over {DISABLE_AFTER.total_seconds() / 3600:.0f} hours ago; the last: {outcome.error}"
    )[:500]
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint.pk,
        is_active=True,
        consecutive_failures__gte=DISABLE_MIN_FAILURES,
        failing_since__lte=now - DISABLE_AFTER,
    ).update(is_active=False, disabled_reason=reason)
    if disabled:
        endpoints_changed()
        logger.warning(
            "webhook endpoint disabled after failing for a day: %s",
            endpoint.url,
            extra={
                "event": "webhooks.endpoint_disabled",
                "endpoint_id": endpoint.pk,
                "inbox_id": endpoint.inbox_id,
                "error": outcome.error,
            },
        )


def deliveries_purge(*, now: datetime | None = None) -> int:
    """Delete what was delivered, failed or cancelled more than KEEP ago (their payloads are
    copies of messages). How many."""
    cutoff = (now or timezone.now()) - KEEP
    deleted, _ = (
        WebhookDelivery.objects.filter(created_at__lt=cutoff).exclude(state=State.PENDING).delete()
    )
    return deleted


def webhooks_housekeeping(*, limit: int = HOUSEKEEPING_BATCH) -> dict[str, int]:
    """The webhooks app's periodic work (agents.housekeeping.periodic_tasks; send_webhooks):
    reload which inboxes have endpoints (webhooks.selectors), send what is due, drop what is
    old."""
    active_inboxes_refresh()
    return {
        "webhooks_delivered": deliveries_send_due(limit=limit),
        "webhooks_purged": deliveries_purge(),
    }


# ---- The worker thread ----------------------------------------------------------------------

IDLE_WAIT_SECONDS = 300.0  # with nothing pending, still look now and then
_wake = threading.Event()
_stop = threading.Event()
_worker: threading.Thread | None = None
_worker_lock = threading.Lock()


def deliveries_kick() -> None:
    """Have this process's worker thread send what is due now (after a commit that queued
    rows; an admin's redelivery). Returns at once; nothing is lost if the process dies first:
    the rows are in the database, and housekeeping or cron send them."""
    if not settings.SUPPORTDESK_WEBHOOKS_SEND_AFTER_COMMIT:
        return
    global _worker
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _stop.clear()
            _worker = threading.Thread(target=_work, name="webhooks-outbox", daemon=True)
            _worker.start()
    _wake.set()


def deliveries_worker_stop(timeout: float = 30.0) -> None:
    """Stop the worker thread after its current run (tests; a clean shutdown)."""
    global _worker
    with _worker_lock:
        worker, _worker = _worker, None
    if worker is not None:
        _stop.set()
        _wake.set()
        worker.join(timeout)


def _work() -> None:
    wait: float | None = 0.0
    while not _stop.is_set():
        _wake.wait(wait)
        _wake.clear()
        if _stop.is_set():
            break
        try:
            deliveries_send_due(limit=KICK_BATCH)
            wait = _seconds_to_next_due()
        except Exception:
            logger.exception("webhook deliveries failed")
            wait = 30.0
        finally:
            close_old_connections()
            connection.close()


def _seconds_to_next_due() -> float:
    """Until the earliest row that may be sent is due (a retry, a lease that ran out)."""
    earliest = _heads().aggregate(at=Min("next_attempt_at"))["at"]
    if earliest is None:
        return IDLE_WAIT_SECONDS
    seconds = (earliest - timezone.now()).total_seconds()
    return min(max(seconds, 0.2), IDLE_WAIT_SECONDS)
