"""Encryption at rest (supportdesk.crypto, chat.encryption): what the database holds is
ciphertext when a key is set, every face of the desk shows plaintext, a changed or moved
ciphertext is refused, plaintext rows are encrypted by a resumable sweep, the master key
rotates while the desk writes, and keys that do not fit the database stop the process.

Each test sets its own key (the `key` fixture), so the file passes whether or not the run's
environment has SUPPORTDESK_ENCRYPTION_KEY; the existing suites are run both ways as well.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent
from agents.search import message_search
from agents.services import agent_reply, conversation_claim, note_create
from chat.attachments import attachment_upload
from chat.keymodels import DataKey, EncryptionProgress
from chat.models import Attachment, Conversation, Inbox, Message, Visitor
from chat.services import visitor_create, visitor_message_send, visitor_profile_set
from chat.tokens import visitor_token
from supportdesk import crypto

ROOT = Path(__file__).resolve().parents[2]


def raw(model: type, column: str, pk: int) -> str:
    """A column as stored, past the fields' decryption."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE id = %s",  # noqa: S608
            [pk],
        )
        return cursor.fetchone()[0]


def raw_set(model: type, column: str, pk: int, value: str) -> None:
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {connection.ops.quote_name(column)} = %s WHERE id = %s",  # noqa: S608
            [value, pk],
        )


@pytest.fixture
def key(settings: Any) -> str:
    """Encryption on, with a key of this test's own."""
    crypto.keyring_reset()
    settings.SUPPORTDESK_ENCRYPTION_KEY = crypto.key_generate()
    settings.SUPPORTDESK_ENCRYPTION_OLD_KEYS = []
    return settings.SUPPORTDESK_ENCRYPTION_KEY


@pytest.fixture
def no_key(settings: Any) -> None:
    crypto.keyring_reset()
    settings.SUPPORTDESK_ENCRYPTION_KEY = ""
    settings.SUPPORTDESK_ENCRYPTION_OLD_KEYS = []


def logged_in(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


# --- round trip ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_bodies_notes_names_and_emails_are_stored_encrypted_and_read_back_as_written(
    key: str, visitor: Visitor, agent: Agent
) -> None:
    visitor_profile_set(visitor=visitor, email="Ada@Example.com", name="Ada Lovelace")
    sent = visitor_message_send(
        visitor=visitor, body="My card 4111 is blocked", client_id=uuid.uuid4()
    )
    conversation = sent.message.conversation
    note = note_create(
        conversation=conversation, agent=agent, body="VIP, refund quietly", client_id=uuid.uuid4()
    ).message

    for model, column, pk, plain in [
        (Message, "body", sent.message.pk, "My card 4111 is blocked"),
        (Message, "body", note.pk, "VIP, refund quietly"),
        (Visitor, "name", visitor.pk, "Ada Lovelace"),
        (Visitor, "email", visitor.pk, "Ada@Example.com"),
    ]:
        stored = raw(model, column, pk)
        assert stored.startswith("enc1:"), stored
        assert plain not in stored
        assert "4111" not in stored
        assert model.objects.values_list(column, flat=True).get(pk=pk) == plain
    # Each encryption differs (a random nonce): equal texts do not show as equal rows.
    again = visitor_message_send(
        visitor=visitor, body="My card 4111 is blocked", client_id=uuid.uuid4()
    )
    assert raw(Message, "body", again.message.pk) != raw(Message, "body", sent.message.pk)
    # One data key and one index key, wrapped by this key: none stored in the clear.
    keys = list(DataKey.objects.order_by("pk"))
    assert [k.purpose for k in keys] == ["data", "index"]
    assert {k.master_id for k in keys} == {crypto.key_id(crypto.key_parse(key))}


