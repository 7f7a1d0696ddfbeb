"""The inbox's Install page in the admin (chat.admin_install) and the "seen on your site" record
behind it (chat.install): admins only, the snippet, the look saved, the check that flips after a
widget load, and the identity secret hidden until revealed (and the reveal logged)."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client, RequestFactory
from django.urls import reverse

from agents.models import Agent
from chat.install import embedding_origin, widget_last_seen, widget_load_record
from chat.models import Inbox
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

FRAMED = {"Sec-Fetch-Dest": "iframe"}


@pytest.fixture
def admin_client(db: None) -> Client:
    user = get_user_model().objects.create_superuser(username="root", password=PASSWORD, email="")
    client = Client()
    client.force_login(user)
    return client


def install_url(inbox: Inbox, suffix: str = "") -> str:
    return reverse(f"admin:chat_inbox_install{suffix}", args=[inbox.pk])


def load_widget(inbox: Inbox, **headers: str) -> None:
    response = Client().get(reverse("chat:widget_page", args=[inbox.public_key]), headers=headers)
    assert response.status_code == 200


def test_the_install_page_is_for_admins_only(inbox: Inbox, agent: Agent) -> None:
    url = install_url(inbox)
    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("admin:login"))

    # An agent (not staff): the desk's 403 page, saying whom to ask; no admin login loop.
    client = Client()
    client.force_login(agent.user)
    refused = client.get(url)
    assert refused.status_code == 403
    assert "is for the desk&#x27;s admins" in refused.content.decode()
    assert client.get(install_url(inbox, "_seen")).status_code == 403
    assert client.post(install_url(inbox, "_secret")).status_code == 403

    # Staff who may only view inboxes: refused as well.
    agent.user.is_staff = True
    agent.user.save(update_fields=["is_staff"])
    agent.user.user_permissions.add(Permission.objects.get(codename="view_inbox"))
    assert client.get(url).status_code == 403
    agent.user.user_permissions.add(Permission.objects.get(codename="change_inbox"))
    assert client.get(url).status_code == 200


def test_the_page_has_the_snippet_the_preview_and_the_secret_masked(
    admin_client: Client, inbox: Inbox
) -> None:
    page = admin_client.get(install_url(inbox)).content.decode()
    snippet = (
        f"&lt;script src=&quot;http://testserver/widget.js&quot; "
        f"data-inbox=&quot;{inbox.public_key}&quot; async&gt;&lt;/script&gt;"
    )
    assert f'<code id="install-snippet">{snippet}</code>' in page
    assert 'data-copy="install-snippet"' in page
    assert 'id="install-preview"' in page
    assert 'name="accent_color"' in page
    assert "supportdesk/install.js" in page
    assert 'data-state="never"' in page  # not seen yet
    assert inbox.identity_secret not in page
    assert ">Reveal</button>" in page

    # The inbox's own admin page: the secret masked, a link to the Install page.
    change = admin_client.get(reverse("admin:chat_inbox_change", args=[inbox.pk])).content
    assert inbox.identity_secret.encode() not in change
    assert install_url(inbox).encode() in change
    assert b"Install the widget" in change


def test_reveal_shows_the_secret_and_is_logged(admin_client: Client, inbox: Inbox) -> None:
    assert admin_client.get(install_url(inbox, "_secret")).status_code == 405
    response = admin_client.post(
        install_url(inbox, "_secret"), headers={"Accept": "application/json"}
    )
    assert response.json() == {"secret": inbox.identity_secret}
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    entry = LogEntry.objects.get(object_id=str(inbox.pk))
    assert entry.change_message == "Revealed the identity verification secret."
    # Without the script: the page, showing it.
    page = admin_client.post(install_url(inbox, "_secret")).content.decode()
    assert f'data-masked="false">{inbox.identity_secret}</code>' in page


def test_saving_the_look_changes_only_those_fields(admin_client: Client, inbox: Inbox) -> None:
    response = admin_client.post(
        install_url(inbox),
        {
            "widget_title": "Acme help",
            "greeting": "Ahoy!",
            "accent_color": "#e8590c",
            "launcher_position": "left",
        },
    )
    assert response.status_code == 302
    inbox.refresh_from_db()
    assert (inbox.widget_title, inbox.greeting, inbox.accent_color, inbox.launcher_position) == (
        "Acme help",
        "Ahoy!",
        "#e8590c",
        "left",
    )
    refused = admin_client.post(install_url(inbox), {"accent_color": "orange", "greeting": "x"})
    assert refused.status_code == 200
    assert "errornote" in refused.content.decode()
    inbox.refresh_from_db()
    assert inbox.accent_color == "#e8590c"


def test_the_check_flips_once_the_widget_was_loaded_on_a_site(
    admin_client: Client, inbox: Inbox
) -> None:
    seen_url = install_url(inbox, "_seen")
    assert 'data-state="never"' in admin_client.get(seen_url).content.decode()

    # Opened as a page of its own (not framed): not an installation.
    load_widget(inbox, **{"Sec-Fetch-Dest": "document", "Referer": "https://evil.example/"})
    assert widget_last_seen(inbox.pk) is None

    load_widget(inbox, **FRAMED, Referer="https://shop.example.com/products/42?x=1")
    check = admin_client.get(seen_url).content.decode()
    assert 'data-state="seen"' in check
    assert "Seen on https://shop.example.com" in check

    # Another site, at once: recorded (the once-a-minute limit is per site).
    load_widget(inbox, **FRAMED, Referer="https://www.example.org/")
    assert widget_last_seen(inbox.pk)["origin"] == "https://www.example.org"
    # The same site again within the minute: no write (it would say the same).
    load_widget(inbox, **FRAMED, Referer="https://shop.example.com/")
    assert widget_last_seen(inbox.pk)["origin"] == "https://www.example.org"


def test_a_site_that_may_not_embed_it_is_told_apart(admin_client: Client, inbox: Inbox) -> None:
    inbox.allowed_origins = "https://www.acme.test"
    inbox.save(update_fields=["allowed_origins"])
    load_widget(inbox, **FRAMED, Referer="https://copycat.test/")
    check = admin_client.get(install_url(inbox, "_seen")).content.decode()
    assert 'data-state="blocked"' in check
    assert "not among the allowed embedding origins" in check


def test_the_check_says_when_it_cannot_tell(
    admin_client: Client, inbox: Inbox, cache_down: None, rf: RequestFactory
) -> None:
    # A load with the cache down is not recorded, and does not fail (the widget is served).
    framed = rf.get("/", HTTP_SEC_FETCH_DEST="iframe", HTTP_REFERER="https://shop.example.com/")
    widget_load_record(inbox_id=inbox.pk, request=framed)
    check = admin_client.get(install_url(inbox, "_seen")).content.decode()
    assert 'data-state="unknown"' in check


@pytest.mark.parametrize(
    ("headers", "origin"),
    [
        ({"HTTP_REFERER": "https://Shop.Example.com:8443/a"}, "https://shop.example.com:8443"),
        ({"HTTP_REFERER": "http://[::1]:9000/"}, "http://[::1]:9000"),
        ({}, ""),  # framed by a site that sends no Referer
        ({"HTTP_REFERER": "javascript:alert(1)"}, ""),
        ({"HTTP_REFERER": "https://x.test:notaport/"}, ""),
        ({"HTTP_SEC_FETCH_DEST": "document", "HTTP_REFERER": "https://x.test/"}, None),
    ],
)
def test_the_embedding_origin(
    rf: RequestFactory, headers: dict[str, str], origin: str | None
) -> None:
    assert embedding_origin(rf.get("/widget/k/", **headers)) == origin
