"""Uploaded files on an S3-compatible object store (STORAGES["default"] from S3_*,
supportdesk.env.s3_storage): the same uploads, downloads, deletions and export as on the file
system (tests/chat/test_attachments.py), against a real S3 server: moto's, in a thread of the
test, on a port of its own. The objects are private; every download still streams through the
desk's checking views."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from moto.server import ThreadedMotoServer
from storages.backends.s3 import S3Storage

from agents.models import Agent
from chat import attachments
from chat.attachments import attachment_content
from chat.models import Attachment, Conversation, Visitor
from chat.privacy import conversations_purge, visitor_delete, visitor_export_archive
from supportdesk.env import s3_storage
from supportdesk.handler import ThreadedHandler
from tests.chat.test_attachments import PDF, links, logged_in, png_bytes, send, upload
from tests.test_handler import http_get

BUCKET = "supportdesk-files"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """moto's S3 server with the desk's bucket, on a free port: its endpoint URL."""
    access_log = logging.getLogger("werkzeug")  # a line per request otherwise
    level = access_log.level
    access_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client(endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()
    access_log.setLevel(level)


def client(endpoint: str) -> Any:
    """An S3 client of the bucket's owner (the test's view of the store, not the desk's)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


class Bucket:
    """The desk's files in the bucket, under this test's own prefix."""

    def __init__(self, endpoint: str, prefix: str) -> None:
        self.endpoint, self.prefix, self.client = endpoint, prefix, client(endpoint)
        self.environ = {
            "S3_BUCKET": BUCKET,
            "S3_ENDPOINT_URL": endpoint,
            "S3_REGION": "us-east-1",
            "S3_ACCESS_KEY_ID": "testing",
            "S3_SECRET_ACCESS_KEY": "testing",
            "S3_PREFIX": f"/{prefix}/",  # slashes around it are dropped
            "S3_ADDRESSING_STYLE": "path",
        }

    def keys(self) -> set[str]:
        listed = self.client.list_objects_v2(Bucket=BUCKET, Prefix=f"{self.prefix}/")
        return {item["Key"] for item in listed.get("Contents", [])}

    def key(self, attachment: Attachment, thumbnail: bool = False) -> str:
        return f"{self.prefix}/{(attachment.thumbnail if thumbnail else attachment.file).name}"

    def body(self, key: str) -> bytes:
        return self.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