@pytest.mark.django_db
def test_without_a_key_nothing_changes(no_key: None, visitor: Visitor) -> None:
    visitor_profile_set(visitor=visitor, email="bo@example.com", name="Bo")
    sent = visitor_message_send(visitor=visitor, body="plain as before", client_id=uuid.uuid4())
    assert raw(Message, "body", sent.message.pk) == "plain as before"
    assert raw(Message, "body_tokens", sent.message.pk) == ""
    assert raw(Visitor, "email", visitor.pk) == "bo@example.com"
    assert not DataKey.objects.exists()
    # A visitor may type what looks like a ciphertext: without a key it is their text.
    odd = visitor_message_send(visitor=visitor, body="enc1:1:AAAA", client_id=uuid.uuid4())
    assert Message.objects.get(pk=odd.message.pk).body == "enc1:1:AAAA"


@pytest.mark.django_db
def test_the_fast_path_stores_and_answers_like_the_orm(
    key: str, visitor: Visitor, agent: Agent
) -> None:
    """chat.posting writes the body with SQL of its own: encrypted too, with its index, and
    the visitor's name it reads back with RETURNING decrypted in the event."""
    visitor_profile_set(visitor=visitor, email=None, name="Grace")
    first = visitor_message_send(visitor=visitor, body="Hello", client_id=uuid.uuid4())
    conversation_claim(conversation=first.message.conversation, agent=agent)
    response = Client().post(
        reverse("chat:widget_send", args=[visitor.inbox.public_key]),
        {"body": "second thought", "client_id": str(uuid.uuid4())},
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    assert response.status_code in (200, 201), response.content
    stored = Message.objects.order_by("-pk").first()
    assert stored.body == "second thought"
    assert raw(Message, "body", stored.pk).startswith("enc1:")
    assert raw(Message, "body_tokens", stored.pk).count(" ") == 3  # two words, padded
    assert "Grace" in response.content.decode() or stored.conversation.visitor.name == "Grace"


# --- refused ciphertexts -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_changed_ciphertext_is_refused_with_a_clear_error(key: str, visitor: Visitor) -> None:
    sent = visitor_message_send(visitor=visitor, body="the original words", client_id=uuid.uuid4())
    stored = raw(Message, "body", sent.message.pk)
    prefix, dek, data = stored.split(":")
    flipped = data[:10] + ("A" if data[10] != "A" else "B") + data[11:]
    raw_set(Message, "body", sent.message.pk, f"{prefix}:{dek}:{flipped}")
    with pytest.raises(crypto.Tampered, match=r"chat\.Message\.body: the ciphertext does not"):
        Message.objects.get(pk=sent.message.pk)
    raw_set(Message, "body", sent.message.pk, stored[:-6])  # truncated
    with pytest.raises(crypto.Tampered):
        Message.objects.get(pk=sent.message.pk)


@pytest.mark.django_db
def test_a_ciphertext_moved_to_another_column_is_refused(key: str, visitor: Visitor) -> None:
    """The column's name is the associated data: a body pasted into a visitor's name (to show
    a note to whoever sees names) does not authenticate there."""
    visitor_profile_set(visitor=visitor, email=None, name="Eve")
    sent = visitor_message_send(visitor=visitor, body="secret note text", client_id=uuid.uuid4())
    raw_set(Visitor, "name", visitor.pk, raw(Message, "body", sent.message.pk))
    with pytest.raises(crypto.Tampered, match=r"chat\.Visitor\.name"):
        Visitor.objects.get(pk=visitor.pk)


@pytest.mark.django_db
def test_a_ciphertext_naming_an_unknown_data_key_is_refused(key: str, visitor: Visitor) -> None:
    sent = visitor_message_send(visitor=visitor, body="words", client_id=uuid.uuid4())
    _, _, data = raw(Message, "body", sent.message.pk).split(":")
    raw_set(Message, "body", sent.message.pk, f"enc1:999999:{data}")
    with pytest.raises(crypto.Tampered, match="data key 999999, which does not exist"):
        Message.objects.get(pk=sent.message.pk)


@pytest.mark.django_db
def test_sql_cannot_search_an_encrypted_column_and_says_so(key: str, visitor: Visitor) -> None:
    visitor_message_send(visitor=visitor, body="find me", client_id=uuid.uuid4())
    with pytest.raises(FieldError, match=r"chat\.Message\.body is encrypted"):
        list(Message.objects.filter(body__icontains="find"))
    with pytest.raises(FieldError, match=r"chat\.Visitor\.email is encrypted"):
        list(Visitor.objects.filter(email="a@example.com"))
    # An empty value is stored empty: `= ''` still works (mail's "has an address").
    assert Visitor.objects.filter(email="").count() == 1


# --- files ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_attachment_files_are_stored_encrypted_and_downloaded_as_uploaded(
    key: str, visitor: Visitor, agent: Agent
) -> None:
    content = b"invoice 2024: total 99 EUR\n"
    attachment = attachment_upload(
        inbox=visitor.inbox, upload=SimpleUploadedFile("invoice.txt", content), visitor=visitor
    )
    with attachment.file.open("rb") as stored:
        on_disk = stored.read()
    assert on_disk.startswith(b"enc1:")
    assert b"invoice" not in on_disk
    visitor_message_send(
        visitor=visitor, body="", client_id=uuid.uuid4(), attachments=[attachment.key]
    )
    response = logged_in(agent).get(
        reverse("agents:file_download", args=[attachment.key, attachment.name])
    )
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    # Bound to its attachment: the file of another one does not authenticate here.
    other = attachment_upload(
        inbox=visitor.inbox, upload=SimpleUploadedFile("b.txt", b"other file"), visitor=visitor
    )
    with other.file.open("rb") as stored, pytest.raises(crypto.Tampered, match=attachment.key):
        crypto.decrypt_bytes(stored.read(), aad=f"chat.Attachment.file:{attachment.key}")


