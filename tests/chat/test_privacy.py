"""Personal data: one visitor's export and erasure, the admin pages for them, and retention."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.apps import apps
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents import housekeeping
from agents.models import Activity, Agent, ReadMark
from agents.services import agent_reply, conversation_claim, note_create, read_mark
from chat.models import Conversation, Inbox, Message, Visitor
from chat.privacy import (
    conversations_purge,
    conversations_purge_preview,
    visitor_delete,
    visitor_deletion_preview,
    visitor_export,
)
from chat.services import (
    conversation_end,
    conversation_rate,
    visitor_context_update,
    visitor_create,
    visitor_message_send,
    visitor_profile_set,
)
from supportdesk.cryptofields import BlindIndexField
from supportdesk.env import env_days
from tests.chat import test_consumers as sockets

pytestmark = pytest.mark.django_db


def send(visitor: Visitor, body: str) -> Message:
    return visitor_message_send(visitor=visitor, body=body, client_id=uuid.uuid4()).message


def admin_log(obj: Any, text: str) -> LogEntry:
    """An admin history row about `obj`, as Django's change view writes one."""
    return LogEntry.objects.create(
        user=get_user_model().objects.get_or_create(username="historian")[0],
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=text,
        action_flag=CHANGE,
    )


def populate(visitor: Visitor, agent: Agent, tag: str) -> None:
    """A visitor with everything the desk can hold about one: profile, context, an ended and
    rated chat with a reply, an internal note, a read mark and audit rows, an open chat, and
    admin history. Every text carries `tag`, so leaks between visitors are easy to spot."""
    visitor_profile_set(visitor=visitor, email=f"{tag}@example.com", name=f"Name {tag}")
    visitor_context_update(
        visitor=visitor,
        context={
            "current_url": f"https://shop.example/{tag}",
            "page_title": f"Page {tag}",
            "referrer": f"https://search.example/?q={tag}",
            "user_agent": f"Browser {tag}",
            "timezone": "Europe/Berlin",
            "language": "de",
        },
    )
    first = send(visitor, f"hello from {tag}")
    conversation = first.conversation
    agent_reply(
        conversation=conversation, agent=agent, body=f"reply to {tag}", client_id=uuid.uuid4()
    )
    note_create(
        conversation=conversation, agent=agent, body=f"note about {tag}", client_id=uuid.uuid4()
    )
    read_mark(agent=agent, conversation_id=conversation.pk, seq=3)
    conversation_end(conversation=conversation, by=agent)
    conversation_rate(
        visitor=visitor, conversation_id=conversation.pk, rating=4, comment=f"ok {tag}"
    )
    message = send(visitor, f"again {tag}")  # a second, open conversation
    admin_log(visitor, f"Name {tag}")
    admin_log(conversation, f"#{conversation.pk} Name {tag} (ended)")
    admin_log(message, f"{message.conversation_id}#1 visitor: again {tag}")


def row_counts() -> dict[str, int]:
    """Rows in every table of every app (through tables too)."""
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models(include_auto_created=True)
    }


