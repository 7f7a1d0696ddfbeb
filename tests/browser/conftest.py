"""Browser tests: a real daphne process on the test database, real Chromium through Playwright.

The server runs as a subprocess (not a thread), so tests can kill and restart it as production
loses it. It uses the test database (data is committed: these tests use transactional_db) and,
when REDIS_URL is set, the real Redis under this worker's prefix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, connections
from playwright.sync_api import Browser, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
SERVER_APP_NAME = "supportdesk-test-server"
REDIS_SERVER = shutil.which("redis-server")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

expect.set_options(timeout=10_000)


def database_url(settings_dict: dict[str, Any]) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"  # NAME is absolute: sqlite:////abs/path
    user = settings_dict["USER"] or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else ""
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or "5432"
    name = settings_dict["NAME"]
    return f"postgres://{user}{password}@{host}:{port}/{name}?application_name={SERVER_APP_NAME}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Desk:
    """One daphne process serving supportdesk.asgi on 127.0.0.1:<port>."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
             "supportdesk.asgi:application"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/widget.js", timeout=1) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"daphne did not answer within 30 s: see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no graceful close for anyone."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def desk_env(prefix: str, **overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CHANNEL_LAYER_PREFIX": prefix,
        "LOG_LEVEL": "WARNING",
        "HTTPS": "0",  # the test desk serves plain http on 127.0.0.1
        "SUPPORTDESK_DEMO_PAGE": "1",  # the visitor's side of most tests is /demo/
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),  # uploaded files: the run's own folder
        # A closed tab counts for a second, not ten: presence tests need not wait.
        "SUPPORTDESK_PRESENCE_GRACE_SECONDS": "1",
        # Every test browser is 127.0.0.1: per-address limits would count the whole run as one
        # visitor, and delivery tests send hundreds of messages as one visitor. The limits have
        # tests of their own (tests/test_rate_limits.py, and test_g with a desk of its own).
        "SUPPORTDESK_RATE_VISITOR": "100000/60",
        "SUPPORTDESK_RATE_VISITOR_MESSAGES": "100000/60",
        "SUPPORTDESK_RATE_SOCKET_FRAMES": "100000/10",
        "SUPPORTDESK_RATE_SESSION_IP": "100000/60",
        "SUPPORTDESK_RATE_WIDGET_IP": "100000/60",
        "SUPPORTDESK_RATE_SOCKET_IP": "100000/60",
        "SUPPORTDESK_RATE_LOGIN_IP": "100000/60",
        **overrides,
    }


@pytest.fixture(scope="session")
def desk(
    django_db_setup: None, django_db_blocker: Any, channel_layer_of_our_own: str
) -> Iterator[Desk]:
    """The desk most browser tests share, started once per test worker."""
    with django_db_blocker.unblock():
        env = desk_env(channel_layer_of_our_own)
    ARTIFACTS.mkdir(exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    server = Desk(env, ARTIFACTS / f"daphne-{worker}.log")
    server.start()
    yield server
    server.stop()
    with django_db_blocker.unblock():
        wait_until_server_sessions_end()


DESK_LOG_LINES_ON_FAILURE = 80


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed browser test's report carries what the shared desk logged while it ran (its
    requests, with status codes, and any traceback): CI keeps no artifacts, so without this a
    failure there says what the page showed but not what the server did."""
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("desk")
    if not isinstance(server, Desk):
        return
    if report.when == "setup":
        item.stash[_desk_log_start] = server.log_path.stat().st_size
    elif report.when == "call" and report.failed:
        with server.log_path.open("rb") as log:
            log.seek(item.stash.get(_desk_log_start, 0))
            lines = log.read().decode(errors="replace").splitlines()
        report.sections.append(
            ("desk log (daphne) during the test", "\n".join(lines[-DESK_LOG_LINES_ON_FAILURE:]))
        )


_desk_log_start = pytest.StashKey[int]()


@pytest.fixture
def desk_factory(
    desk: Desk,
    django_db_blocker: Any,
    channel_layer_of_our_own: str,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., Desk]]:
    """Desks of a test's own, to kill and restart: `desk_factory(REDIS_URL=...)`."""
    started: list[Desk] = []

    def make(**overrides: str) -> Desk:
        with django_db_blocker.unblock():
            env = desk_env(channel_layer_of_our_own, **overrides)
        server = Desk(env, ARTIFACTS / f"daphne-{request.node.name}-{len(started)}.log")
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
    with django_db_blocker.unblock():
        wait_until_server_sessions_end()