# --- the desk shows plaintext --------------------------------------------------------------------


@pytest.fixture
def webhook_outbox(settings: Any) -> Iterator[None]:
    """An endpoint's deliveries are queued, never sent (the receiver is nowhere), and this
    process's snapshot of the inboxes with endpoints is forgotten before and after."""
    from webhooks.selectors import active_inboxes_forget

    settings.SUPPORTDESK_WEBHOOKS_SEND_AFTER_COMMIT = False
    active_inboxes_forget()
    yield
    active_inboxes_forget()


@pytest.mark.django_db
def test_every_face_shows_plaintext_with_encryption_on(
    key: str, visitor: Visitor, agent: Agent, webhook_outbox: None
) -> None:
    """The widget's post, the agent's reply and note, the dashboard, the history, the search,
    the REST API, the visitor's data export and the webhooks' payloads."""
    from api.services import api_token_create
    from webhooks.models import WebhookDelivery, WebhookEndpoint

    WebhookEndpoint.objects.create(
        inbox=visitor.inbox, url="https://hooks.example.com/in", include_internal_notes=True
    )
    visitor_profile_set(visitor=visitor, email="zoe@example.com", name="Zoe Quill")
    client = Client()
    posted = client.post(
        reverse("chat:widget_send", args=[visitor.inbox.public_key]),
        {"body": "Parcel ZX-81 never arrived", "client_id": str(uuid.uuid4())},
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    assert posted.status_code in (200, 201)
    conversation = Conversation.objects.get(visitor=visitor)
    agent_client = logged_in(agent)
    replied = agent_client.post(
        reverse("agents:reply", args=[conversation.pk]),
        {"body": "Sending a new parcel today", "client_id": str(uuid.uuid4())},
    )
    assert replied.status_code in (200, 201)
    note_create(
        conversation=conversation, agent=agent, body="Courier lost three", client_id=uuid.uuid4()
    )
    texts = ["Parcel ZX-81 never arrived", "Sending a new parcel today", "Courier lost three"]
    assert all(raw(Message, "body", m.pk).startswith("enc1:") for m in conversation.messages.all())

    pages = {
        "dashboard": agent_client.get(reverse("agents:dashboard")).content.decode(),
        "conversation": agent_client.get(
            reverse("agents:conversation", args=[conversation.pk])
        ).content.decode(),
        "history": agent_client.get(
            reverse("agents:history", args=[conversation.pk])
        ).content.decode(),
        "search": agent_client.get(reverse("agents:search"), {"q": "parcel"}).content.decode(),
    }
    for name, page in pages.items():
        assert "enc1:" not in page, name
    assert "Zoe Quill" in pages["dashboard"]
    assert "Sending a new parcel today" in pages["dashboard"]  # the list row's preview
    for text in texts:
        assert text in pages["conversation"]
    assert "Courier lost three" in pages["conversation"]
    assert "never arrived" in pages["search"]
    assert "new parcel" in pages["search"]

    token = api_token_create(agent=agent, name="test", scopes=["read"]).plaintext
    api = Client(headers={"Authorization": f"Bearer {token}"})
    listed = api.get(reverse("api:messages", args=[conversation.pk])).json()
    bodies = [m["body"] for m in listed["results"]] if "results" in listed else listed
    assert "Parcel ZX-81 never arrived" in json.dumps(bodies)
    found = api.get(reverse("api:visitors"), {"email": "zoe@example.com"}).json()
    assert [v["name"] for v in found["results"]] == ["Zoe Quill"]
    assert api.get(reverse("api:visitors"), {"email": "ZOE@example.com"}).json()["results"] == []

    export = json.dumps(_visitor_export(visitor))
    assert "zoe@example.com" in export
    assert "Courier lost three" in export
    assert "enc1:" not in export

    payloads = json.dumps([d.payload for d in WebhookDelivery.objects.all()])
    assert "Parcel ZX-81 never arrived" in payloads
    assert "enc1:" not in payloads
    # The outbox's copies are ciphertext in the database, as the messages are.
    for delivery in WebhookDelivery.objects.all():
        stored = raw(WebhookDelivery, "payload", delivery.pk)
        assert stored.startswith("enc1:"), stored
        assert "Parcel ZX-81" not in stored
        assert "Zoe Quill" not in stored


@pytest.mark.django_db
def test_a_queued_emails_copies_of_messages_are_encrypted_and_swept(
    key: str, visitor: Visitor, agent: Agent
) -> None:
    from chat.encryption import columns_sweep
    from mail.models import OutboundEmail

    sent = visitor_message_send(visitor=visitor, body="hi", client_id=uuid.uuid4())
    email = OutboundEmail.objects.create(
        kind=OutboundEmail.Kind.values[0],
        conversation=sent.message.conversation,
        to="zoe@example.com",
        subject="Your chat",
        text="Parcel ZX-81 never arrived",
        html="<p>Parcel ZX-81 never arrived</p>",
        dedupe_key="t-1",
        message_id="<t-1@desk>",
        next_attempt_at=timezone.now(),
        inbox=visitor.inbox,
    )
    for column in ("text", "html"):
        stored = raw(OutboundEmail, column, email.pk)
        assert stored.startswith("enc1:")
        assert "Parcel ZX-81" not in stored
    email.refresh_from_db()
    assert email.text == "Parcel ZX-81 never arrived"
    # A copy written before the key (plaintext) is encrypted by the rotation's sweep.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE mail_outboundemail SET text = %s", ["written before the key"])
    result = columns_sweep(label="mail.OutboundEmail")
    assert result.changed == 1
    assert raw(OutboundEmail, "text", email.pk).startswith("enc1:")
    assert OutboundEmail.objects.get().text == "written before the key"


def _visitor_export(visitor: Visitor) -> dict[str, Any]:
    from chat.privacy import visitor_export_archive

    with zipfile.ZipFile(visitor_export_archive(visitor=visitor)) as zipped:
        return json.loads(zipped.read(f"visitor-{visitor.pk}.json"))


# --- search --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_search_finds_whole_words_through_the_blind_index(
    key: str, visitor: Visitor, agent: Agent, other_inbox: Inbox
) -> None:
    first = visitor_message_send(
        visitor=visitor, body="The Invoice for März is wrong", client_id=uuid.uuid4()
    )
    conversation_claim(conversation=first.message.conversation, agent=agent)
    agent_reply(
        conversation=first.message.conversation,
        agent=agent,
        body="I corrected the invoices",
        client_id=uuid.uuid4(),
    )
    stranger = visitor_create(inbox=other_inbox)
    visitor_message_send(visitor=stranger, body="my invoice too", client_id=uuid.uuid4())

    def found(query: str) -> list[str]:
        return [str(hit.snippet) for hit in message_search(agent=agent, query=query)]

    def ids(query: str) -> list[int]:
        return [hit.message_id for hit in message_search(agent=agent, query=query)]

    assert found("invoice") == ["The <mark>Invoice</mark> for März is wrong"]
    assert found("INVOICE märz") == ["The <mark>Invoice</mark> for <mark>März</mark> is wrong"]
    assert ids("invoice MÄRZ") == ids("invoice") == [first.message.pk]
    assert found("invoices") == ["I corrected the <mark>invoices</mark>"]
    assert ids("invoice wrong") == [first.message.pk]  # every word
    assert ids("invoice missing") == []
    assert ids("invo") == []  # no substrings: whole words only
    assert ids("invoice -wrong") == [first.message.pk]  # an exclusion is no word to find
    # The index holds keyed tokens, not words.
    assert "invoice" not in raw(Message, "body_tokens", first.message.pk)


