"""/readyz of a real daphne process whose database or Redis is unreachable (a closed port), and
the status page gathering the numbers of another server process through Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from supportdesk import stats
from tests.browser.conftest import ARTIFACTS, ROOT, desk_env, free_port

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

CLOSED_PORT = 1  # nothing listens there


class Process:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
             "supportdesk.asgi:application"],
            cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def get(self, path: str) -> tuple[int, dict[str, Any], float]:
        start = time.monotonic()
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:  # noqa: S310
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        return status, json.loads(body), time.monotonic() - start

    def wait_live(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"daphne exited: see {self.log}"
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"daphne did not answer: see {self.log}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def process(
    channel_layer_of_our_own: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(**overrides: str) -> Process:
        ARTIFACTS.mkdir(exist_ok=True)
        env = desk_env(channel_layer_of_our_own, LOG_LEVEL="INFO", **overrides)
        server = Process(env, ARTIFACTS / f"daphne-{request.node.name}-{len(started)}.log")
        started.append(server)
        server.wait_live()
        return server

    yield start
    for server in started:
        server.stop()


def test_readyz_is_503_naming_the_database_when_it_is_unreachable(process) -> None:
    server = process(DATABASE_URL=f"postgres://postgres@127.0.0.1:{CLOSED_PORT}/h_ops")
    status, body, took = server.get("/readyz")
    assert status == 503
    assert body["checks"]["database"]["ok"] is False
    # No connection from the pool the requests use within the check's time (supportdesk.health).
    assert body["checks"]["database"]["error"] == "PoolTimeout"
    assert body["checks"]["channel_layer"]["ok"] is True
    assert took < 3
    assert "127.0.0.1" not in json.dumps(body)
    # Liveness does not depend on it: the process is fine, restarting it would not help.
    assert server.get("/healthz")[0] == 200


def test_readyz_is_503_naming_redis_and_the_layer_when_redis_is_unreachable(process) -> None:
    server = process(REDIS_URL=f"redis://127.0.0.1:{CLOSED_PORT}/0")
    status, body, took = server.get("/readyz")
    assert status == 503
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["channel_layer"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert took < 3
    # Its log is JSON lines, each with the request's id.
    server.stop()
    lines = [
        json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")
    ]
    assert lines, server.log.read_text()
    assert all("time" in line and "level" in line for line in lines)


def test_the_status_page_gathers_every_process_through_redis(
    process, settings, channel_layer_of_our_own: str
) -> None:
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL: without Redis the desk runs one process")
    other = process(SUPPORTDESK_STATS_SECONDS="1")
    assert other.get("/readyz")[0] == 200  # its first request started its sampling
    # This process reads where the other writes (its CHANNEL_LAYER_PREFIX is the key prefix).
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "KEY_PREFIX": channel_layer_of_our_own},
    }
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        gathered = stats.gather()
        if len(gathered["processes"]) >= 2:
            break
        time.sleep(0.2)
    pids = {p["pid"] for p in gathered["processes"]}
    assert gathered["shared"] is True
    assert other.process.pid in pids
    assert stats.PID in pids
    user = get_user_model().objects.create_superuser("root", password="x" * 12)
    client = Client()
    client.force_login(user)
    page = client.get("/admin/status/").content.decode()
    assert f":{other.process.pid}</th>" in page
