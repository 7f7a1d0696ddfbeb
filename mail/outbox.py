"""Sending the queue (mail.models.OutboundEmail): from housekeeping's heartbeat, and from
`manage.py send_queued_mail` for cron.

A run claims the due rows (FOR UPDATE SKIP LOCKED, so two processes never take the same one) and
moves each row's next attempt a lease ahead before it talks to the SMTP server, outside any
transaction and with its database connection handed back: a slow mail server holds no lock and
no pooled connection. Then each row is marked sent, or retried later with a doubling wait
(RETRY_FIRST_SECONDS up to RETRY_MAX_SECONDS), or failed: at once when the server refuses it
for good (a 5xx), after MAX_ATTEMPTS otherwise. While the server cannot be reached the whole
batch waits; nothing is lost.

Delivery is at least once: a process that dies after the server took an email but before the
row says so sends it again after the lease, with the same Message-ID.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from mail import services, tokens
from mail.models import OutboundEmail, Unsubscribe

logger = logging.getLogger(__name__)

HOUSEKEEPING_BATCH = 20  # on a dashboard's heartbeat: small, a database thread runs it
LEASE = timedelta(minutes=5)
RETRY_FIRST_SECONDS = 60
RETRY_MAX_SECONDS = 3600
MAX_ATTEMPTS = 30  # about a day of retries at the longest wait
KEEP = timedelta(days=30)  # sent, failed and cancelled rows (copies of messages) then go
Status = OutboundEmail.Status


def retry_delay(attempts: int) -> timedelta:
    """The wait before the next attempt, after `attempts` failed ones."""
    return timedelta(
        seconds=min(RETRY_FIRST_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)
    )


def emails_send_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Send up to `limit` queued emails that are due; how many the SMTP server accepted."""
    now = now or timezone.now()
    rows = _claim(now, limit)
    if not rows:
        return 0
    if not connection.in_atomic_block:
        connection.close()  # back to the pool while we wait on the mail server
    smtp = get_connection(fail_silently=False)
    try:
        smtp.open()
    except OSError as exc:  # refused, unreachable, timed out, TLS or login failed
        _retry_all(rows, exc, now)
        return 0
    sent = 0
    try:
        for index, row in enumerate(rows):
            if row.to_visitor and _unsubscribed(row):
                _finish(row, Status.CANCELLED, "The address unsubscribed.")
                continue
            try:
                smtp.send_messages([_email(row, smtp)])
            except ValueError as exc:  # a header Django refuses: trying again will not help
                _failed(row, exc, now, permanent=True)
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as exc:
                _failed(row, exc, now, permanent=_permanent(exc))
            except OSError as exc:  # the connection broke: this one and the rest wait
                _retry_all(rows[index:], exc, now)
                break
            else:
                _finish(row, Status.SENT, "", sent_at=timezone.now())
                sent += 1
    finally:
        with contextlib.suppress(OSError):
            smtp.close()
    return sent


@transaction.atomic
def _claim(now: datetime, limit: int) -> list[OutboundEmail]:
    """The due rows no other process holds, their next attempt moved a lease ahead (a process
    that dies mid-send leaves them to be tried again then)."""
    due = (
        OutboundEmail.objects.select_for_update(skip_locked=True)
        .filter(status=Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
    )
    rows = list(due[:limit])
    OutboundEmail.objects.filter(pk__in=[row.pk for row in rows]).update(
        attempts=F("attempts") + 1, next_attempt_at=now + LEASE
    )
    for row in rows:
        row.attempts += 1
    return rows


def _email(row: OutboundEmail, smtp: object) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[row.to],
        headers={**row.headers, "Message-ID": row.message_id},
        connection=smtp,
    )
    message.attach_alternative(row.html, "text/html")
    return message


def _unsubscribed(row: OutboundEmail) -> bool:
    return Unsubscribe.objects.filter(
        inbox_id=row.inbox_id, address_key=tokens.address_key(row.to)
    ).exists()


def _permanent(exc: smtplib.SMTPException) -> bool:
    """Whether the server refused for good (5xx) rather than for now (4xx)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return getattr(exc, "smtp_code", 0) >= 500


def _failed(row: OutboundEmail, exc: Exception, now: datetime, *, permanent: bool = False) -> None:
    error = f"{type(exc).__name__}: {exc}"[:500]
    if permanent or row.attempts >= MAX_ATTEMPTS:
        _finish(row, Status.FAILED, error)
        logger.error(
            "email failed for good",
            extra={"event": "mail.failed", "email_id": row.pk, "kind": row.kind, "error": error},
        )
        return
    OutboundEmail.objects.filter(pk=row.pk).update(
        next_attempt_at=now + retry_delay(row.attempts), last_error=error
    )


def _retry_all(rows: list[OutboundEmail], exc: Exception, now: datetime) -> None:
    logger.warning(
        "mail server unavailable: %s emails wait",
        len(rows),
        extra={"event": "mail.server_unavailable", "error": f"{type(exc).__name__}: {exc}"},
    )
    for row in rows:
        _failed(row, exc, now)


def _finish(row: OutboundEmail, status: str, error: str, **fields: object) -> None:
    OutboundEmail.objects.filter(pk=row.pk).update(status=status, last_error=error, **fields)


def emails_purge(*, now: datetime | None = None) -> int:
    """Delete what was sent, failed or cancelled more than KEEP ago: the copies of messages
    in them are not kept longer than that. How many."""
    cutoff = (now or timezone.now()) - KEEP
    deleted, _ = (
        OutboundEmail.objects.filter(created_at__lt=cutoff).exclude(status=Status.PENDING).delete()
    )
    return deleted


def mail_housekeeping(*, limit: int = HOUSEKEEPING_BATCH) -> dict[str, int]:
    """The mail app's periodic work (agents.housekeeping.periodic_tasks; send_queued_mail):
    queue the notices that are due, send what is due, drop what is old."""
    queued = services.missed_replies_queue() + services.missed_chats_queue()
    return {
        "mail_queued": queued,
        "mail_sent": emails_send_due(limit=limit),
        "mail_purged": emails_purge(),
    }