# --- plaintext migration and rotation ------------------------------------------------------------


@pytest.mark.django_db
def test_the_sweep_encrypts_plaintext_rows_and_files_and_resumes_where_it_stopped(
    settings: Any, no_key: None, visitor: Visitor, agent: Agent
) -> None:
    visitor_profile_set(visitor=visitor, email="old@example.com", name="Old Timer")
    messages = [
        visitor_message_send(
            visitor=visitor, body=f"before encryption {i}", client_id=uuid.uuid4()
        ).message
        for i in range(5)
    ]
    attachment = attachment_upload(
        inbox=visitor.inbox, upload=SimpleUploadedFile("old.txt", b"old file"), visitor=visitor
    )
    old_name = attachment.file.name
    settings.SUPPORTDESK_ENCRYPTION_KEY = crypto.key_generate()
    crypto.keyring_reset()
    # Readable before the sweep (plaintext rows are read as they are), not yet searchable.
    assert Message.objects.get(pk=messages[0].pk).body == "before encryption 0"
    assert message_search(agent=agent, query="encryption") == []

    # A run killed after the first two messages left its progress behind: the next run goes on
    # after them (and so leaves them, which a finished run would not).
    EncryptionProgress.objects.create(job="columns:chat.Message", last_pk=messages[1].pk)
    out = io.StringIO()
    call_command("rotate_encryption_key", "--batch-size", "2", stdout=out)
    assert "chat.Message: 3 rows, 3 values encrypted" in out.getvalue()
    assert [raw(Message, "body", m.pk).startswith("enc1:") for m in messages] == [
        False, False, True, True, True
    ]  # fmt: skip
    assert not EncryptionProgress.objects.exists()  # finished: the next run starts afresh

    call_command("rotate_encryption_key", stdout=io.StringIO())
    for m in messages:
        assert raw(Message, "body", m.pk).startswith("enc1:")
        assert raw(Message, "body_tokens", m.pk)
    assert raw(Visitor, "name", visitor.pk).startswith("enc1:")
    assert raw(Visitor, "email", visitor.pk).startswith("enc1:")
    attachment.refresh_from_db()
    assert attachment.file.name != old_name
    assert not attachment.file.storage.exists(old_name)
    with attachment.file.open("rb") as stored:
        assert stored.read().startswith(b"enc1:")
    assert Visitor.objects.get(pk=visitor.pk).email == "old@example.com"
    assert len(message_search(agent=agent, query="encryption")) == 5
    # Nothing left to do: a third run changes nothing.
    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out)
    assert "0 values encrypted" in out.getvalue()
    assert "0 files encrypted" in out.getvalue()