def difference(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {
        label: before[label] - after[label] for label in before if before[label] != after[label]
    }


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {label: n for label, n in counts.items() if n}


@pytest.fixture
def two_visitors(visitor: Visitor, visitor_b: Visitor, agent: Agent) -> tuple[Visitor, Visitor]:
    populate(visitor, agent, "alpha")
    populate(visitor_b, agent, "bravo")
    return visitor, visitor_b


# ---- Export ---------------------------------------------------------------------------------


def test_export_holds_every_conversation_message_and_note_of_the_visitor_and_nothing_else(
    two_visitors: tuple[Visitor, Visitor],
) -> None:
    visitor, _ = two_visitors
    data = visitor_export(visitor=visitor)
    assert json.loads(json.dumps(data)) == data
    profile = data["visitor"]
    assert profile["email"] == "alpha@example.com"
    assert profile["name"] == "Name alpha"
    assert profile["current_url"] == "https://shop.example/alpha"
    assert profile["user_agent"] == "Browser alpha"
    assert (profile["timezone"], profile["language"]) == ("Europe/Berlin", "de")
    assert profile["created_at"] == visitor.created_at.isoformat()
    # Every field a visitor row has is theirs to see, new ones included (an identity, say).
    # Not a blind index (supportdesk.cryptofields): a keyed token of a field that is exported.
    fields = {f.name for f in Visitor._meta.concrete_fields if not isinstance(f, BlindIndexField)}
    assert fields - {"id", "inbox"} <= set(profile)

    stored = Conversation.objects.filter(visitor=visitor).order_by("created_at", "pk")
    assert [c["id"] for c in data["conversations"]] == [c.pk for c in stored]
    for exported, conversation in zip(data["conversations"], stored, strict=True):
        assert exported["inbox"] == "Acme support"
        assert exported["status"] == conversation.status
        seqs = list(conversation.messages.order_by("seq").values_list("seq", "body"))
        assert [(m["seq"], m["body"]) for m in exported["messages"]] == seqs
    ended = data["conversations"][0]
    assert (ended["status"], ended["rating"], ended["rating_comment"]) == ("ended", 4, "ok alpha")
    assert ended["ended_at"] is not None
    note = next(m for m in ended["messages"] if m["sender_kind"] == "note")
    assert note == {
        **note,
        "internal_note": True,
        "author_agent": "Alice",
        "body": "note about alpha",
    }
    reply = next(m for m in ended["messages"] if m["sender_kind"] == "agent")
    assert (reply["internal_note"], reply["author_agent"]) == (False, "Alice")
    assert data["conversations"][1]["status"] == "waiting"

    assert "bravo" not in json.dumps(data)


# ---- Erasure --------------------------------------------------------------------------------


def test_delete_removes_exactly_the_visitors_rows_and_leaves_another_visitor_intact(
    two_visitors: tuple[Visitor, Visitor],
) -> None:
    visitor, other = two_visitors
    other_export = visitor_export(visitor=other)
    preview = visitor_deletion_preview(visitor=visitor)
    before = row_counts()
    counts = visitor_delete(visitor=visitor)
    after = row_counts()

    assert difference(before, after) == nonzero(counts)
    assert counts == preview
    assert nonzero(counts) == {
        "chat.Visitor": 1,
        "chat.Conversation": 2,
        "chat.Message": 6,  # hello, "Alice joined", reply, note, "Alice ended"; again
        "agents.ReadMark": 1,
        "agents.Activity": 3,  # claim, note, end
        "admin.LogEntry": 3,  # the visitor's, a conversation's and a message's history
    }
    assert not Visitor.objects.filter(pk=visitor.pk).exists()
    assert not LogEntry.objects.filter(object_repr__contains="alpha").exists()
    assert visitor_export(visitor=other) | {"exported_at": None} == other_export | {
        "exported_at": None
    }
    assert LogEntry.objects.filter(object_repr__contains="bravo").count() == 3


def test_delete_keeps_the_agents_own_audit_rows(
    two_visitors: tuple[Visitor, Visitor], agent: Agent
) -> None:
    visitor, _ = two_visitors
    Client().force_login(agent.user)  # logs "Alice logged in": about the agent, not a chat
    own = list(Activity.objects.filter(conversation__isnull=True).values_list("pk", flat=True))
    assert own
    visitor_delete(visitor=visitor)
    assert (
        list(Activity.objects.filter(conversation__isnull=True).values_list("pk", flat=True)) == own
    )


def test_a_rolled_back_erasure_deletes_and_publishes_nothing(
    two_visitors: tuple[Visitor, Visitor], django_capture_on_commit_callbacks
) -> None:
    visitor, _ = two_visitors
    before = row_counts()

    def erase_then_fail() -> None:
        with transaction.atomic():
            visitor_delete(visitor=visitor)
            raise RuntimeError("roll back")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        erase_then_fail()
    assert callbacks == []
    assert row_counts() == before


# ---- Retention ------------------------------------------------------------------------------


def ended_chat(visitor: Visitor, agent: Agent, *, days_ago: float) -> Conversation:
    """A chat that ended `days_ago` days ago (and started a little before)."""
    conversation = send(visitor, f"{days_ago} days ago").conversation
    conversation_end(conversation=conversation, by=agent)
    moment = timezone.now() - timedelta(days=days_ago)
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=moment - timedelta(minutes=5), ended_at=moment
    )
    return conversation


def age(visitor: Visitor, *, days: float) -> None:
    Visitor.objects.filter(pk=visitor.pk).update(
        created_at=timezone.now() - timedelta(days=days), context_updated_at=None
    )


