"""The operations face (ops.views, ops.collectors): /healthz, /readyz, /metrics and the admins'
status page.

Each readiness check is made to fail the way it fails in production: the cache's Redis and the
channel layer's Redis at a port where nothing listens (or a Redis of the test's own, killed).
The database's failure needs a process with another DATABASE_URL: tests/ops/test_processes.py.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from agents.models import Agent
from chat.models import Visitor
from chat.tokens import protocols_for, visitor_token
from supportdesk import ratelimit
from supportdesk.asgi import application
from tests.chat.test_consumers import SAME_ORIGIN, Communicator, send_sync

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "s3cret-metrics-token"
NOTHING_LISTENS = "redis://127.0.0.1:1/0"


def readyz(client: Client | None = None) -> tuple[int, dict[str, Any], float]:
    start = time.monotonic()
    response = (client or Client()).get("/readyz")
    return response.status_code, response.json(), time.monotonic() - start


# --- /healthz and /readyz ------------------------------------------------------------------


def test_healthz_answers_without_login_and_checks_nothing(cache_down: None) -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_passes_with_every_check_and_its_latency(settings: Any) -> None:
    status, body, _ = readyz()
    assert status == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "channel_layer", "encryption"}
    assert body["checks"]["encryption"]["ok"] is True  # "ok", or "not configured" without a key
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["database"]["latency_ms"] >= 0
    assert body["checks"]["channel_layer"]["status"] == "ok"
    assert body["checks"]["channel_layer"]["latency_ms"] >= 0
    if settings.REDIS_URL:
        assert body["checks"]["redis"]["status"] == "ok"
        assert body["checks"]["redis"]["latency_ms"] >= 0
    else:  # the embedded desk: no Redis, the in-memory layer's round trip
        assert body["checks"]["redis"] == {
            "ok": True,
            "latency_ms": None,
            "status": "not configured",
        }


def test_readyz_is_503_naming_redis_when_the_cache_redis_is_down(cache_down: None) -> None:
    status, body, took = readyz()
    assert status == 503
    assert body["status"] == "fail"
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["error"] == "ConnectionError"
    assert body["checks"]["database"]["ok"] is True
    assert took < 3, "a refused connection must answer at once"
    # Says which part failed, not where it lives.
    text = json.dumps(body)
    assert "127.0.0.1" not in text
    assert "detail" not in text


def test_readyz_is_503_naming_the_channel_layer_when_its_redis_is_down(settings: Any) -> None:
    settings.SUPPORTDESK_HEALTH_TIMEOUT_SECONDS = 1.0
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [NOTHING_LISTENS], "prefix": f"h-{uuid.uuid4().hex}"},
        }
    }
    status, body, took = readyz()
    assert status == 503
    assert body["checks"]["channel_layer"]["ok"] is False
    assert body["checks"]["channel_layer"]["status"] in ("failed", "timeout")
    assert took < 1.0 + 1.5, f"bounded by the check timeout, took {took:.1f} s"


def test_readyz_follows_a_redis_that_is_killed_and_started_again(
    private_redis: Any, settings: Any
) -> None:
    """A Redis of the test's own (never the shared one): up, killed, up again."""
    settings.SUPPORTDESK_HEALTH_TIMEOUT_SECONDS = 1.0
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": private_redis.url,
        }
    }
    assert readyz()[0] == 200
    private_redis.kill()
    status, body, took = readyz()
    assert status == 503
    assert body["checks"]["redis"]["ok"] is False
    assert took < 2.5
    private_redis.start()
    assert readyz()[0] == 200


# --- /metrics ------------------------------------------------------------------------------