@pytest.mark.django_db
def test_a_new_data_key_re_encrypts_what_the_retired_one_encrypted(
    key: str, visitor: Visitor
) -> None:
    sent = visitor_message_send(visitor=visitor, body="under the first key", client_id=uuid.uuid4())
    first = crypto.dek_of(raw(Message, "body", sent.message.pk))
    call_command("rotate_encryption_key", "--new-data-key", stdout=io.StringIO())
    now = crypto.dek_of(raw(Message, "body", sent.message.pk))
    assert now != first
    assert DataKey.objects.get(pk=first).retired
    assert Message.objects.get(pk=sent.message.pk).body == "under the first key"


@pytest.mark.django_db(transaction=True)
def test_rotation_while_messages_are_written_leaves_all_readable_with_the_new_key_alone(
    settings: Any, inbox: Inbox
) -> None:
    old_key, new_key = crypto.key_generate(), crypto.key_generate()
    settings.SUPPORTDESK_ENCRYPTION_KEY = old_key
    settings.SUPPORTDESK_ENCRYPTION_OLD_KEYS = []
    crypto.keyring_reset()
    crypto.startup_check()
    visitors = [visitor_create(inbox=inbox) for _ in range(3)]
    for v in visitors:
        for i in range(20):
            visitor_message_send(visitor=v, body=f"early {v.pk} {i}", client_id=uuid.uuid4())

    # The rotation's deploy: the new key current, the old one still known.
    settings.SUPPORTDESK_ENCRYPTION_KEY = new_key
    settings.SUPPORTDESK_ENCRYPTION_OLD_KEYS = [old_key]
    crypto.keyring_reset()
    stop = threading.Event()
    written: list[str] = []
    errors: list[BaseException] = []

    def write(v: Visitor) -> None:
        try:
            n = 0
            while not stop.is_set():
                body = f"during {v.pk} {n}"
                visitor_message_send(visitor=v, body=body, client_id=uuid.uuid4())
                written.append(body)
                n += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(v,)) for v in visitors]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(written) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        out = io.StringIO()
        call_command("rotate_encryption_key", "--batch-size", "7", stdout=out)
        mid = len(written)
        while len(written) < mid + 10 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not errors, errors
    assert len(written) >= 20

    # The old key gone: everything decrypts with the new one alone.
    settings.SUPPORTDESK_ENCRYPTION_OLD_KEYS = []
    crypto.keyring_reset()
    bodies = set(Message.objects.values_list("body", flat=True))
    assert set(written) <= bodies
    assert len(bodies) == 60 + len(written)
    new_id = crypto.key_id(crypto.key_parse(new_key))
    assert set(DataKey.objects.values_list("master_id", flat=True)) == {new_id}
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM chat_message")
        assert all(row[0].startswith("enc1:") for row in cursor.fetchall())


