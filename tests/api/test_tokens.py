"""API tokens: stored hashed and shown once, revoked at once, last use recorded at most once a
minute, rate-limited (429 with Retry-After); made on the agent's own page, in the admin and by
`manage.py create_api_token`."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import Agent
from api.models import ApiToken
from api.selectors import api_token_for
from api.services import api_token_create, api_token_revoke
from tests.agents.helpers import logged_in
from tests.api.conftest import Api, token_for

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r"sd_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def test_a_token_is_stored_as_a_hash_never_as_itself(agent: Agent) -> None:
    made = api_token_create(agent=agent, name="CRM", scopes=["write", "read"])
    assert TOKEN.fullmatch(made.plaintext)
    row = ApiToken.objects.get()
    secret = made.plaintext.split("_", 2)[2]
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.values().get())
    assert row.scopes == ["read", "write"]
    assert api_token_for(made.plaintext) == row
    assert api_token_for(made.plaintext[:-1] + ("A" if made.plaintext[-1] != "A" else "B")) is None


@pytest.mark.parametrize(("name", "scopes"), [("", ["read"]), ("CI", []), ("CI", ["admin"])])
def test_a_token_needs_a_name_and_known_scopes(agent: Agent, name: str, scopes: list) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        api_token_create(agent=agent, name=name, scopes=scopes)
    assert not ApiToken.objects.exists()


def test_a_revoked_token_fails_at_once(agent: Agent) -> None:
    made = api_token_create(agent=agent, name="CI", scopes=["read"])
    api = Api(made.plaintext)
    assert api.get("/api/v1/inboxes/").status_code == 200
    api_token_revoke(token=made.token)
    response = api.get("/api/v1/inboxes/")
    assert response.status_code == 401
    assert response.json()["error"] == "bad_token"


def test_last_use_is_written_at_most_once_a_minute(agent: Agent) -> None:
    made = api_token_create(agent=agent, name="CI", scopes=["read"])
    api = Api(made.plaintext)
    api.get("/api/v1/inboxes/")
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/inboxes/")
    assert not [q for q in queries if q["sql"].startswith("UPDATE")]
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    api.get("/api/v1/inboxes/")
    assert ApiToken.objects.get().last_used_at > first - timedelta(seconds=1)
    assert ApiToken.objects.get().last_used_at > timezone.now() - timedelta(seconds=30)


def test_requests_past_the_rate_are_429_with_retry_after(agent: Agent, settings) -> None:
    settings.SUPPORTDESK_RATE_LIMITS = {**settings.SUPPORTDESK_RATE_LIMITS, "api": "3/60"}
    api, other = Api(token_for(agent)), Api(token_for(agent, name="other"))
    assert [api.get("/api/v1/inboxes/").status_code for _ in range(3)] == [200] * 3
    refused = api.get("/api/v1/inboxes/")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["error"] == "rate_limited"
    assert refused.json()["retry_after"] == int(refused["Retry-After"])
    assert other.get("/api/v1/inboxes/").status_code == 200  # per token


def test_guessing_tokens_is_rate_limited_by_address(db: None, settings) -> None:
    settings.SUPPORTDESK_RATE_LIMITS = {**settings.SUPPORTDESK_RATE_LIMITS, "api": "2/60"}
    guess = Client(headers={"Authorization": "Bearer sd_0123456789ab_" + "x" * 43})
    assert [guess.get("/api/v1/inboxes/").status_code for _ in range(3)] == [401, 401, 429]


# --- The agent's own page -----------------------------------------------------------------------


def test_an_agent_makes_a_token_on_their_page_and_sees_it_once(agent: Agent) -> None:
    client = logged_in(agent)
    assert client.get("/api/v1/tokens/").status_code == 200
    response = client.post("/api/v1/tokens/", {"name": "Zapier", "scopes": ["read", "write"]})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    shown = TOKEN.search(response.content.decode())
    assert shown is not None
    assert Api(shown[0]).get("/api/v1/agents/me/").json()["id"] == agent.pk
    token = ApiToken.objects.get()
    assert (token.agent, token.name, token.scopes) == (agent, "Zapier", ["read", "write"])
    again = client.get("/api/v1/tokens/").content.decode()
    assert "Zapier" in again
    assert TOKEN.search(again) is None


def test_a_token_without_a_scope_is_refused_on_the_page(agent: Agent) -> None:
    response = logged_in(agent).post("/api/v1/tokens/", {"name": "x"})
    assert response.status_code == 422
    assert not ApiToken.objects.exists()


def test_an_agent_revokes_only_their_own_tokens(agent: Agent, second_agent: Agent) -> None:
    mine = api_token_create(agent=agent, name="mine", scopes=["read"]).token
    theirs = api_token_create(agent=second_agent, name="theirs", scopes=["read"]).token
    client = logged_in(agent)
    assert client.post(f"/api/v1/tokens/{theirs.pk}/revoke").status_code == 404
    response = client.post(f"/api/v1/tokens/{mine.pk}/revoke")
    assert response.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None
    assert theirs.revoked_at is None


def test_the_dashboards_account_menu_links_the_page(agent: Agent) -> None:
    assert b'href="/api/v1/tokens/"' in logged_in(agent).get("/agents/").content


# --- The admin ----------------------------------------------------------------------------------


def test_an_admin_makes_a_token_for_an_agent_and_revokes_it(
    agent: Agent, django_user_model
) -> None:
    root = django_user_model.objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(root)
    response = client.post(
        "/admin/api/apitoken/add/",
        {"agent": agent.pk, "name": "Nightly export", "scopes": ["read"]},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    shown = TOKEN.search(response.content.decode())
    assert shown is not None
    assert Api(shown[0]).get("/api/v1/agents/me/").json()["id"] == agent.pk
    token = ApiToken.objects.get()
    listing = client.get("/admin/api/apitoken/").content.decode()
    assert "Nightly export" in listing
    assert TOKEN.search(listing) is None
    client.post(
        "/admin/api/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Api(shown[0]).get("/api/v1/agents/me/").status_code == 401


# --- The management command ---------------------------------------------------------------------


def test_create_api_token_prints_a_working_token(agent: Agent) -> None:
    out = io.StringIO()
    call_command(
        "create_api_token",
        "alice",
        "--name",
        "CI",
        "--scope",
        "read",
        "--scope",
        "write",
        stdout=out,
    )
    plaintext = out.getvalue().strip()
    assert TOKEN.fullmatch(plaintext)
    assert ApiToken.objects.get().scopes == ["read", "write"]
    assert Api(plaintext).get("/api/v1/agents/me/").json()["id"] == agent.pk


def test_create_api_token_defaults_to_read(agent: Agent) -> None:
    call_command("create_api_token", "alice", "--name", "CI", stdout=io.StringIO())
    assert ApiToken.objects.get().scopes == ["read"]


def test_create_api_token_for_no_agent_fails(db: None) -> None:
    with pytest.raises(CommandError, match="No agent"):
        call_command("create_api_token", "nobody", "--name", "CI", stdout=io.StringIO())
