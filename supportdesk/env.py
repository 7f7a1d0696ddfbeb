"""Reading configuration from the environment (12-factor), with no extra dependency."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be one of {sorted(TRUE_WORDS | FALSE_WORDS)}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_days(name: str) -> int | None:
    """A whole number of days, at least 1; None when unset or empty (the feature is off).
    0 and negatives are refused rather than read as "off" or "now": for a retention period
    either would be a costly misreading."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        days = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number of days, not {raw!r}") from None
    if days < 1:
        raise ImproperlyConfigured(f"{name} must be at least 1 (leave it empty to keep forever)")
    return days


def database_from_url(url: str, *, base_dir: Path) -> dict[str, Any]:
    """DATABASES["default"] from `postgres://user:pass@host:port/name?opt=val` or `sqlite:///path`.

    PostgreSQL gets Django's psycopg 3 connection pool; SQLite gets WAL and IMMEDIATE
    transactions, so the embedded default copes with daphne's threads and a second process.
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        # sqlite:///relative.sqlite3 -> relative to the project; sqlite:////abs/path -> absolute.
        name = Path(path[1:])
        if not name.is_absolute():
            name = base_dir / name
        return sqlite_database(name)
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        options: dict[str, Any] = dict(parse_qsl(parts.query))
        pool = options.pop("pool", "true").lower() in TRUE_WORDS
        if pool:
            options["pool"] = {"min_size": 2, "max_size": int(options.pop("pool_max_size", 20))}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")) or "postgres",
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "OPTIONS": options,
            "CONN_HEALTH_CHECKS": not pool,
        }
    raise ImproperlyConfigured(f"DATABASE_URL scheme {parts.scheme!r} is not supported")


def sqlite_database(path: Path) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }
