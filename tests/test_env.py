"""supportdesk.env: DATABASE_URL into Django's DATABASES (read by dj-database-url, with the desk's
pool, timeouts and SQLite settings on top)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from supportdesk.env import database_from_url

BASE = Path("/srv/desk")


def parsed(url: str) -> dict[str, Any]:
    return database_from_url(url, base_dir=BASE)


def test_a_postgres_url_with_every_part() -> None:
    db = parsed(
        "postgres://ann:p%40ss%2Fword@db.example.com:5433/desk?pool=false&connect_timeout=3"
    )
    assert db["ENGINE"] == "supportdesk.postgres"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], str(db["PORT"])) == (
        "desk",
        "ann",
        "p@ss/word",
        "db.example.com",
        "5433",
    )
    assert int(db["OPTIONS"]["connect_timeout"]) == 3
    assert "pool" not in db["OPTIONS"]
    assert db["CONN_HEALTH_CHECKS"] is True  # without the pool, Django checks connections


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "pgsql"])
def test_the_pool_and_a_connect_timeout_by_default(scheme: str) -> None:
    db = parsed(f"{scheme}://localhost/desk")
    assert db["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 20}
    assert int(db["OPTIONS"]["connect_timeout"]) == 5
    assert db["CONN_HEALTH_CHECKS"] is False
    assert (db["HOST"], str(db["PORT"]), db["USER"], db["PASSWORD"]) == ("localhost", "", "", "")


@pytest.mark.parametrize(("flag", "pooled"), [("true", True), ("1", True), ("off", False)])
def test_the_pool_can_be_sized_or_turned_off(flag: str, pooled: bool) -> None:
    db = parsed(f"postgres://h/desk?pool={flag}&pool_max_size=7")
    assert ("pool" in db["OPTIONS"]) is pooled
    if pooled:
        assert db["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 7}


def test_an_ipv6_host_and_a_missing_name() -> None:
    db = parsed("postgres://[::1]:5432")
    assert (db["HOST"], str(db["PORT"]), db["NAME"]) == ("::1", "5432", "postgres")


def test_sqlite_paths_relative_to_the_project_or_absolute() -> None:
    relative = parsed("sqlite:///data/desk.sqlite3")
    assert relative["NAME"] == str(BASE / "data/desk.sqlite3")
    assert relative["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in relative["OPTIONS"]["init_command"]
    assert parsed("sqlite:////var/lib/desk.sqlite3")["NAME"] == "/var/lib/desk.sqlite3"


@pytest.mark.parametrize("url", ["mysql://h/db", "mysqlx://h/db", "redis://h/0", "nonsense"])
def test_a_url_the_desk_cannot_use_is_a_clear_error(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        parsed(url)
