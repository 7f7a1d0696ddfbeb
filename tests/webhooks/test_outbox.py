"""Delivery: at least once, in order per conversation, through a receiver that fails, goes down,
is slow, or outlives the desk process that was sending to it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from agents.housekeeping import housekeeping, periodic_tasks
from agents.models import Agent
from chat.models import Inbox, Visitor
from chat.services import visitor_create, visitor_message_send
from tests.webhooks.conftest import Receiver
from webhooks import outbox, services
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.outbox import (
    DISABLE_AFTER,
    LEASE,
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    deliveries_kick,
    deliveries_send_due,
    deliveries_worker_stop,
    webhooks_housekeeping,
)

ROOT = Path(__file__).resolve().parents[2]
State = WebhookDelivery.State


def send(visitor: Visitor, body: str) -> None:
    visitor_message_send(visitor=visitor, body=body, client_id=uuid.uuid4())


def bodies(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["message"]["body"] for e in events if e["event"] == "message.created"]


def later(seconds: float) -> Any:
    return timezone.now() + timedelta(seconds=seconds)


def test_the_retry_schedule_spans_more_than_a_day() -> None:
    assert sum(RETRY_DELAYS[: MAX_ATTEMPTS - 1]) >= 24 * 3600
    assert RETRY_DELAYS[0] <= 10


@pytest.mark.django_db
def test_a_conversation_waits_for_its_failed_event_while_others_go_on(
    inbox: Inbox, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    first, second = visitor_create(inbox=inbox), visitor_create(inbox=inbox)
    receiver.fail_next = 1  # the first request (first's conversation.created) gets a 500
    send(first, "one")
    send(second, "other")
    send(first, "two")
    send(first, "three")

    deliveries_send_due()
    # first's line stopped at its failed head; second's conversation went through.
    assert [r.status for r in receiver.requests] == [500, 200, 200]
    failed = WebhookDelivery.objects.get(event="conversation.created", conversation__visitor=first)
    assert failed.state == State.PENDING
    assert failed.attempts == 1
    assert failed.last_status_code == 500
    assert failed.last_response == "receiver says no"
    assert bodies(receiver.events()) == ["other"]

    deliveries_send_due()  # before the retry is due: nothing
    assert len(receiver.requests) == 3
    deliveries_send_due(now=later(RETRY_DELAYS[0] + 1))
    events = receiver.events()
    assert bodies(events) == ["other", "one", "two", "three"]
    mine = [e for e in events if e["conversation_id"] == failed.conversation_id]
    assert [e["event"] for e in mine] == ["conversation.created"] + ["message.created"] * 3
    assert [e["seq"] for e in mine] == [0, 1, 2, 3]


@pytest.mark.django_db
def test_the_receiver_down_then_up_gets_everything_each_id_once_after_dedup(
    inbox: Inbox, agent: Agent, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    visitors = [visitor_create(inbox=inbox) for _ in range(3)]
    receiver.stop()  # down: connections refused
    sent = []
    for n in range(4):
        for i, visitor in enumerate(visitors):
            send(visitor, f"v{i} m{n}")
            sent.append(f"v{i} m{n}")
        deliveries_send_due(now=later(n * 3600))  # the desk keeps trying, an hour apart
    assert WebhookDelivery.objects.filter(state=State.DELIVERED).count() == 0
    assert WebhookDelivery.objects.filter(attempts__gt=0).exists()

    receiver.start()  # up again, answering 500 a few times first
    receiver.fail_next = 2
    for hours in range(5, 40):  # the retries that follow, over more than a day
        deliveries_send_due(now=later(hours * 3600))
        if not WebhookDelivery.objects.filter(state=State.PENDING).exists():
            break

    assert not WebhookDelivery.objects.exclude(state=State.DELIVERED).exists()
    events = receiver.events()
    assert len(events) == WebhookDelivery.objects.count() == 3 + len(sent)
    assert sorted(bodies(events)) == sorted(sent)
    for visitor in visitors:  # each conversation's events in order
        seqs = [e["seq"] for e in events if e["conversation_id"] == visitor.conversations.get().pk]
        assert seqs == sorted(seqs)
    assert all(r.signed for r in receiver.requests)


@pytest.mark.django_db
def test_an_unreachable_endpoint_costs_one_attempt_per_run(
    inbox: Inbox, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    receiver.stop()
    for n in range(5):
        send(visitor_create(inbox=inbox), f"chat {n}")
    deliveries_send_due()
    rows = WebhookDelivery.objects.filter(event="conversation.created")
    assert sorted(rows.values_list("attempts", flat=True)) == [0, 0, 0, 0, 1]
    tried = rows.get(attempts=1)
    assert "ConnectError" in tried.last_error
    # The others wait with it rather than each costing a connection attempt now.
    assert set(rows.values_list("next_attempt_at", flat=True)) == {tried.next_attempt_at}


@pytest.mark.django_db
def test_an_endpoint_failing_for_a_day_is_disabled_with_a_notice(
    inbox: Inbox,
    visitor: Visitor,
    endpoint: WebhookEndpoint,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.status = 500
    send(visitor, "Hello")
    elapsed = 0
    with caplog.at_level(logging.WARNING, logger="webhooks.outbox"):
        for delay in (0, *RETRY_DELAYS):
            elapsed += delay
            deliveries_send_due(now=later(elapsed + 1))
            endpoint.refresh_from_db()
            if not endpoint.is_active:
                break
    assert not endpoint.is_active
    assert elapsed >= DISABLE_AFTER.total_seconds()
    assert "HTTP 500" in endpoint.disabled_reason
    assert any(r.__dict__.get("event") == "webhooks.endpoint_disabled" for r in caplog.records)
    # Nothing more is sent, nor queued, while it is off; what waited stays pending.
    tried = len(receiver.requests)
    deliveries_send_due(now=later(elapsed + 10 * 3600))
    assert len(receiver.requests) == tried
    queued = WebhookDelivery.objects.count()
    send(visitor, "While it is off")
    assert WebhookDelivery.objects.count() == queued
    assert WebhookDelivery.objects.filter(state=State.PENDING).exists()

    # Enabled again, the receiver fixed: what waited goes, in order.
    receiver.status = 200
    services.endpoint_enable(endpoint=endpoint)
    deliveries_send_due()
    assert bodies(receiver.events()) == ["Hello"]
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


@pytest.mark.django_db
def test_a_delivery_gives_up_after_its_last_attempt(
    visitor: Visitor, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    receiver.status = 410
    send(visitor, "Hello")
    WebhookDelivery.objects.exclude(event="message.created").delete()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
    row = WebhookDelivery.objects.get()
    for _ in range(MAX_ATTEMPTS):
        WebhookDelivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        deliveries_send_due()
    row.refresh_from_db()
    assert row.state == State.FAILED
    assert row.attempts == MAX_ATTEMPTS
    assert len(receiver.requests) == MAX_ATTEMPTS


@pytest.mark.django_db
def test_redeliver_sends_the_same_event_id_again(
    visitor: Visitor, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    send(visitor, "Hello")
    deliveries_send_due()
    row = WebhookDelivery.objects.get(event="message.created")
    assert row.state == State.DELIVERED
    services.deliveries_redeliver(deliveries=WebhookDelivery.objects.filter(pk=row.pk))
    deliveries_send_due()
    ids = [r.id for r in receiver.requests]
    assert ids.count(str(row.event_id)) == 2
    assert len(receiver.events()) == 2  # after de-duplication: created, message


@pytest.mark.django_db
def test_a_redirect_is_not_followed_and_counts_as_a_failure(
    visitor: Visitor, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    receiver.status = 302
    send(visitor, "Hello")
    deliveries_send_due()
    row = WebhookDelivery.objects.get(event="conversation.created")
    assert (row.state, row.last_status_code, row.last_error) == (State.PENDING, 302, "HTTP 302")
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_housekeeping_sends_what_is_due(
    visitor: Visitor, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    assert webhooks_housekeeping in periodic_tasks
    send(visitor, "Hello")
    counts = housekeeping()
    assert counts["webhooks_delivered"] == 2
    assert bodies(receiver.events()) == ["Hello"]


@pytest.fixture
def send_after_commit(settings: Any, transactional_db: None) -> Iterator[None]:
    """The worker thread on, as in a server; stopped before the database is flushed."""
    settings.SUPPORTDESK_WEBHOOKS_SEND_AFTER_COMMIT = True
    yield
    deliveries_worker_stop()


@pytest.mark.django_db(transaction=True)
def test_deliveries_leave_right_after_the_commit(
    monkeypatch: pytest.MonkeyPatch,
    send_after_commit: None,
    visitor: Visitor,
    endpoint: WebhookEndpoint,
    receiver: Receiver,
) -> None:
    """No outbox run by the test: the commit wakes the process's worker thread."""
    monkeypatch.setattr(outbox, "RETRY_DELAYS", (1,) * len(RETRY_DELAYS))
    send(visitor, "Hello")
    receiver.wait_for(2, timeout=10)
    send(visitor, "Again")
    receiver.wait_for(3, timeout=10)
    assert bodies(receiver.events()) == ["Hello", "Again"]
    # The retry is due a second later: the worker wakes for it on its own.
    receiver.fail_next = 1
    send(visitor, "Retried")
    receiver.wait_for(5, timeout=10)
    assert bodies(receiver.events()) == ["Hello", "Again", "Retried"]


