"""Production settings pass Django's deployment checklist, with secrets only from the
environment; our pages carry a Content-Security-Policy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from chat.models import Inbox
from tests.conftest import PASSWORD, make_agent

ROOT = Path(__file__).resolve().parent.parent


def check_deploy(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "HTTPS", "SECRET_KEY"}}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-long-random-production-secret-" + "x" * 40,
    "ALLOWED_HOSTS": "desk.example.com",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SECURE_SSL_REDIRECT": "1",
}


def test_production_settings_pass_the_deployment_checklist() -> None:
    result = check_deploy(**PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_https_or_hsts_the_checklist_says_so() -> None:
    result = check_deploy(**{**PRODUCTION, "HTTPS": "0", "SECURE_HSTS_SECONDS": "0"})
    assert result.returncode != 0
    for warning in ("security.W004", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


def test_a_production_desk_refuses_to_start_without_a_secret_key() -> None:
    result = check_deploy(**{**PRODUCTION, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.django_db
def test_our_pages_allow_only_our_own_scripts_and_styles_and_no_framing(
    client: Client, admin_client: Client
) -> None:
    inbox = Inbox.objects.create(name="Acme")
    make_agent(username="alice", display_name="Alice", inbox=inbox)
    client.login(username="alice", password=PASSWORD)
    for path in ["/agents/", "/agents/replies/", "/agents/search?q=x", "/accounts/login/"]:
        policy = client.get(path)["Content-Security-Policy"]
        assert "default-src 'self'; script-src 'self'; style-src 'self';" in policy, path
        assert "'unsafe-inline'" not in policy
        assert "'unsafe-eval'" not in policy
        assert policy.endswith("frame-ancestors 'none'"), path
    # The admin keeps Django's own headers; the demo page stands in for a customer's site.
    assert "Content-Security-Policy" not in admin_client.get("/admin/")
    assert "Content-Security-Policy" not in client.get("/demo/")