@pytest.fixture
def history(inbox: Inbox, agent: Agent) -> dict[str, Any]:
    """With 30 days' retention: two chats to purge and one to keep of a visitor who stays;
    an old open chat of each kind; visitors who go (only purgeable chats, or none) and stay
    (a recent visit)."""
    regular = visitor_create(inbox=inbox)
    old = [ended_chat(regular, agent, days_ago=90), ended_chat(regular, agent, days_ago=31)]
    recent = ended_chat(regular, agent, days_ago=5)
    waiting = send(visitor_create(inbox=inbox), "still waiting").conversation
    active = send(visitor_create(inbox=inbox), "still talking").conversation
    conversation_claim(conversation=active, agent=agent)
    Conversation.objects.filter(pk__in=[waiting.pk, active.pk]).update(
        created_at=timezone.now() - timedelta(days=400)
    )
    gone_with_chat = visitor_create(inbox=inbox)
    old.append(ended_chat(gone_with_chat, agent, days_ago=60))
    never_wrote = visitor_create(inbox=inbox)
    browsing = visitor_create(inbox=inbox)
    for v in (regular, waiting.visitor, active.visitor, gone_with_chat, never_wrote, browsing):
        age(v, days=100)
    Visitor.objects.filter(pk=browsing.pk).update(context_updated_at=timezone.now())
    return {
        "old": old,
        "kept": [recent, waiting, active],
        "gone_visitors": [gone_with_chat, never_wrote],
        "kept_visitors": [regular, waiting.visitor, active.visitor, browsing],
    }


def test_purge_deletes_only_ended_conversations_older_than_the_cutoff(
    history: dict[str, Any],
) -> None:
    preview = conversations_purge_preview(older_than_days=30)
    before = row_counts()
    counts = conversations_purge(older_than_days=30)
    assert difference(before, row_counts()) == nonzero(counts)
    assert counts == preview
    assert counts["chat.Conversation"] == 3
    assert counts["chat.Visitor"] == 2
    assert not Conversation.objects.filter(pk__in=[c.pk for c in history["old"]]).exists()
    assert set(Conversation.objects.values_list("pk", flat=True)) == {c.pk for c in history["kept"]}
    assert set(Visitor.objects.values_list("pk", flat=True)) == {
        v.pk for v in history["kept_visitors"]
    }
    # Nothing is left to purge: a second run deletes nothing.
    assert not any(conversations_purge(older_than_days=30).values())


