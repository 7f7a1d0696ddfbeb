"""`manage.py check` says what of the email settings is missing, before nobody gets an email."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning


def mail_settings_check(**kwargs: Any) -> list[CheckMessage]:
    """Email set up (an SMTP server other than the local one, a reply address or an inbound
    secret) without the desk's address: the notices and transcripts would never be made. A desk
    that set nothing about email hears nothing: without SUPPORTDESK_SITE_URL, email is off."""
    email_wanted = (
        settings.EMAIL_HOST not in ("", "localhost")
        or settings.SUPPORTDESK_MAIL_REPLY_ADDRESS
        or settings.SUPPORTDESK_MAIL_INBOUND_SECRET
    )
    if email_wanted and not settings.SUPPORTDESK_SITE_URL:
        return [
            Warning(
                "Email is set up but SUPPORTDESK_SITE_URL is not: no email notices or "
                "transcripts are sent (their links need the desk's address).",
                hint="Set it to the desk's public URL, e.g. https://desk.example.com.",
                id="mail.W001",
            )
        ]
    return []
