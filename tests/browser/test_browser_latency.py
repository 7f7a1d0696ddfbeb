"""bench/browser_latency.py still measures: a short run, 5 messages each way, in Chromium.

It runs the script as it is run by hand (a subprocess: its own daphne, its own database), on the
PostgreSQL server and Redis of DATABASE_URL and REDIS_URL when they are set, else on a fresh
SQLite file and the in-memory layer. Only what cannot be flaky is asserted: every message
arrived, each took a positive time under a generous bound, and the result has both medians. The
figures themselves belong to docs/PERFORMANCE.md, not to a pass or a fail.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench._common import drop_postgres_database

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "browser_latency.py"
SAMPLES = 5
BOUND_MS = 5_000
RUN_TIMEOUT_S = 90  # the script fails by itself sooner: 20 s to get ready, 10 s a message


def latency_database_url() -> str:
    """A database of the run's own on DATABASE_URL's PostgreSQL server (the script creates it,
    as it does not exist, and drops it); "" for the script's own SQLite file otherwise."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return ""
    return urlunsplit(urlsplit(url)._replace(path=f"/supportdesk_latency_{secrets.token_hex(4)}"))


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    """The script in a process group of its own: on a timeout, its daphne and browser go too."""
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        pytest.fail(
            f"browser_latency.py did not finish within {RUN_TIMEOUT_S} s\n{stdout}\n{stderr[-3000:]}"
        )
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_browser_latency_script_measures_both_directions() -> None:
    database_url = latency_database_url()
    args = ["--samples", str(SAMPLES)]
    if database_url:
        args += ["--database-url", database_url]
    if os.environ.get("REDIS_URL"):
        args += ["--redis-url", os.environ["REDIS_URL"]]
    try:
        done = run_script(*args)
    finally:
        if database_url:  # the script drops it; not if it was killed
            drop_postgres_database(database_url)

    print(done.stdout)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["samples"] == SAMPLES
    if database_url:
        assert result["database"].startswith("postgres")
    for direction in ("visitor_to_agent", "agent_to_visitor"):
        figures = result[direction]
        assert figures["n"] == SAMPLES, direction
        assert len(figures["samples_ms"]) == SAMPLES, direction
        assert all(0 < ms < BOUND_MS for ms in figures["samples_ms"]), figures
        assert 0 < figures["median_ms"] < BOUND_MS, figures
