"""Files in conversations over HTTP (chat.attachments, chat.views, agents.views): upload, send,
who may download, and what a refusal loses (nothing)."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from agents.models import Agent
from agents.selectors import conversation_lists
from chat import attachments
from chat.models import Attachment, Conversation, Message, Visitor
from chat.privacy import visitor_delete
from chat.tokens import visitor_token
from tests.conftest import published_messages

pytestmark = pytest.mark.django_db


def png_bytes(size: tuple[int, int] = (800, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "teal").save(out, "PNG")
    return out.getvalue()


PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def upload(visitor: Visitor, name: str, content: bytes, client: Client | None = None) -> Any:
    return (client or Client()).post(
        reverse("chat:widget_file_upload", args=[visitor.inbox.public_key]),
        {"file": _named(name, content)},
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )


def _named(name: str, content: bytes) -> io.BytesIO:
    handle = io.BytesIO(content)
    handle.name = name
    return handle


def send(visitor: Visitor, body: str, keys: list[str], client_id: str | None = None) -> Any:
    return Client().post(
        reverse("chat:widget_send", args=[visitor.inbox.public_key]),
        {"body": body, "client_id": client_id or str(uuid.uuid4()), "attachments": keys},
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )


def links(html: str) -> list[str]:
    return [
        u.replace("&amp;", "&") for u in re.findall(r'(?:href|src)="([^"]*/files/[^"]*)"', html)
    ]


def logged_in(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


def test_a_visitor_sends_a_screenshot_and_a_pdf_with_text(visitor: Visitor, agent: Agent) -> None:
    shot = upload(visitor, "screenshot.png", png_bytes())
    invoice = upload(visitor, "invoice.pdf", PDF)
    assert shot.status_code == invoice.status_code == 201
    assert shot.json()["image"] is True
    assert shot.json()["thumbnail"]
    assert invoice.json() | {"key": "", "url": ""} == {
        "key": "",
        "url": "",
        "name": "invoice.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
        "size_text": f"{len(PDF)} bytes",
        "image": False,
        "width": None,
        "height": None,
        "thumbnail": None,
    }
    sent = send(visitor, "Here you go", [shot.json()["key"], invoice.json()["key"]])
    assert sent.status_code == 201
    html = sent.content.decode()
    assert 'width="480" height="360"' in html  # the thumbnail's box: the log does not jump
    assert "invoice.pdf" in html
    assert "Here you go" in html
    message = Message.objects.get()
    assert [a.name for a in message.attachments.all()] == ["screenshot.png", "invoice.pdf"]
    # The agent sees both, and downloads them through the dashboard's links.
    conversation = message.conversation
    pane = logged_in(agent).get(reverse("agents:conversation", args=[conversation.pk]))
    agent_links = links(pane.content.decode())
    assert len(agent_links) == 3  # thumbnail, full image, the PDF
    for url in agent_links:
        assert logged_in(agent).get(url).status_code == 200
    pdf = logged_in(agent).get(agent_links[-1])
    assert b"".join(pdf.streaming_content) == PDF
    assert pdf["Content-Disposition"].startswith('attachment; filename="invoice.pdf"')
    assert pdf["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in pdf["Content-Security-Policy"]
    # And the visitor through theirs.
    for url in links(html):
        assert Client().get(url).status_code == 200


def test_an_image_is_shown_inline_everything_else_is_a_download(visitor: Visitor) -> None:
    key = upload(visitor, "shot.png", png_bytes()).json()["key"]
    html = send(visitor, "", [key]).content.decode()
    image = Client().get(links(html)[0])
    assert image["Content-Type"] == "image/png"
    assert image["Content-Disposition"].startswith("inline")


def test_nobody_else_can_fetch_a_file_by_its_url(
    visitor: Visitor, visitor_b: Visitor, agent: Agent, outsider_agent: Agent
) -> None:
    key = upload(visitor, "invoice.pdf", PDF).json()["key"]
    html = send(visitor, "mine", [key]).content.decode()
    (url,) = links(html)
    path = url.split("?")[0]
    assert Client().get(path).status_code == 404  # no pass
    other_pass = attachments.file_pass(visitor_b.pk, visitor_b.token_generation)
    assert Client().get(f"{path}?pass={other_pass}").status_code == 404
    forged = attachments.file_pass(visitor.pk, visitor.token_generation)[:-2] + "xx"
    assert Client().get(f"{path}?pass={forged}").status_code == 404
    agent_url = reverse("agents:file_download", args=[key, "invoice.pdf"])
    assert logged_in(outsider_agent).get(agent_url).status_code == 404
    assert Client().get(agent_url).status_code == 302  # to the login page
    assert logged_in(agent).get(agent_url).status_code == 200


def test_a_signed_out_visitors_links_stop_working(visitor: Visitor) -> None:
    from chat.services import visitor_sessions_revoke

    key = upload(visitor, "invoice.pdf", PDF).json()["key"]
    (url,) = links(send(visitor, "x", [key]).content.decode())
    assert Client().get(url).status_code == 200
    visitor_sessions_revoke(visitor=visitor)
    assert Client().get(url).status_code == 404


@pytest.mark.parametrize("whose", ["forged", "another visitor's", "already sent"])
def test_a_message_naming_a_file_that_is_not_the_senders_is_refused_whole(
    visitor: Visitor, visitor_b: Visitor, whose: str
) -> None:
    if whose == "forged":
        key = "a" * 24
    elif whose == "another visitor's":
        key = upload(visitor_b, "theirs.pdf", PDF).json()["key"]
    else:
        key = upload(visitor, "once.pdf", PDF).json()["key"]
        assert send(visitor, "first", [key]).status_code == 201
    before = Message.objects.count()
    refused = send(visitor, "with a file", [key])
    assert refused.status_code == 422
    assert refused.json()["error"] == "attachment_unknown"
    assert Message.objects.count() == before


def test_too_many_files_in_one_message_are_refused(visitor: Visitor, settings: Any) -> None:
    settings.SUPPORTDESK_UPLOAD_MAX_FILES = 2
    keys = [upload(visitor, f"{n}.txt", b"text\n").json()["key"] for n in range(3)]
    refused = send(visitor, "", keys)
    assert refused.status_code == 422
    assert refused.json()["error"] == "too_many_files"
    assert send(visitor, "", keys[:2]).status_code == 201


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("empty.pdf", b"", 422, "empty_file"),
        ("invoice.png", b"MZ" + b"\x00" * 100, 422, "file_type"),
        ("photo.pdf", png_bytes((10, 10)), 422, "file_mismatch"),
        ("big.txt", b"a" * 2048, 413, "file_too_large"),
    ],
)
def test_a_refused_upload_says_which_and_why_and_stores_nothing(
    visitor: Visitor, settings: Any, name: str, content: bytes, status: int, code: str
) -> None:
    settings.SUPPORTDESK_UPLOAD_MAX_BYTES = 1024
    refused = upload(visitor, name, content)
    assert refused.status_code == status
    assert refused.json()["error"] == code
    assert name in refused.json()["message"] or code == "file_too_large"
    assert not Attachment.objects.exists()


def test_a_body_far_larger_than_a_file_may_be_is_refused_before_it_is_read(
    visitor: Visitor, settings: Any
) -> None:
    settings.SUPPORTDESK_UPLOAD_MAX_BYTES = 1024
    refused = upload(visitor, "huge.txt", b"a" * 200_000)
    assert refused.status_code == 413
    assert "1 KB" in refused.json()["message"]


def test_an_interrupted_upload_is_a_clear_error(visitor: Visitor) -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="cut.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n%PDF-1.7 and then the network went"
    )
    response = Client().generic(
        "POST",
        reverse("chat:widget_file_upload", args=[visitor.inbox.public_key]),
        body,
        content_type="multipart/form-data; boundary=XyZ",
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    assert response.status_code == 400
    assert not Attachment.objects.exists()


def test_an_upload_without_a_valid_token_is_refused(visitor: Visitor) -> None:
    response = Client().post(
        reverse("chat:widget_file_upload", args=[visitor.inbox.public_key]),
        {"file": _named("a.txt", b"hi\n")},
        headers={"X-Visitor-Token": "forged"},
    )
    assert response.status_code == 401
    assert not Attachment.objects.exists()


def test_uploads_are_rate_limited_per_visitor(visitor: Visitor, settings: Any) -> None:
    settings.SUPPORTDESK_RATE_LIMITS = {
        **settings.SUPPORTDESK_RATE_LIMITS,
        "visitor_uploads": "2/60",
    }
    statuses = [upload(visitor, f"{n}.txt", b"hi\n").status_code for n in range(3)]
    assert statuses == [201, 201, 429]


def test_a_cancelled_upload_is_gone_with_its_file(
    visitor: Visitor, visitor_b: Visitor, django_capture_on_commit_callbacks: Any
) -> None:
    key = upload(visitor, "oops.pdf", PDF).json()["key"]
    stored = Attachment.objects.get(key=key).file.name
    assert default_storage.exists(stored)

    def discard(who: Visitor) -> int:
        return (
            Client()
            .post(
                reverse("chat:widget_file_discard", args=[who.inbox.public_key, key]),
                headers={"X-Visitor-Token": visitor_token(who)},
            )
            .status_code
        )

    assert discard(visitor_b) == 404  # not theirs
    with django_capture_on_commit_callbacks(execute=True):
        assert discard(visitor) == 204
    assert not Attachment.objects.exists()
    assert not default_storage.exists(stored)


def test_a_file_only_message_previews_as_its_name(
    visitor: Visitor, agent: Agent, django_capture_on_commit_callbacks: Any
) -> None:
    key = upload(visitor, "invoice.pdf", PDF).json()["key"]
    with django_capture_on_commit_callbacks() as callbacks:
        assert send(visitor, "", [key]).status_code == 201
    (event,) = published_messages(callbacks)
    assert event["conversation"]["preview"] == "📎 invoice.pdf"
    assert event["message"]["attachments"][0]["name"] == "invoice.pdf"
    (row,) = conversation_lists(agent=agent)["waiting"]
    assert row["preview"] == "📎 invoice.pdf"


def test_an_agent_sends_a_file_back_and_a_note_with_a_file_stays_internal(
    visitor: Visitor, agent: Agent
) -> None:
    send(visitor, "Need the form", [])
    conversation = Conversation.objects.get()
    client = logged_in(agent)
    client.post(reverse("agents:claim", args=[conversation.pk]))

    def agent_upload(name: str, content: bytes) -> str:
        response = client.post(
            reverse("agents:file_upload", args=[conversation.pk]), {"file": _named(name, content)}
        )
        assert response.status_code == 201, response.content
        return response.json()["key"]

    form = agent_upload("form.pdf", PDF)
    reply = client.post(
        reverse("agents:reply", args=[conversation.pk]),
        {"body": "", "client_id": str(uuid.uuid4()), "attachments": [form]},
    )
    assert reply.status_code == 201
    secret = agent_upload("internal.pdf", PDF)
    note = client.post(
        reverse("agents:note", args=[conversation.pk]),
        {"body": "fraud check", "client_id": str(uuid.uuid4()), "attachments": [secret]},
    )
    assert note.status_code == 201
    widget = Client().get(
        reverse("chat:widget_conversation", args=[visitor.inbox.public_key]),
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    html = widget.content.decode()
    assert "form.pdf" in html
    assert "internal.pdf" not in html
    (form_url,) = links(html)
    assert Client().get(form_url).status_code == 200
    # The note's file, even with the visitor's own pass, is not theirs to fetch.
    pass_ = form_url.split("pass=")[1]
    note_url = reverse("chat:file_download", args=[secret, "internal.pdf"]) + f"?pass={pass_}"
    assert Client().get(note_url).status_code == 404


def test_an_agent_cannot_upload_into_another_inboxs_conversation(
    visitor: Visitor, outsider_agent: Agent
) -> None:
    send(visitor, "hello", [])
    conversation = Conversation.objects.get()
    response = logged_in(outsider_agent).post(
        reverse("agents:file_upload", args=[conversation.pk]), {"file": _named("x.pdf", PDF)}
    )
    assert response.status_code == 404
    assert not Attachment.objects.exists()


def test_files_go_with_their_visitor_and_orphans_after_a_day(
    visitor: Visitor, visitor_b: Visitor, django_capture_on_commit_callbacks: Any
) -> None:
    sent = upload(visitor, "sent.pdf", PDF).json()["key"]
    send(visitor, "", [sent])
    pending = upload(visitor, "pending.pdf", PDF).json()["key"]
    orphan = upload(visitor_b, "orphan.pdf", PDF).json()["key"]
    names = {a.key: a.file.name for a in Attachment.objects.all()}
    with django_capture_on_commit_callbacks(execute=True):
        visitor_delete(visitor=visitor)
    assert not default_storage.exists(names[sent])
    assert not default_storage.exists(names[pending])
    assert default_storage.exists(names[orphan])
    Attachment.objects.filter(key=orphan).update(created_at=timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert attachments.orphans_purge() == 1
    assert not default_storage.exists(names[orphan])
    assert not Attachment.objects.exists()


def test_message_search_finds_file_names(
    visitor: Visitor, agent: Agent, outsider_agent: Agent
) -> None:
    from agents.search import message_search

    key = upload(visitor, "Invoice_March-2026.pdf", PDF).json()["key"]
    send(visitor, "see attached", [key])
    (hit,) = message_search(agent=agent, query="march invoice")
    assert hit.snippet.startswith("📎 ")
    assert "<mark>Invoice</mark>_<mark>March</mark>-2026.pdf" in hit.snippet
    assert message_search(agent=outsider_agent, query="invoice") == []


def test_a_visitors_export_holds_their_files_in_the_zip(
    visitor: Visitor, visitor_b: Visitor
) -> None:
    from chat.privacy import visitor_export_archive

    sent = upload(visitor, "receipt.pdf", PDF).json()["key"]
    send(visitor, "here", [sent])
    upload(visitor, "draft.txt", b"not sent yet\n")
    upload(visitor_b, "other.pdf", PDF)  # someone else's: not in it
    with zipfile.ZipFile(visitor_export_archive(visitor=visitor)) as zipped:
        names = zipped.namelist()
        data = json.loads(zipped.read(f"visitor-{visitor.pk}.json"))
        (message,) = data["conversations"][0]["messages"]
        (file,) = message["files"]
        assert file["name"] == "receipt.pdf"
        assert zipped.read(file["path"]) == PDF
        (pending,) = data["files_not_sent"]
        assert zipped.read(pending["path"]) == b"not sent yet\n"
    assert sorted(names) == sorted([f"visitor-{visitor.pk}.json", file["path"], pending["path"]])
