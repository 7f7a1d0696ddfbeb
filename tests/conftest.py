"""Shared fixtures: an inbox with an agent, a second inbox with its own agent, visitors."""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import channel_layers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings

from agents.models import Agent
from agents.services import agent_create
from chat.events import publish_now
from chat.groups import inbox_group
from chat.models import Inbox, Visitor
from chat.services import visitor_create
from supportdesk import crypto
from supportdesk.asyncdb import drain

PASSWORD = "correct horse battery staple"


def published_messages(callbacks: list[Any]) -> list[dict[str, Any]]:
    """The chat.message events rung to the agents' side among on-commit callbacks: one per
    message published (`partial(publish_now, groups, event)`, chat.events.publish_on_commit;
    the visitor's redacted copy goes to their own group)."""
    return [
        event
        for c in callbacks
        if getattr(c, "func", None) is publish_now
        and isinstance(event := c.args[1], dict)  # not an event made after commit (the queue)
        and event["type"] == "chat.message"
        and c.args[0] == [inbox_group(event["conversation"]["inbox_id"])]
    ]


def make_agent(*, username: str, display_name: str, inbox: Inbox) -> Agent:
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    return agent_create(user=user, display_name=display_name, inboxes=[inbox])


@pytest.fixture
def inbox(db: None) -> Inbox:
    return Inbox.objects.create(name="Acme support", greeting="Hello from Acme!")


@pytest.fixture
def other_inbox(db: None) -> Inbox:
    return Inbox.objects.create(name="Other company")


@pytest.fixture
def agent(inbox: Inbox) -> Agent:
    return make_agent(username="alice", display_name="Alice", inbox=inbox)


@pytest.fixture
def second_agent(inbox: Inbox) -> Agent:
    return make_agent(username="bob", display_name="Bob", inbox=inbox)


@pytest.fixture
def outsider_agent(other_inbox: Inbox) -> Agent:
    """An agent of another inbox: must see nothing of `inbox`."""
    return make_agent(username="mallory", display_name="Mallory", inbox=other_inbox)


@pytest.fixture
def visitor(inbox: Inbox) -> Visitor:
    return visitor_create(inbox=inbox)


@pytest.fixture
def visitor_b(inbox: Inbox) -> Visitor:
    return visitor_create(inbox=inbox)


@pytest.fixture(autouse=True)
def database_threads_idle() -> Iterator[None]:
    """After each test, before pytest-django flushes its database (a fixture set up earlier, so
    torn down later): no consumer work still running on the database threads. A socket's
    presence settles a grace period after it closed, in a task that outlives the test; its query
    running into the flush's TRUNCATE was a deadlock."""
    yield
    drain()


@pytest.fixture(autouse=True)
def encryption_keys_forgotten() -> Iterator[None]:
    """Each test unwraps the data keys afresh (supportdesk.crypto caches them per process): the
    rows a test made are rolled back or flushed after it."""
    yield
    crypto.keyring_reset()


@pytest.fixture(scope="session", autouse=True)
def channel_layer_of_our_own() -> Iterator[str]:
    """Each test worker (and each run) talks on its own Redis prefix: test databases of
    parallel workers reuse ids, and `inbox.1` of one must not ring in the other. Servers started
    by the browser tests inherit it through CHANNEL_LAYER_PREFIX."""
    prefix = f"sdtest-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    if "prefix" in layers["default"].get("CONFIG", {}):
        layers["default"]["CONFIG"]["prefix"] = prefix
    os.environ["CHANNEL_LAYER_PREFIX"] = prefix
    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()
        yield prefix
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def rate_limit_counters_of_our_own(settings: Any) -> None:
    """Every test counts requests afresh: all of them come from 127.0.0.1, and per-IP counters
    carried over from earlier tests would refuse requests at random. A key prefix of its own per
    test does it without flushing a Redis that other workers share."""
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = (
        f"{os.environ.get('CHANNEL_LAYER_PREFIX', 'sd')}-{uuid.uuid4().hex}"
    )
    settings.CACHES = caches


@pytest.fixture(scope="session", autouse=True)
def media_of_our_own(tmp_path_factory: Any) -> Iterator[None]:
    """Uploaded files (chat.attachments) go to a folder of the run's own, never the checkout
    (keys are random: the tests of a run can share it)."""
    with override_settings(MEDIA_ROOT=str(tmp_path_factory.mktemp("media"))):
        yield


@pytest.fixture(autouse=True)
def demo_page_on(settings: Any) -> None:
    """Tests run with DEBUG off, as production; the demo page (off there) stands in for a
    customer's site in many of them. tests/chat/test_views.py checks it is off by default."""
    settings.SUPPORTDESK_DEMO_PAGE = True


@pytest.fixture
def cache_down(settings: Any) -> None:
    """The cache's Redis is unreachable (stopped, restarting): nothing listens on port 1."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }


@pytest.fixture
def admin_agent(db: None) -> Agent:
    """An admin: a member of no inbox, yet sees and manages all."""
    user = get_user_model().objects.create_user(username="ada", password=PASSWORD)
    agent = agent_create(user=user, display_name="Ada")
    agent.role = Agent.Role.ADMIN
    agent.save(update_fields=["role"])
    return agent


@pytest.fixture
def private_redis(tmp_path: Any) -> Iterator[Any]:
    """A redis-server of the test's own (tests.browser.conftest.RedisServer), started; the test
    may kill and start it again, which the shared Redis must never be."""
    from tests.browser.conftest import REDIS_SERVER, RedisServer

    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def layer_on_private_redis(private_redis: Any) -> Iterator[Any]:
    """The desk's own channel layer on a Redis of the test's own (`private_redis`), which the
    test may stop, freeze or start again."""
    from channels.layers import channel_layers
    from django.test import override_settings

    layers = {
        "default": {
            "BACKEND": "supportdesk.layers.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [private_redis.url], "prefix": "private-redis-test"},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()
        yield private_redis
    channel_layers.backends.clear()


@pytest.fixture
def private_postgres() -> Iterator[Any]:
    """A PostgreSQL of the test's own (tests.browser.conftest.PostgresServer), started and
    migrated; the test may stop it and start it again, which the shared one must never be."""
    from tests.browser.conftest import PG_BIN, PostgresServer

    if PG_BIN is None:
        pytest.skip("PostgreSQL's server binaries are not installed")
    server = PostgresServer()
    try:
        server.start()
        server.migrate()
        yield server
    finally:
        server.remove()
