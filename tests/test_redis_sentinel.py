"""Redis through Sentinel (docs/DEPLOY.md): REDIS_SENTINELS and REDIS_URL=redis://MASTER/DB give
the channel layer and the rate-limit cache a master found by asking the Sentinels."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from supportdesk.env import SENTINEL_TIMEOUTS, redis_sentinels, redis_settings
from tests.browser.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = shutil.which("redis-server")


def test_sentinels_are_host_and_port_with_26379_by_default() -> None:
    assert redis_sentinels("") == []
    assert redis_sentinels(" s1:26380, s2 ,[::1]:26381,") == [
        ("s1", 26380),
        ("s2", 26379),
        ("::1", 26381),
    ]
    for bad in ("s1:port", "s1:26379/0", ":26379", "s1:99999"):
        with pytest.raises(ImproperlyConfigured, match="REDIS_SENTINELS"):
            redis_sentinels(bad)


def test_without_sentinels_redis_url_is_used_as_it_is() -> None:
    assert redis_settings("redis://r:6379/2", sentinels=[]) == ("redis://r:6379/2", {})


def test_with_sentinels_redis_url_names_the_master_set_its_db_and_password() -> None:
    layer, cache = redis_settings(
        "redis://:p%40ss@mymaster/3", sentinels=[("s1", 26379)], sentinel_password="sp"
    )
    assert layer == {
        "master_name": "mymaster",
        "sentinels": [("s1", 26379)],
        "sentinel_kwargs": {**SENTINEL_TIMEOUTS, "password": "sp"},
        "db": 3,
        "password": "p@ss",
    }
    assert cache["pool_class"] == "redis.sentinel.SentinelConnectionPool"
    assert cache["service_name"] == "mymaster"
    assert cache["sentinel_manager"].sentinels[0].connection_pool.connection_kwargs["host"] == "s1"
    for url in ("", "rediss://mymaster/0", "unix:///run/redis.sock"):
        with pytest.raises(ImproperlyConfigured, match="MASTER_NAME"):
            redis_settings(url, sentinels=[("s1", 26379)])


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A private Redis master and one Sentinel watching it: (master port, sentinel port)."""
    if not REDIS_SERVER:
        pytest.skip("redis-server is not installed")
    master, watcher = free_port(), free_port()
    conf = tmp_path / "sentinel.conf"  # Sentinel rewrites its own config file
    conf.write_text(
        f"port {watcher}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor smoke 127.0.0.1 {master} 1\n"
    )
    processes = [
        subprocess.Popen(
            [REDIS_SERVER, "--port", str(master), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        ),
        subprocess.Popen([REDIS_SERVER, str(conf), "--sentinel"], stdout=subprocess.DEVNULL),
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                answer = redis.Redis(port=watcher).sentinel_get_master_addr_by_name("smoke")
                if answer and int(answer[1]) == master:
                    break
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the Sentinel did not start")
            time.sleep(0.05)
        yield master, watcher
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


SCRIPT = """
import asyncio, django
django.setup()
from channels.layers import get_channel_layer
from django.core.cache import cache

assert cache.add("sentinel-probe", 1) and cache.incr("sentinel-probe") == 2

async def round_trip():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("probe", channel)
    await layer.group_send("probe", {"type": "probe", "n": 7})
    message = await asyncio.wait_for(layer.receive(channel), 5)
    await layer.flush()
    return message["n"]

print("layer", asyncio.run(round_trip()))
"""


def test_the_channel_layer_and_the_cache_find_the_master_through_sentinel(
    sentinel: tuple[int, int],
) -> None:
    master, watcher = sentinel
    prefix = f"sentinel-{secrets.token_hex(4)}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "supportdesk.settings",
        "DEBUG": "1",
        # "smoke" resolves nowhere: only the Sentinel knows where that master is.
        "REDIS_URL": "redis://smoke/0",
        "REDIS_SENTINELS": f"127.0.0.1:{watcher}",
        "CHANNEL_LAYER_PREFIX": prefix,
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "layer 7"
    # The counter is in the Sentinel's master, not in some other Redis.
    assert redis.Redis(port=master).get(f"{prefix}:1:sentinel-probe") == b"2"
