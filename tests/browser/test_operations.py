"""What an agent and an admin see when the desk's real-time path dies: the dashboard's red
banner, and the status page (screenshots to /work/h-ops-shots/ when that folder's parent exists,
else test-artifacts/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import Browser, Page, expect

from agents.models import Agent
from tests.browser.conftest import ARTIFACTS, Desk, RedisServer
from tests.browser.pages import agent_page, new_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/work/h-ops-shots") if Path("/work").is_dir() else ARTIFACTS
PATH_DOWN = "Live updates are down on the desk"
SOCKET_DOWN = "Connection to the desk lost"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def admin_page(browser: Browser, desk: Desk, path: str) -> Page:
    user = get_user_model().objects.create_superuser("root", password="x" * 12)
    client = Client()
    client.force_login(user)
    page = new_page(browser, viewport={"width": 1280, "height": 900})
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": desk.url}]
    )
    page.goto(desk.url + path)
    return page


def test_dashboard_shows_a_red_banner_while_redis_is_down_and_the_status_page_says_why(
    browser: Browser, desk_factory, private_redis: RedisServer, agent: Agent
) -> None:
    server = desk_factory(REDIS_URL=private_redis.url, SUPPORTDESK_HEARTBEAT_SECONDS="2")
    dashboard = agent_page(browser, server, "alice")
    banner = dashboard.get_by_role("alert").filter(has_text=PATH_DOWN)
    expect(dashboard.locator("#realtime-banner")).to_be_hidden()

    private_redis.kill()  # the real-time path dies; the socket itself stays open
    expect(banner).to_be_visible()
    expect(dashboard.locator("#connection-status")).to_have_attribute("data-state", "open")
    expect(dashboard.locator("#realtime-banner")).to_have_css(
        "background-color", "rgb(201, 42, 42)"
    )
    shot(dashboard, "dashboard-redis-down")

    status = admin_page(browser, server, "/admin/status/")
    expect(status.get_by_role("alert").first).to_contain_text("The desk is not ready:")
    expect(status.locator('[data-check="redis"]')).to_contain_text("failed")
    expect(status.locator('[data-check="channel_layer"]')).not_to_contain_text("OK")
    expect(status.locator('[data-agent="alice"]')).to_contain_text("Online")
    expect(status.get_by_text("Redis could not be read")).to_be_visible()
    shot(status, "status-redis-down")

    private_redis.start()  # back: the banner goes by itself
    expect(dashboard.locator("#realtime-banner")).to_be_hidden(timeout=20_000)
    status.reload()
    expect(status.get_by_text("All checks pass.")).to_be_visible()
    shot(status, "status-all-well")


def test_dashboard_shows_a_red_banner_when_its_own_socket_is_down(
    browser: Browser, desk_factory, agent: Agent
) -> None:
    server = desk_factory(SUPPORTDESK_HEARTBEAT_SECONDS="2")
    dashboard = agent_page(browser, server, "alice")
    server.kill()
    expect(dashboard.get_by_role("alert").filter(has_text=SOCKET_DOWN)).to_be_visible()
    shot(dashboard, "dashboard-socket-down")