# --- keys that do not fit ------------------------------------------------------------------------


@pytest.mark.django_db
def test_start_up_refuses_a_database_with_keys_but_no_key(
    settings: Any, key: str, visitor: Visitor
) -> None:
    visitor_message_send(visitor=visitor, body="encrypted", client_id=uuid.uuid4())
    settings.SUPPORTDESK_ENCRYPTION_KEY = ""
    crypto.keyring_reset()
    with pytest.raises(ImproperlyConfigured, match="SUPPORTDESK_ENCRYPTION_KEY is not set"):
        crypto.startup_check()
    # Nor does anything slip through later: no ciphertext shown, no plaintext written.
    with pytest.raises(ImproperlyConfigured):
        Message.objects.get(body__isnull=False)
    with pytest.raises(ImproperlyConfigured):
        visitor_message_send(visitor=visitor, body="plain?", client_id=uuid.uuid4())


@pytest.mark.django_db
def test_start_up_refuses_a_key_that_wraps_none_of_the_keys(
    settings: Any, key: str, visitor: Visitor
) -> None:
    visitor_message_send(visitor=visitor, body="encrypted", client_id=uuid.uuid4())
    settings.SUPPORTDESK_ENCRYPTION_KEY = crypto.key_generate()
    crypto.keyring_reset()
    with pytest.raises(ImproperlyConfigured, match="neither SUPPORTDESK_ENCRYPTION_KEY"):
        crypto.startup_check()
    settings.SUPPORTDESK_ENCRYPTION_KEY = "not-a-key"
    with pytest.raises(ImproperlyConfigured, match="32 bytes in URL-safe base64"):
        crypto.startup_check()


