"""Django's PostgreSQL backend (ENGINE "supportdesk.postgres"), with three changes to its psycopg
pool, each a measured failure of the stock one (issue 15, docs/OPERATIONS.md "Database outages"):

- **Reconnects come at most SUPPORTDESK_DB_RECONNECT_MAX_SECONDS apart.** psycopg_pool doubles
  the wait between attempts without a cap (1, 2, 4 ... 64 s): after a 75 s outage the next
  attempt came 52 s after PostgreSQL was back, and every request failed meanwhile.
- **A connection that PostgreSQL closed while it sat in the pool is not handed out.** Before a
  connection leaves the pool, one non-blocking poll of its socket: an idle connection that has
  something to read has been told something (a shutdown, a terminated backend) and gets a real
  check; the rest go out at the cost of that poll, not of a round trip per checkout.
- **Requests wait at most SUPPORTDESK_DB_POOL_TIMEOUT_SECONDS for a connection** (psycopg's
  default: 30 s), and only about one reconnect attempt while the database is known to be
  unreachable; then they get a 503 to retry (supportdesk.unavailable).

And in the server (`serving()`, called by supportdesk.asgi), every connection carries
`statement_timeout` and `lock_timeout`: a held row lock or a stuck query ends in an error the
client retries, not in a request that waits for ever. Management commands (migrations,
`generate_data`'s long COPY) run without them.
"""

from __future__ import annotations

import select
from time import monotonic
from typing import Any

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool
from psycopg_pool.base import AttemptWithBackoff

_serving = False


def serving() -> None:
    """This process serves requests and sockets: its connections get the statement and lock
    timeouts. Call before the first query (the pool keeps the parameters it was made with)."""
    global _serving
    _serving = True


def timeouts_options() -> str:
    """libpq `options` setting the server-side timeouts (0: none), in milliseconds."""
    statement = round(settings.SUPPORTDESK_DB_STATEMENT_TIMEOUT_SECONDS * 1000)
    lock = round(settings.SUPPORTDESK_DB_LOCK_TIMEOUT_SECONDS * 1000)
    return f"-c statement_timeout={statement} -c lock_timeout={lock}"


class Backoff(AttemptWithBackoff):
    """psycopg_pool's backoff between reconnect attempts, capped at `max_delay`."""

    def __init__(self, *, timeout: float, max_delay: float) -> None:
        super().__init__(timeout=timeout)
        self.max_delay = max_delay

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, self.max_delay)


class Pool(ConnectionPool):
    """ConnectionPool whose reconnect attempts use `Backoff` (psycopg_pool makes its attempt
    object in `_add_connection` and passes it on to each retry: one override does it), and
    whose callers wait only about one reconnect attempt for a connection while the database is
    known to be unreachable (its last connect failed and no connection is idle): a request
    during an outage fails in ~2 s instead of holding its thread the whole pool timeout."""

    def __init__(self, *args: Any, reconnect_max_delay: float, **kwargs: Any) -> None:
        self.reconnect_max_delay = reconnect_max_delay
        self.unreachable_since: float | None = None  # monotonic time of the first failed connect
        super().__init__(*args, **kwargs)

    def getconn(self, timeout: float | None = None) -> psycopg.Connection[Any]:
        if self.unreachable_since is not None and not self._pool:
            wait = self.timeout if timeout is None else timeout
            timeout = min(wait, self.reconnect_max_delay * 2)
        return super().getconn(timeout)

    def _connect(self, timeout: float | None = None) -> psycopg.Connection[Any]:
        try:
            conn = super()._connect(timeout)
        except Exception:
            if self.unreachable_since is None:
                self.unreachable_since = monotonic()
            raise
        self.unreachable_since = None
        return conn

    def _add_connection(self, attempt: AttemptWithBackoff | None, growing: bool = False) -> None:
        if attempt is None:
            attempt = Backoff(timeout=self.reconnect_timeout, max_delay=self.reconnect_max_delay)
        super()._add_connection(attempt, growing)


def check_idle(conn: psycopg.Connection[Any]) -> None:
    """The pool's check before a connection goes out: raise if it is broken. An idle connection
    has nothing to read unless the server said something (it shut down, ended this backend);
    only then is one round trip spent finding out whether it still works."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> Pool | None:
        """Django's own pool property (django.db.backends.postgresql.base), making a `Pool`."""
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == base.NO_DB_ALIAS or not pool_options:
            return None
        if self.alias not in self._connection_pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise base.ImproperlyConfigured("Pooling doesn't support persistent connections.")
            options = {} if pool_options is True else dict(pool_options)
            connect_kwargs = self.get_connection_params()
            connect_kwargs["autocommit"] = True  # as Django's: it sets autocommit itself later
            pool = Pool(
                kwargs=connect_kwargs,
                open=False,
                configure=self._configure_connection,
                check=check_idle,
                reconnect_max_delay=options.pop(
                    "reconnect_max_delay", settings.SUPPORTDESK_DB_RECONNECT_MAX_SECONDS
                ),
                **{"timeout": settings.SUPPORTDESK_DB_POOL_TIMEOUT_SECONDS, **options},
            )
            self._connection_pools.setdefault(self.alias, pool)
        return self._connection_pools[self.alias]

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if _serving:
            params["options"] = f"{params.get('options', '')} {timeouts_options()}".strip()
        return params
