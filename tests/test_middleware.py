"""Middleware of the desk's own (supportdesk/middleware.py)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import Inbox, Message, Visitor
from chat.tokens import visitor_token


def multipart(**fields: str) -> bytes:
    parts = [
        f'--xyz\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + "--xyz--\r\n").encode()


@pytest.mark.django_db
@pytest.mark.parametrize("charset", ["rot13", "base64", "idna", "punycode", "utf-16"])
def test_a_multipart_body_naming_another_charset_is_read_as_utf8(
    inbox: Inbox, visitor: Visitor, charset: str
) -> None:
    """Django would decode the fields with the codec named; one that is no text encoding
    raised LookupError or UnicodeError: a 500, even before the login view's CSRF check."""
    content_type = f"multipart/form-data; boundary=xyz; charset={charset}"
    sent = Client().generic(  # .post would encode the body with that charset itself
        "POST",
        reverse("chat:widget_send", args=[inbox.public_key]),
        multipart(body="héllo", client_id=str(uuid.uuid4())),
        content_type=content_type,
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    assert sent.status_code == 201
    assert Message.objects.get().body == "héllo"
    login = Client(enforce_csrf_checks=True).generic(
        "POST", "/accounts/login/", multipart(username="x", password="y"), content_type
    )
    assert login.status_code == 403  # the CSRF check ran, and refused
