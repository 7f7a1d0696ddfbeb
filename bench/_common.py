"""What the benchmarks share: ports, a PostgreSQL database of their own, percentiles, and how
a widget socket presents its token."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit, urlunsplit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_postgres_database(url: str) -> bool:
    """Create the database named in `url` if missing; True if this run created it."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres", query=""))
    with psycopg.connect(admin.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
        return True


def drop_postgres_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres", query=""))
    with psycopg.connect(admin.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def widget_protocols(token: str) -> list[str]:
    """The subprotocols a widget socket offers to present `token`: chat.tokens.protocols_for,
    repeated here because these scripts do not load Django (tests/chat/test_visitor_tokens.py
    compares)."""
    return ["supportdesk.v1", "token." + token.replace(":", "~")]