@pytest.mark.django_db(transaction=True)
def test_readyz_names_encryption_when_the_key_is_missing(settings: Any, inbox: Inbox) -> None:
    settings.SUPPORTDESK_ENCRYPTION_KEY = crypto.key_generate()
    crypto.keyring_reset()
    crypto.startup_check()  # makes the keys, committed
    response = Client().get("/readyz")
    assert response.json()["checks"]["encryption"]["status"] == "ok"
    settings.SUPPORTDESK_ENCRYPTION_KEY = ""
    crypto.keyring_reset()
    response = Client().get("/readyz")
    assert response.status_code == 503
    check = response.json()["checks"]["encryption"]
    assert check["ok"] is False
    assert check["error"] == "KeyProblem"


@pytest.mark.django_db(transaction=True)
def test_a_server_process_without_the_key_does_not_start(settings: Any, inbox: Inbox) -> None:
    """The ASGI module (what daphne and uvicorn load) stops with the reason."""
    if connection.vendor != "postgresql":
        pytest.skip("the process must reach the test's database: PostgreSQL")
    key = crypto.key_generate()
    settings.SUPPORTDESK_ENCRYPTION_KEY = key
    crypto.keyring_reset()
    crypto.startup_check()
    env = {**os.environ, "DATABASE_URL": _database_url(), "SUPPORTDESK_ENCRYPTION_KEY": ""}
    started = subprocess.run(
        [sys.executable, "-c", "import supportdesk.asgi"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert started.returncode != 0
    assert "KeyProblem" in started.stderr  # an ImproperlyConfigured
    assert "SUPPORTDESK_ENCRYPTION_KEY is not set" in started.stderr
    env["SUPPORTDESK_ENCRYPTION_KEY"] = key
    started = subprocess.run(
        [sys.executable, "-c", "import supportdesk.asgi"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr


def _database_url() -> str:
    params = connection.settings_dict
    return (
        f"postgres://{params['USER']}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}"
        f"/{params['NAME']}"
    )


def test_generate_encryption_key_prints_a_usable_key() -> None:
    out = io.StringIO()
    call_command("generate_encryption_key", stdout=out)
    printed = out.getvalue().strip()
    assert len(crypto.key_parse(printed)) == 32
    other = io.StringIO()
    call_command("generate_encryption_key", stdout=other)
    assert other.getvalue().strip() != printed


@pytest.mark.django_db
def test_admin_search_leaves_encrypted_fields_out_and_finds_words(
    key: str, visitor: Visitor, admin_client: Client
) -> None:
    visitor_profile_set(visitor=visitor, email="kim@example.com", name="Kim")
    visitor_message_send(visitor=visitor, body="broken hinge", client_id=uuid.uuid4())
    messages = admin_client.get(reverse("admin:chat_message_changelist"), {"q": "hinge"})
    assert messages.status_code == 200
    assert "broken hinge" in messages.content.decode()
    conversations = admin_client.get(reverse("admin:chat_conversation_changelist"), {"q": "hinge"})
    assert conversations.status_code == 200
    assert f">{Conversation.objects.get().pk}<" in conversations.content.decode()
    nothing = admin_client.get(reverse("admin:chat_conversation_changelist"), {"q": "kim"})
    assert nothing.status_code == 200
    assert "0 conversations" in nothing.content.decode()
    visitors = admin_client.get(reverse("admin:chat_visitor_changelist"), {"q": "kim"})
    assert visitors.status_code == 200  # names are not searched: no error either
    page = admin_client.get(reverse("admin:chat_visitor_changelist")).content.decode()
    assert 'class="sortable column-email' not in page  # ordered by ciphertext is no order
    assert 'class="sortable column-created_at' in page
    assert Attachment.objects.count() == 0
