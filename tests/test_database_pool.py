"""supportdesk.postgres: the pool's reconnect pace, its check of idle connections, its short wait
while the database is unreachable; supportdesk.unavailable: 503, not 500 (issue 15, D3/D5).
On the real PostgreSQL (the test database; a backend of the test's own is terminated) and on a
port where nothing listens."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test import RequestFactory
from psycopg_pool import PoolTimeout

from supportdesk.postgres.base import Backoff, Pool, check_idle
from supportdesk.unavailable import server_error

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the pool is PostgreSQL's"
)


def test_reconnect_attempts_come_at_most_max_delay_apart() -> None:
    backoff = Backoff(timeout=300, max_delay=1.5)
    delays = []
    for step in range(8):
        backoff.update_delay(now=float(step))
        delays.append(backoff.delay)
    assert 0.9 <= delays[0] <= 1.1  # psycopg's first wait, with its jitter
    assert max(delays) == 1.5  # psycopg's own would have reached 128 s by now


@pytest.fixture
def pool(db: None) -> Iterator[Any]:
    def make(**options: Any) -> Pool:
        kwargs = {**connection.get_connection_params(), "autocommit": True, **options}
        made = Pool(
            kwargs=kwargs, min_size=1, max_size=1, check=check_idle,
            reconnect_max_delay=0.5, timeout=10, open=True,
        )  # fmt: skip
        pools.append(made)
        return made

    pools: list[Pool] = []
    yield make
    for made in pools:
        made.close()


@postgres_only
def test_a_connection_the_server_ended_while_idle_is_not_handed_out(pool: Any) -> None:
    """As after a PostgreSQL restart: every idle connection in the pool is dead. The stock pool
    (no check) handed the dead one out, and the request using it failed."""
    made = pool()
    with made.connection() as conn:
        ended = conn.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [ended])
    time.sleep(0.2)  # the backend's goodbye reaches the idle connection's socket
    with made.connection(timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.info.backend_pid != ended


@postgres_only
def test_while_the_database_is_unreachable_a_caller_waits_about_one_reconnect(pool: Any) -> None:
    made = pool(port=1, connect_timeout=1)  # nothing listens on port 1
    time.sleep(0.5)  # the pool's first connect has failed
    assert made.unreachable_since is not None
    start = time.monotonic()
    with pytest.raises(PoolTimeout):
        made.getconn()  # the pool's timeout is 10 s
    assert time.monotonic() - start < 2


@postgres_only
def test_the_pool_knows_the_database_is_back_on_its_first_connect(pool: Any) -> None:
    made = pool()
    with made.connection(timeout=10) as conn:
        assert isinstance(conn, psycopg.Connection)
    assert made.unreachable_since is None


def test_a_request_the_database_could_not_serve_gets_503_with_retry_after() -> None:
    request = RequestFactory().post("/widget/x/messages")
    try:
        raise OperationalError("couldn't get a connection after 5.00 sec")
    except OperationalError:
        response = server_error(request)  # as Django calls handler500: the exception in hand
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert json.loads(response.content)["error"] == "database_unavailable"

    page = RequestFactory().get("/agents/", HTTP_ACCEPT="text/html,application/xhtml+xml")
    try:
        raise OperationalError("canceling statement due to lock timeout")
    except OperationalError:
        response = server_error(page)
    assert response.status_code == 503
    assert b"cannot reach its database" in response.content


def test_any_other_error_is_still_a_500() -> None:
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
