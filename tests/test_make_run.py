"""`make run` (README, "Quick start"): its closing banner gives full addresses on the host and
port it serves, and it installs what serving needs, not the test tools (`make test` does)."""

from __future__ import annotations

import shutil
import subprocess
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from agents.management.commands.seed_demo import base_url

ROOT = Path(__file__).resolve().parent.parent


def seed_demo(settings: Any, **options: str) -> str:
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


@pytest.mark.django_db
def test_the_banner_prints_full_addresses_on_the_port_make_run_serves(settings: Any) -> None:
    banner = seed_demo(settings, host="127.0.0.1", port="9000")
    assert "http://127.0.0.1:9000/demo/" in banner
    assert "http://127.0.0.1:9000/agents/" in banner
    assert "http://127.0.0.1:9000/admin/" in banner
    assert "demo / demo" in banner
    assert "admin / admin" in banner
    assert ":8000" not in banner


@pytest.mark.django_db
def test_the_banner_reads_host_and_port_from_the_environment(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("HOST", "0.0.0.0")  # noqa: S104 (every interface: shown as 127.0.0.1)
    assert "http://127.0.0.1:9000/agents/" in seed_demo(settings)


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", "8000", "http://127.0.0.1:8000"),
        ("0.0.0.0", "9000", "http://127.0.0.1:9000"),  # noqa: S104
        ("::", "9000", "http://127.0.0.1:9000"),
        ("::1", "9000", "http://[::1]:9000"),
        ("desk.local", "80", "http://desk.local:80"),
    ],
)
def test_the_address_a_browser_opens(host: str, port: str, url: str) -> None:
    assert base_url(host, port) == url


def dry_run(*args: str) -> str:
    """What `make` would run, from a checkout without a virtualenv yet."""
    return subprocess.run(
        ["make", "-n", *args, "VENV=/nonexistent/venv"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="no make here")


@needs_make
def test_make_run_passes_its_port_to_the_banner_and_installs_no_test_tools() -> None:
    commands = dry_run("run", "PORT=9000")
    assert "manage.py seed_demo --host 127.0.0.1 --port 9000" in commands
    assert "daphne -b 127.0.0.1 -p 9000" in commands
    assert "pip install --quiet -e .\n" in commands
    assert "[dev]" not in commands


@needs_make
@pytest.mark.parametrize("target", ["test", "test-fast", "lint", "bench"])
def test_the_tools_targets_install_the_dev_extra(target: str) -> None:
    commands = dry_run(target)
    assert "pip install --quiet -e '.[dev]'" in commands