class RedisServer:
    """A Redis of the test's own, so it can be restarted without disturbing anyone else."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


def wait_until_server_sessions_end(timeout: float = 10) -> None:
    """PostgreSQL ends a dead server's backends a moment after the process exits; dropping the
    test database before then fails."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = %s",
                [SERVER_APP_NAME],
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


CSP_VIOLATIONS: list[str] = []  # filled by tests.browser.pages.new_context


@pytest.fixture(autouse=True)
def no_content_security_policy_violations() -> Iterator[None]:
    """Every browser test doubles as a check that our pages need nothing the CSP forbids (an
    inline script or style, eval): a violation means a feature silently broken in production."""
    CSP_VIOLATIONS.clear()
    yield
    assert not CSP_VIOLATIONS, CSP_VIOLATIONS


# A test marked `fake_media` (calls) gets a camera and microphone that play a test pattern and
# a tone, granted without asking: Chromium's own fakes, the media path itself is real WebRTC.
FAKE_MEDIA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """A fresh Chromium per test. Playwright's sync API runs an event loop in this thread while
    it is open, so Django must be told that ORM calls from the test body are fine."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    # Chromium writes to ~/.config and ~/.cache; its socket path must stay short (< 108 bytes),
    # so not pytest's deep tmp_path.
    scratch = Path(tempfile.mkdtemp(prefix="sd-chromium-"))
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS
                + (FAKE_MEDIA_ARGS if request.node.get_closest_marker("fake_media") else []),
                env={**os.environ, "HOME": str(scratch), "TMPDIR": str(scratch)},
            )
            yield chromium
            chromium.close()
            # Connections the test body opened while Playwright's loop ran belong to that
            # context; close them here, or the test database cannot be dropped at the end.
            connections.close_all()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        shutil.rmtree(scratch, ignore_errors=True)


PG_BIN = max(
    Path("/usr/lib/postgresql").glob("*/bin"), default=None, key=lambda p: int(p.parent.name)
)


class PostgresServer:
    """A PostgreSQL of the test's own, in a scratch directory on a free port: stopped, frozen and
    started again by fault tests, which the shared one on 5432 must never be. Runs as the
    `postgres` user when the tests run as root (initdb refuses root)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="sd-pg-"))
        self.data = self.workdir / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.process: subprocess.Popen[bytes] | None = None
        as_root = os.geteuid() == 0
        self.user = {"user": "postgres", "group": "postgres"} if as_root else {}
        if as_root:
            shutil.chown(self.workdir, "postgres", "postgres")
        subprocess.run(
            [PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync",
             "-E", "UTF8", "--locale=C"],
            check=True, stdout=subprocess.DEVNULL, **self.user,
        )  # fmt: skip

    def start(self) -> None:
        log = (self.workdir / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            [PG_BIN / "postgres", "-D", self.data, "-p", str(self.port), "-k", self.workdir,
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            stdout=log, stderr=subprocess.STDOUT, **self.user,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [PG_BIN / "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)], check=False
            )
            if ready.returncode == 0:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"postgres did not start: see {self.workdir / 'postgres.log'}")

    def stop(self) -> None:
        """A fast shutdown (SIGINT), as `systemctl stop` or a failover does: every session is
        ended, the server gone until `start`."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=30)

    def remove(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            self.process.wait(timeout=30)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def migrate(self) -> None:
        """The desk's schema, by its own migrations."""
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"],
            cwd=ROOT, check=True, env={**os.environ, "DATABASE_URL": self.url},
        )  # fmt: skip
