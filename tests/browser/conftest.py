"""Browser tests: a real daphne process on the test database, real Chromium through Playwright.

The server runs as a subprocess (not a thread), so tests can kill and restart it as production
loses it. It uses the test database (data is committed: these tests use transactional_db) and,
when REDIS_URL is set, the real Redis under this worker's prefix.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
SERVER_APP_NAME = "supportdesk-test-server"
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


@pytest.fixture(scope="session")
def desk(
    django_db_setup: None, django_db_blocker: Any, channel_layer_of_our_own: str
) -> Iterator[Desk]:
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    ARTIFACTS.mkdir(exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CHANNEL_LAYER_PREFIX": channel_layer_of_our_own,
        "LOG_LEVEL": "WARNING",
    }
    server = Desk(env, ARTIFACTS / f"daphne-{worker}.log")
    server.start()
    yield server
    server.stop()
    with django_db_blocker.unblock():
        wait_until_server_sessions_end()


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


@pytest.fixture
def browser() -> Iterator[Browser]:
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
                args=CHROMIUM_ARGS,
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


def new_page(browser: Browser, **options: Any) -> Page:
    context: BrowserContext = browser.new_context(**options)
    return context.new_page()


def agent_page(browser: Browser, desk: Desk, username: str, path: str = "/agents/") -> Page:
    """A dashboard page for `username`, logged in through a real session cookie."""
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    page = new_page(browser)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": desk.url}]
    )
    page.goto(desk.url + path)
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "open")
    return page


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
