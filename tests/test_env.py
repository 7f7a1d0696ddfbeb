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


def test_query_options_reach_psycopg_as_written() -> None:
    # psycopg sends str() of each value; a key given twice counts once, the last (parse_qsl's way).
    db = parsed(
        "postgres://h/d?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem&connect_timeout=10"
        "&target_session_attrs=read-write&sslmode=require"
    )
    assert {key: str(value) for key, value in db["OPTIONS"].items() if key != "pool"} == {
        "sslmode": "require",
        "sslrootcert": "/etc/ssl/ca.pem",
        "connect_timeout": "10",
        "target_session_attrs": "read-write",
    }


def test_a_unix_socket_directory_as_the_host() -> None:
    db = parsed("postgres://ann@%2Fvar%2Frun%2Fpostgresql/desk")
    assert (db["HOST"], db["USER"], db["NAME"]) == ("/var/run/postgresql", "ann", "desk")


def test_without_the_pool_its_size_is_not_handed_to_psycopg() -> None:
    assert parsed("postgres://h/d?pool=0&pool_max_size=7")["OPTIONS"] == {"connect_timeout": 5}


@pytest.mark.parametrize(
    "url",
    [
        "postgres://ann:hunter/2@h/desk",  # an unescaped / in the password
        "postgres://ann:hunter#2@h/desk",
        "postgres://ann:hunter2@h:54x32/desk",
        "postgres://ann:hunter2@h:99999/desk",
    ],
)
def test_a_malformed_url_is_a_clear_error_without_the_password(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL is not a valid URL") as error:
        parsed(url)
    assert "hunter" not in str(error.value)
    assert "2" not in str(error.value).replace("65535", "")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://:memory:"])
def test_sqlite_needs_a_file(url: str) -> None:
    # In memory, each of the server's threads would have a database of its own, never migrated.
    with pytest.raises(ImproperlyConfigured, match="SQLite needs a file"):
        parsed(url)
