"""The admin: endpoints with their secret and a URL check, deliveries with the receiver's
answers, "Redeliver" and "Enable again"."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from chat.models import Inbox, Visitor
from chat.services import visitor_message_send
from tests.webhooks.conftest import Receiver
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.outbox import deliveries_send_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def endpoint_form(inbox: Inbox, url: str, **extra: Any) -> dict[str, Any]:
    return {"inbox": inbox.pk, "url": url, "events": ["message.created"], **extra}


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/hook", "http://169.254.169.254/", "http://10.0.0.8/"]
)
def test_a_private_url_is_refused_when_saved(
    admin_client: Client, inbox: Inbox, settings: Any, url: str
) -> None:
    settings.SUPPORTDESK_WEBHOOKS_ALLOW_PRIVATE = False
    response = admin_client.post(
        reverse("admin:webhooks_webhookendpoint_add"),
        endpoint_form(inbox, url, allow_private_network="on"),
    )
    assert response.status_code == 200
    assert "non-public address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_is_saved_with_a_secret_shown_on_its_page(
    admin_client: Client, inbox: Inbox
) -> None:
    response = admin_client.post(
        reverse("admin:webhooks_webhookendpoint_add"),
        endpoint_form(inbox, "https://93.184.215.14/hook"),
    )
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["message.created"]
    assert endpoint.secret.startswith("whsec_")
    page = admin_client.get(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]))
    assert endpoint.secret in page.content.decode()


def test_deliveries_show_the_answer_and_can_be_redelivered(
    admin_client: Client, visitor: Visitor, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    receiver.status = 503
    visitor_message_send(visitor=visitor, body="Hello", client_id=uuid.uuid4())
    deliveries_send_due()
    row = WebhookDelivery.objects.get(event="conversation.created")
    listing = admin_client.get(
        reverse("admin:webhooks_webhookdelivery_changelist"), {"state__exact": "pending"}
    )
    assert listing.status_code == 200
    page = admin_client.get(reverse("admin:webhooks_webhookdelivery_change", args=[row.pk]))
    assert "receiver says no" in page.content.decode()
    assert str(row.event_id) in page.content.decode()

    receiver.status = 200
    admin_client.post(
        reverse("admin:webhooks_webhookdelivery_changelist"),
        {"action": "redeliver", "_selected_action": [row.pk]},
    )
    row.refresh_from_db()
    assert (row.attempts, row.state) == (0, "pending")
    deliveries_send_due()
    assert [r.id for r in receiver.requests].count(str(row.event_id)) == 2
    assert receiver.events()[0]["id"] == str(row.event_id)


def test_a_disabled_endpoint_is_announced_and_can_be_enabled(
    admin_client: Client, endpoint: WebhookEndpoint
) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, disabled_reason="every attempt failed for a day"
    )
    changelist = reverse("admin:webhooks_webhookendpoint_changelist")
    page = admin_client.get(changelist)
    assert "every attempt failed for a day" in page.content.decode()
    admin_client.post(changelist, {"action": "enable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert endpoint.disabled_reason == ""