def _database_url() -> str:
    settings_dict = connection.settings_dict
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict["USER"] or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else ""
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or "5432"
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


@pytest.mark.faults
@pytest.mark.django_db(transaction=True)
def test_the_desk_killed_mid_delivery_loses_nothing(
    inbox: Inbox, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    for n in range(3):
        send(visitor_create(inbox=inbox), f"chat {n}")
    rows = WebhookDelivery.objects.count()
    receiver.hold.clear()  # the receiver takes the request and does not answer
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "SUPPORTDESK_WEBHOOKS_ALLOW_PRIVATE": "1",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "x"),
    }
    sender = subprocess.Popen(
        [sys.executable, "manage.py", "send_webhooks"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        receiver.wait_for(1, timeout=30)  # mid-delivery
        sender.send_signal(signal.SIGKILL)
        sender.wait(10)
    finally:
        if sender.poll() is None:
            sender.kill()
    receiver.hold.set()

    # Nothing was marked delivered: the heads the killed run claimed wait out their lease.
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.filter(state=State.PENDING).count() == rows
    deliveries_send_due()
    assert len(receiver.requests) == 1
    deliveries_send_due(now=later(LEASE.total_seconds() + 1))

    assert WebhookDelivery.objects.filter(state=State.DELIVERED).count() == rows
    first_id = receiver.requests[0].id
    assert [r.id for r in receiver.requests].count(first_id) == 2  # at least once: twice here
    events = receiver.events()
    assert len(events) == rows  # each id once after de-duplication
    assert sorted(bodies(events)) == ["chat 0", "chat 1", "chat 2"]


@pytest.mark.django_db(transaction=True)
def test_a_kick_with_nothing_due_does_no_harm(send_after_commit: None) -> None:
    deliveries_kick()
    deliveries_kick()
    assert not WebhookDelivery.objects.exists()