def test_metrics_are_404_without_a_token_configured(settings: Any) -> None:
    settings.SUPPORTDESK_METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_metrics_want_the_bearer_token(settings: Any) -> None:
    settings.SUPPORTDESK_METRICS_TOKEN = TOKEN
    assert Client().get("/metrics").status_code == 401
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    right = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert right.status_code == 200
    assert right["Content-Type"].startswith("text/plain; version=")


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by name and labels."""
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_known_traffic(settings: Any, visitor: Visitor, agent: Agent) -> None:
    """N messages to a followed conversation: N more messages counted, N more deliveries in
    the latency histogram, one more visitor socket while it is open; the database gauges say
    what the database holds."""
    settings.SUPPORTDESK_METRICS_TOKEN = TOKEN
    n = 5
    first = await sync_to_async(send_sync)(visitor, "first")
    before = await sync_to_async(scrape)()
    socket = Communicator(
        application, f"/ws/widget/{visitor.inbox.public_key}/",
        headers=[*SAME_ORIGIN], subprotocols=protocols_for(visitor_token(visitor)),
    )  # fmt: skip
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to(
        {"type": "resume", "conversation": first.conversation_id, "after": first.seq}
    )
    while (await socket.receive_json_from(timeout=5))["type"] != "synced":
        pass
    during = await sync_to_async(scrape)()
    assert sample(during, "supportdesk_sockets_open", kind="visitor") == (
        sample(before, "supportdesk_sockets_open", kind="visitor") + 1
    )
    for i in range(n):
        await sync_to_async(send_sync)(visitor, f"message {i}")
    received = 0
    while received < n:
        frame = await socket.receive_json_from(timeout=5)
        if frame["type"] == "html" and frame.get("seq"):
            received += 1
    after = await sync_to_async(scrape)()
    await socket.disconnect()
    closed = await sync_to_async(scrape)()

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("supportdesk_messages_total", sender="visitor") == n
    assert delta("supportdesk_delivery_seconds_count", kind="visitor") == n
    assert delta("supportdesk_delivery_seconds_bucket", kind="visitor", le="+Inf") == n
    assert 0 < delta("supportdesk_delivery_seconds_sum", kind="visitor") < n * 5
    assert sample(closed, "supportdesk_sockets_open", kind="visitor") == sample(
        before, "supportdesk_sockets_open", kind="visitor"
    )
    assert sample(after, "supportdesk_conversations", status="waiting") == 1
    assert sample(after, "supportdesk_conversations", status="ended") == 0
    inbox = str(visitor.inbox_id)
    assert sample(after, "supportdesk_queue_length", inbox=inbox) == 1
    assert sample(after, "supportdesk_queue_oldest_wait_seconds", inbox=inbox) > 0


def test_metrics_count_errors_and_rate_limit_refusals(settings: Any) -> None:
    settings.SUPPORTDESK_METRICS_TOKEN = TOKEN
    settings.SUPPORTDESK_RATE_LIMITS = {**settings.SUPPORTDESK_RATE_LIMITS, "login_ip": "1/60"}
    before = scrape()
    key = uuid.uuid4().hex
    assert ratelimit.hit("login_ip", key) == 0
    assert ratelimit.hit("login_ip", key) > 0  # refused: counted
    logging.getLogger("chat.views").error("something broke")
    after = scrape()
    assert sample(after, "supportdesk_rate_limited_total", limit="login_ip") == (
        sample(before, "supportdesk_rate_limited_total", limit="login_ip") + 1
    )
    assert sample(after, "supportdesk_errors_total", logger="chat.views") == (
        sample(before, "supportdesk_errors_total", logger="chat.views") + 1
    )


# --- The status page -------------------------------------------------------------------------


@pytest.fixture
def superuser(db: None) -> Any:
    return get_user_model().objects.create_superuser("root", password="x" * 12)


def test_status_page_is_for_admin_staff_only(agent: Agent, admin_agent: Agent) -> None:
    for user in (None, agent.user, admin_agent.user):  # an Agent admin is not Django staff
        client = Client()
        if user is not None:
            client.force_login(user)
        response = client.get("/admin/status/")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_staff_without_the_status_permission_do_not_see_the_status_page(agent: Agent) -> None:
    """Issue 16: any staff user saw every inbox, queue, agent and presence there. It takes
    chat.view_desk_status (superusers have it)."""
    staff = get_user_model().objects.create_user("clerk", password="x" * 12, is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/status/").status_code in (302, 403)
    assert 'href="/admin/status/"' not in client.get("/admin/").content.decode()
    staff.user_permissions.add(Permission.objects.get(codename="view_desk_status"))
    client.force_login(get_user_model().objects.get(pk=staff.pk))  # permissions are cached
    assert client.get("/admin/status/").status_code == 200
    assert 'href="/admin/status/"' in client.get("/admin/").content.decode()


def test_status_page_shows_checks_processes_traffic_and_agents(
    superuser: Any, agent: Agent, visitor: Visitor
) -> None:
    send_sync(visitor, "hello")
    client = Client()
    client.force_login(superuser)
    index = client.get("/admin/")
    assert 'href="/admin/status/"' in index.content.decode()
    response = client.get("/admin/status/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "All checks pass." in page
    assert 'data-check="channel_layer"' in page
    assert 'data-agent="alice"' in page
    assert "Offline" in page  # Alice has no dashboard open
    assert "Messages per minute" in page
    # The partial htmx polls.
    partial = client.get("/admin/status/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="status"')


def test_status_page_with_redis_down_says_so_and_shows_this_process(
    superuser: Any, cache_down: None
) -> None:
    client = Client()
    client.force_login(superuser)
    response = client.get("/admin/status/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "The desk is not ready:" in page
    assert "redis (failed)" in page
    assert "Redis could not be read (ConnectionError)" in page


# --- Logs ------------------------------------------------------------------------------------