def test_purge_works_in_batches(inbox: Inbox, agent: Agent) -> None:
    visitor = visitor_create(inbox=inbox)
    for days in range(44, 39, -1):  # oldest first, as they happened
        ended_chat(visitor, agent, days_ago=days)
    with CaptureQueriesContext(connection) as queries:
        counts = conversations_purge(older_than_days=30, batch_size=2)
    assert counts["chat.Conversation"] == 5
    assert not Conversation.objects.exists()
    deletes = [q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "chat_conversation"')]
    assert len(deletes) == 3  # 2 + 2 + 1


@pytest.mark.parametrize("days", [0, -1])
def test_purge_refuses_a_retention_under_one_day(history: dict[str, Any], days: int) -> None:
    before = row_counts()
    with pytest.raises(ValueError, match="at least 1"):
        conversations_purge(older_than_days=days)
    with pytest.raises(ValueError, match="at least 1"):
        conversations_purge_preview(older_than_days=days)
    assert row_counts() == before


def test_read_marks_of_purged_chats_go_with_them(inbox: Inbox, agent: Agent) -> None:
    conversation = ended_chat(visitor_create(inbox=inbox), agent, days_ago=40)
    read_mark(agent=agent, conversation_id=conversation.pk, seq=1)
    assert conversations_purge(older_than_days=30)["agents.ReadMark"] == 1
    assert not ReadMark.objects.exists()


# ---- Live clients ---------------------------------------------------------------------------


async def closed_with(communicator: Any) -> int:
    """The socket's close code, passing over whatever it was sent before."""
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output["code"]


@pytest.mark.django_db(transaction=True)
async def test_erasure_clears_the_dashboards_and_closes_the_visitors_widget(
    agent: Agent, visitor: Visitor, visitor_b: Visitor
) -> None:
    erased = (await sockets.send(visitor, "erase me")).conversation_id
    kept = (await sockets.send(visitor_b, "keep me")).conversation_id
    watcher = await sockets.agent_socket(agent)  # shows both rows
    reader = await sockets.agent_socket(agent)  # has the erased chat open in the pane
    await reader.send_json_to({"type": "resume", "conversation": erased, "after": 0})
    await sockets.frames_until(reader, "synced")
    await reader.receive_json_from(timeout=5)  # the pane's state
    widget = await sockets.connect_visitor(visitor)

    await database_sync_to_async(visitor_delete)(visitor=visitor)

    for dashboard in (watcher, reader):
        lists = await dashboard.receive_json_from(timeout=5)
        assert 'id="lists"' in lists["html"]
        assert f'id="conv-row-{erased}"' not in lists["html"]
        assert f'id="conv-row-{kept}"' in lists["html"]
    pane = await reader.receive_json_from(timeout=5)
    assert 'id="workspace"' in pane["html"]
    assert "This conversation was deleted." in pane["html"]
    assert await watcher.receive_nothing()  # its pane showed something else: left alone
    assert await closed_with(widget) == 4401  # the widget drops its token, starts afresh
    await watcher.disconnect()
    await reader.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_purged_chats_leave_the_dashboards_recently_ended_list(
    agent: Agent, inbox: Inbox
) -> None:
    old = await database_sync_to_async(ended_chat)(
        await database_sync_to_async(visitor_create)(inbox=inbox), agent, days_ago=40
    )
    dashboard = await sockets.agent_socket(agent)  # a quiet desk: the old chat is on show
    await database_sync_to_async(conversations_purge)(older_than_days=30)
    lists = await dashboard.receive_json_from(timeout=5)
    assert 'id="lists"' in lists["html"]
    assert f'id="conv-row-{old.pk}"' not in lists["html"]
    await dashboard.disconnect()


# ---- Admin ----------------------------------------------------------------------------------


def export_url(visitor: Visitor) -> str:
    return reverse("admin:chat_visitor_export", args=[visitor.pk])


def erase_url(visitor: Visitor) -> str:
    return reverse("admin:chat_visitor_erase", args=[visitor.pk])


def staff_client(*permissions: str) -> Client:
    user = get_user_model().objects.create_user(username="staff", password="x", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(db: None) -> Client:
    user = get_user_model().objects.create_superuser(username="root", password="x", email="")
    client = Client()
    client.force_login(user)
    return client


def test_superuser_downloads_a_visitors_data_as_json_in_a_zip(
    superuser_client: Client, two_visitors: tuple[Visitor, Visitor]
) -> None:
    visitor, _ = two_visitors
    response = superuser_client.get(export_url(visitor))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="visitor-{visitor.pk}.zip"'
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as zipped:
        assert zipped.namelist() == [f"visitor-{visitor.pk}.json"]  # no files: the JSON alone
        text = zipped.read(f"visitor-{visitor.pk}.json").decode()
    data = json.loads(text)
    assert data["visitor"]["email"] == "alpha@example.com"
    assert len(data["conversations"]) == 2
    assert "bravo" not in text


def test_superuser_sees_the_counts_then_a_post_erases_the_visitor(
    superuser_client: Client, two_visitors: tuple[Visitor, Visitor]
) -> None:
    visitor, other = two_visitors
    page = superuser_client.get(reverse("admin:chat_visitor_change", args=[visitor.pk]))
    assert export_url(visitor) in page.content.decode()
    assert erase_url(visitor) in page.content.decode()
    # Django's own delete link leads to the same confirmation.
    stock = superuser_client.get(reverse("admin:chat_visitor_delete", args=[visitor.pk]))
    assert stock.status_code == 302
    assert stock["Location"] == erase_url(visitor)

    confirm = superuser_client.get(erase_url(visitor))
    assert confirm.status_code == 200
    html = confirm.content.decode()
    for line in ("1 visitor", "2 conversations", "1 read mark", "3 activities", "3 log entries"):
        assert f"<li>{line}</li>" in html
    assert Visitor.objects.filter(pk=visitor.pk).exists()  # a GET deletes nothing

    done = superuser_client.post(erase_url(visitor))
    assert done.status_code == 302
    assert done["Location"] == reverse("admin:chat_visitor_changelist")
    assert not Visitor.objects.filter(pk=visitor.pk).exists()
    assert Visitor.objects.filter(pk=other.pk).exists()
    entry = LogEntry.objects.get(action_flag=DELETION)
    assert entry.object_repr == f"Visitor #{visitor.pk}"
    assert "2 conversations" in entry.change_message
    assert not LogEntry.objects.filter(object_repr__contains="alpha").exists()


def test_the_visitor_list_offers_no_bulk_delete(superuser_client: Client, visitor: Visitor) -> None:
    page = superuser_client.get(reverse("admin:chat_visitor_changelist"))
    assert page.status_code == 200
    assert 'value="delete_selected"' not in page.content.decode()


def test_an_unknown_visitor_is_404(superuser_client: Client, db: None) -> None:
    assert superuser_client.get("/admin/chat/visitor/999999/export/").status_code == 404
    assert superuser_client.post("/admin/chat/visitor/999999/erase/").status_code == 404


def test_staff_without_permissions_get_403_and_delete_nothing(
    two_visitors: tuple[Visitor, Visitor],
) -> None:
    visitor, _ = two_visitors
    client = staff_client()
    assert client.get(export_url(visitor)).status_code == 403
    assert client.get(erase_url(visitor)).status_code == 403
    assert client.post(erase_url(visitor)).status_code == 403
    assert Visitor.objects.filter(pk=visitor.pk).exists()


def test_the_view_permission_exports_but_does_not_delete(
    two_visitors: tuple[Visitor, Visitor],
) -> None:
    visitor, _ = two_visitors
    client = staff_client("view_visitor")
    assert client.get(export_url(visitor)).status_code == 200
    assert (
        erase_url(visitor)
        not in client.get(reverse("admin:chat_visitor_change", args=[visitor.pk])).content.decode()
    )
    assert client.post(erase_url(visitor)).status_code == 403
    assert Visitor.objects.filter(pk=visitor.pk).exists()


def test_anonymous_requests_go_to_the_admin_login(two_visitors: tuple[Visitor, Visitor]) -> None:
    visitor, _ = two_visitors
    client = Client()
    for response in (client.get(export_url(visitor)), client.post(erase_url(visitor))):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert Visitor.objects.filter(pk=visitor.pk).exists()


# ---- The command, the setting, housekeeping -------------------------------------------------


def test_the_command_dry_run_counts_and_deletes_nothing(history: dict[str, Any]) -> None:
    before = row_counts()
    out = io.StringIO()
    call_command("purge_conversations", "--days", "30", "--dry-run", stdout=out)
    assert row_counts() == before
    assert "dry run" in out.getvalue()
    assert "Would delete: 2 visitors, 3 conversations, 6 messages, 3 activities" in out.getvalue()


def test_the_command_uses_the_setting_and_says_what_it_deleted(
    history: dict[str, Any], settings
) -> None:
    settings.SUPPORTDESK_RETENTION_DAYS = 30
    out = io.StringIO()
    call_command("purge_conversations", stdout=out)
    assert "Retention 30 days" in out.getvalue()
    assert "Deleted: 2 visitors, 3 conversations" in out.getvalue()
    assert not Conversation.objects.filter(pk__in=[c.pk for c in history["old"]]).exists()


def test_the_command_without_days_or_setting_says_retention_is_not_configured(
    history: dict[str, Any], settings
) -> None:
    settings.SUPPORTDESK_RETENTION_DAYS = None
    before = row_counts()
    with pytest.raises(CommandError, match="No retention is configured"):
        call_command("purge_conversations")
    with pytest.raises(CommandError, match="at least 1"):
        call_command("purge_conversations", "--days", "0")
    assert row_counts() == before


def test_the_setting_is_a_positive_number_of_days_or_empty(monkeypatch) -> None:
    name = "SUPPORTDESK_RETENTION_DAYS"
    monkeypatch.delenv(name, raising=False)
    assert env_days(name) is None
    for raw, days in (("", None), (" 90 ", 90)):
        monkeypatch.setenv(name, raw)
        assert env_days(name) == days
    for raw in ("0", "-5", "thirty"):
        monkeypatch.setenv(name, raw)
        with pytest.raises(ImproperlyConfigured):
            env_days(name)


def test_housekeeping_purges_at_most_once_an_hour_when_retention_is_set(
    history: dict[str, Any], inbox: Inbox, agent: Agent, settings, monkeypatch
) -> None:
    monkeypatch.setattr(housekeeping, "_last_run", 0.0)
    monkeypatch.setattr(housekeeping, "_last_purge", None)
    settings.SUPPORTDESK_RETENTION_DAYS = None
    assert housekeeping.retention_purge_if_due() is None
    settings.SUPPORTDESK_RETENTION_DAYS = 30
    housekeeping.housekeeping_if_due()  # the heartbeat-driven path
    assert not Conversation.objects.filter(pk__in=[c.pk for c in history["old"]]).exists()
    later = ended_chat(visitor_create(inbox=inbox), agent, days_ago=50)
    assert housekeeping.retention_purge_if_due() is None  # within the hour
    assert Conversation.objects.filter(pk=later.pk).exists()
    monkeypatch.setattr(
        housekeeping, "_last_purge", housekeeping._last_purge - housekeeping.PURGE_INTERVAL_SECONDS
    )
    assert housekeeping.retention_purge_if_due()["chat.Conversation"] == 1