@pytest.fixture
def bucket(s3_server: str, db: None) -> Bucket:
    return Bucket(s3_server, f"desk-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def on_s3(bucket: Bucket, settings: Any) -> Bucket:
    """STORAGES["default"] as the settings make it from S3_* (restored after the test: the
    settings fixture's override resets Django's storage handler and `default_storage`, the
    LazyObject every FileField holds)."""
    use_s3(bucket, settings)
    return bucket


def use_s3(bucket: Bucket, settings: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage(bucket.environ)}
    field_storage = Attachment._meta.get_field("file").storage  # type: ignore[attr-defined]
    assert field_storage.bucket_name == BUCKET
    assert isinstance(field_storage._wrapped, S3Storage)


def visitor_uploads(visitor: Visitor) -> tuple[Attachment, Attachment, str]:
    """A visitor sends a screenshot and a PDF through the widget's endpoints: the two
    attachments and the HTML of the sent message."""
    shot = upload(visitor, "screenshot.png", png_bytes())
    invoice = upload(visitor, "invoice.pdf", PDF)
    assert shot.status_code == invoice.status_code == 201, shot.content
    sent = send(visitor, "Here you go", [shot.json()["key"], invoice.json()["key"]])
    assert sent.status_code == 201, sent.content
    return (
        Attachment.objects.get(key=shot.json()["key"]),
        Attachment.objects.get(key=invoice.json()["key"]),
        sent.content.decode(),
    )


def anonymous_get(url: str) -> int:
    """The status of a plain GET, with no credentials (and no proxy from the environment)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


# The store -----------------------------------------------------------------------------------


def test_a_visitors_files_are_private_objects_under_the_prefix(
    on_s3: Bucket, visitor: Visitor
) -> None:
    shot, invoice, html = visitor_uploads(visitor)
    objects = {on_s3.key(shot), on_s3.key(shot, thumbnail=True), on_s3.key(invoice)}
    assert on_s3.keys() == objects
    assert on_s3.key(invoice) == f"{on_s3.prefix}/attachments/{invoice.key}/invoice.pdf"
    # As uploaded (decrypted, when encryption at rest is on: docs/SECURITY.md).
    assert attachment_content(invoice, on_s3.body(on_s3.key(invoice))) == PDF
    # Nothing went to the file system, and no page links to the store.
    assert not (Path(django_settings.MEDIA_ROOT) / "attachments" / invoice.key).exists()
    assert on_s3.endpoint not in html
    for key in objects:
        grants = on_s3.client.get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
        assert {g["Grantee"].get("URI") for g in grants}.isdisjoint(
            {ALL_USERS, AUTHENTICATED_USERS}
        )
        url = f"{on_s3.endpoint}/{BUCKET}/{key}"
        assert anonymous_get(url) == 403
    # The same object with a signature is served: the refusal above is the object's privacy,
    # not a wrong address.
    signed = default_storage.url(invoice.file.name)
    assert signed.split("?")[0] == f"{on_s3.endpoint}/{BUCKET}/{on_s3.key(invoice)}"
    assert anonymous_get(signed) == 200


def test_a_name_already_in_the_bucket_is_never_overwritten(on_s3: Bucket) -> None:
    first = default_storage.save("attachments/same/name.txt", ContentFile(b"first\n"))
    second = default_storage.save("attachments/same/name.txt", ContentFile(b"second\n"))
    assert first == "attachments/same/name.txt"
    assert second != first
    assert on_s3.body(f"{on_s3.prefix}/{first}") == b"first\n"
    assert on_s3.body(f"{on_s3.prefix}/{second}") == b"second\n"


def test_an_upload_that_fails_half_way_leaves_nothing_in_the_bucket(
    on_s3: Bucket, visitor: Visitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = default_storage._wrapped
    save = storage._save

    def store_down_for_thumbnails(name: str, content: Any) -> str:
        if "/thumbnail/" in name:
            raise ConnectionError("the store went away")
        return save(name, content)

    monkeypatch.setattr(storage, "_save", store_down_for_thumbnails)
    upload_file = SimpleUploadedFile("screenshot.png", png_bytes(), content_type="image/png")
    with pytest.raises(ConnectionError):
        attachments.attachment_upload(inbox=visitor.inbox, upload=upload_file, visitor=visitor)
    assert not Attachment.objects.exists()
    assert on_s3.keys() == set()


# Downloads -----------------------------------------------------------------------------------


def downloads(visitor: Visitor, agent: Agent) -> dict[str, tuple[dict[str, str], bytes]]:
    """Every download of a sent screenshot and PDF, the visitor's and the agent's: each one's
    headers and the bytes streamed."""
    shot, invoice, html = visitor_uploads(visitor)
    got = {}
    visitor_links = links(html)
    assert len(visitor_links) == 3  # thumbnail, full image, the PDF
    agent_links = [
        reverse("agents:file_thumbnail", args=[shot.key, shot.name]),
        reverse("agents:file_download", args=[shot.key, shot.name]),
        reverse("agents:file_download", args=[invoice.key, invoice.name]),
    ]
    for who, urls, fetch in (
        ("visitor", visitor_links, Client().get),
        ("agent", agent_links, logged_in(agent).get),
    ):
        for what, url in zip(("thumbnail", "image", "pdf"), urls, strict=True):
            response = fetch(url)
            assert response.status_code == 200, (who, what)
            assert response.streaming
            # Read to the end: the test client closes the response (and the S3 file) then.
            headers = {k: v for k, v in response.items() if k != "X-Request-ID"}  # per request
            got[f"{who} {what}"] = (headers, b"".join(response.streaming_content))
    return got


def test_downloads_stream_the_stored_bytes_with_the_same_headers_as_on_the_file_system(
    bucket: Bucket, visitor: Visitor, visitor_b: Visitor, agent: Agent, settings: Any
) -> None:
    on_disk = downloads(visitor, agent)
    use_s3(bucket, settings)
    on_store = downloads(visitor_b, agent)
    assert on_store.keys() == on_disk.keys()
    for name, (headers, body) in on_store.items():
        assert headers == on_disk[name][0], name
        assert headers["Content-Length"] == str(len(body)), name
        assert body == on_disk[name][1], name  # the same upload re-encoded the same way
    shot, invoice = Attachment.objects.filter(visitor=visitor_b).order_by("position")
    stored = attachment_content(invoice, bucket.body(bucket.key(invoice)))  # decrypted if need be
    assert on_store["agent pdf"][1] == PDF == stored
    assert on_store["agent image"][1] == attachment_content(shot, bucket.body(bucket.key(shot)))
    thumbnail = bucket.body(bucket.key(shot, thumbnail=True))
    assert on_store["agent thumbnail"][1] == attachment_content(shot, thumbnail, thumbnail=True)
    pdf_headers = on_store["agent pdf"][0]
    assert pdf_headers["Content-Disposition"].startswith('attachment; filename="invoice.pdf"')
    assert pdf_headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in pdf_headers["Content-Security-Policy"]
    assert on_store["visitor image"][0]["Content-Disposition"].startswith("inline")


async def served_by(handler: ThreadedHandler, url: str) -> tuple[dict[bytes, bytes], list[bytes]]:
    """The response's headers and the body messages, as the server sends them."""
    request = ApplicationCommunicator(handler, http_get(url))
    await request.send_input({"type": "http.request", "body": b""})
    start = await request.receive_output(10)
    assert start["status"] == 200
    parts = []
    while True:
        message = await request.receive_output(10)
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            await request.wait(10)  # the server closes the file and ends the request
            return dict(start["headers"]), parts


@pytest.mark.django_db(transaction=True)  # the server's threads read the rows themselves
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_the_server_streams_a_file_from_the_bucket_in_chunks_with_its_length(
    on_s3: Bucket, visitor: Visitor
) -> None:
    # Past the server's chunk (64 KB), so it takes several body messages.
    big = PDF + b"%" + b"padding " * 40_000 + b"\n%%EOF\n"
    key = upload(visitor, "manual.pdf", big).json()["key"]
    (url,) = links(send(visitor, "the manual", [key]).content.decode())
    handler = ThreadedHandler()  # the desk's own HTTP path (supportdesk.asgi), in its threads
    try:
        headers, parts = asyncio.run(served_by(handler, url))
    finally:
        handler.threads.shutdown()
    assert b"".join(parts) == big
    assert headers[b"Content-Length"] == str(len(big)).encode()
    assert headers[b"Content-Disposition"].startswith(b'attachment; filename="manual.pdf"')
    assert len([part for part in parts if part]) > 1


def test_a_file_missing_from_the_bucket_is_a_404(on_s3: Bucket, visitor: Visitor) -> None:
    _, invoice, html = visitor_uploads(visitor)
    on_s3.client.delete_object(Bucket=BUCKET, Key=on_s3.key(invoice))
    thumbnail, _, pdf = links(html)
    assert Client().get(pdf).status_code == 404
    assert Client().get(thumbnail).status_code == 200


# Deletion ------------------------------------------------------------------------------------


def test_erasing_a_visitor_removes_their_objects_once_it_commits(
    on_s3: Bucket, visitor: Visitor, visitor_b: Visitor, django_capture_on_commit_callbacks: Any
) -> None:
    shot, invoice, _ = visitor_uploads(visitor)
    pending = upload(visitor, "draft.txt", b"not sent yet\n").json()["key"]
    orphan = upload(visitor_b, "orphan.pdf", PDF).json()["key"]
    theirs = {on_s3.key(shot), on_s3.key(shot, thumbnail=True), on_s3.key(invoice)}
    theirs.add(on_s3.key(Attachment.objects.get(key=pending)))
    others = {on_s3.key(Attachment.objects.get(key=orphan))}
    assert on_s3.keys() == theirs | others
    with django_capture_on_commit_callbacks() as callbacks:
        visitor_delete(visitor=visitor)
    assert on_s3.keys() == theirs | others  # not before the deletion commits
    for callback in callbacks:
        callback()
    assert on_s3.keys() == others


def test_the_retention_purge_removes_an_old_conversations_objects(
    on_s3: Bucket, visitor: Visitor, django_capture_on_commit_callbacks: Any
) -> None:
    visitor_uploads(visitor)
    assert len(on_s3.keys()) == 3
    Conversation.objects.update(
        status=Conversation.Status.ENDED, ended_at=timezone.now() - timedelta(days=40)
    )
    with django_capture_on_commit_callbacks(execute=True):
        counts = conversations_purge(older_than_days=30)
    assert counts["chat.Attachment"] == 2
    assert on_s3.keys() == set()


def test_the_orphan_purge_removes_old_pending_uploads_objects(
    on_s3: Bucket, visitor: Visitor, django_capture_on_commit_callbacks: Any
) -> None:
    old = upload(visitor, "old.pdf", PDF).json()["key"]
    fresh = upload(visitor, "fresh.pdf", PDF).json()["key"]
    Attachment.objects.filter(key=old).update(created_at=timezone.now() - timedelta(days=2))
    kept = on_s3.key(Attachment.objects.get(key=fresh))
    with django_capture_on_commit_callbacks(execute=True):
        assert attachments.orphans_purge() == 1
    assert on_s3.keys() == {kept}


# Export --------------------------------------------------------------------------------------


def test_a_visitors_export_zip_holds_the_files_bytes_from_the_bucket(
    on_s3: Bucket, visitor: Visitor
) -> None:
    shot, invoice, _ = visitor_uploads(visitor)
    with zipfile.ZipFile(visitor_export_archive(visitor=visitor)) as zipped:
        assert zipped.read(f"files/{invoice.key}/invoice.pdf") == PDF
        stored = attachment_content(shot, on_s3.body(on_s3.key(shot)))  # decrypted if need be
        assert zipped.read(f"files/{shot.key}/screenshot.png") == stored
        assert len(zipped.namelist()) == 3  # the JSON and the two files


# Settings from the environment ---------------------------------------------------------------


def test_without_s3_bucket_files_stay_on_the_file_system() -> None:
    assert s3_storage({}) is None
    assert s3_storage({"S3_BUCKET": "  ", "MEDIA_ROOT": "/srv/media"}) is None


def test_s3_variables_become_the_storages_options() -> None:
    storage = s3_storage(
        {
            "S3_BUCKET": "desk-files",
            "S3_ENDPOINT_URL": "https://minio.internal:9000",
            "S3_REGION": "eu-central-1",
            "S3_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "S3_SECRET_ACCESS_KEY": "wJalrXUtnFEMI",
            "S3_PREFIX": "desk/uploads/",
            "S3_ADDRESSING_STYLE": "Path",
        }
    )
    assert storage is not None
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    options = dict(storage["OPTIONS"])
    config = options.pop("client_config")
    assert options == {
        "bucket_name": "desk-files",
        "endpoint_url": "https://minio.internal:9000",
        "region_name": "eu-central-1",
        "access_key": "AKIDEXAMPLE",
        "secret_key": "wJalrXUtnFEMI",
        "location": "desk/uploads",
        "default_acl": None,
        "file_overwrite": False,
        "querystring_auth": True,
    }
    assert config.s3 == {"addressing_style": "path"}
    assert config.connect_timeout == 5
    # Another store than AWS: no CRC checksums it may refuse.
    assert config.request_checksum_calculation == "when_required"
    # django-storages takes every option (an unknown one is ImproperlyConfigured).
    built = S3Storage(**storage["OPTIONS"])
    assert (built.bucket_name, built.location, built.default_acl) == (
        "desk-files",
        "desk/uploads",
        None,
    )


def test_on_aws_with_an_instance_role_only_the_bucket_is_needed() -> None:
    storage = s3_storage({"S3_BUCKET": "desk-files"})
    assert storage is not None
    options = storage["OPTIONS"]
    assert "access_key" not in options  # boto3's own chain: AWS_* variables, instance role
    assert options["endpoint_url"] is None
    assert options["location"] == ""
    assert options["client_config"].request_checksum_calculation is None  # AWS's default


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"S3_ENDPOINT_URL": "https://minio.internal:9000"}, "S3_ENDPOINT_URL"),
        ({"S3_PREFIX": "desk", "S3_REGION": "eu-west-1"}, "S3_REGION, S3_PREFIX"),
        ({"S3_BUCKET": "b", "S3_ACCESS_KEY_ID": "k"}, "S3_SECRET_ACCESS_KEY"),
        ({"S3_BUCKET": "b", "S3_SECRET_ACCESS_KEY": "s"}, "S3_ACCESS_KEY_ID"),
        ({"S3_BUCKET": "b", "S3_ADDRESSING_STYLE": "dns"}, "S3_ADDRESSING_STYLE"),
        ({"S3_BUCKET": "b", "S3_ENDPOINT_URL": "minio.internal:9000"}, "S3_ENDPOINT_URL"),
        ({"S3_BUCKET": "b/desk"}, "S3_PREFIX"),
    ],
)
def test_a_misconfigured_store_is_an_error_naming_the_variable(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=named):
        s3_storage(environ)


def start_up(**environ: str) -> subprocess.CompletedProcess[str]:
    """The settings loaded in a fresh process with `environ` (and no other S3_*): the default
    storage's class, or the start-up error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3_")}
    env |= {"DJANGO_SETTINGS_MODULE": "supportdesk.settings", "SECRET_KEY": "x"} | environ
    script = (
        "from django.core.files.storage import storages; print(type(storages['default']).__name__)"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_settings_choose_the_storage_at_start_up() -> None:
    assert start_up().stdout.strip() == FileSystemStorage.__name__
    assert start_up(S3_BUCKET="desk-files").stdout.strip() == S3Storage.__name__
    failed = start_up(S3_ENDPOINT_URL="https://minio.internal:9000")
    assert failed.returncode != 0
    assert "ImproperlyConfigured: S3_ENDPOINT_URL set but S3_BUCKET is not" in failed.stderr
