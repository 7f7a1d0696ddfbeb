"""Filters for payload dicts, whose datetimes are ISO strings (they crossed the channel layer),
and for people's text (bidi isolation: supportdesk.bidi)."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from django import template
from django.conf import settings
from django.utils.html import escape, urlize
from django.utils.safestring import SafeString, mark_safe

from chat import attachments, files
from chat.payloads import AttachmentData
from supportdesk import bidi

register = template.Library()

_MAY_LINK = re.compile(r"[:@]|\.\S")


def _parse(value: str | datetime | None) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


register.filter("bdi", bidi.bdi)  # a name in a line of other text: <bdi>{{ name }}</bdi>
register.filter("isolated", bidi.isolated)  # the same where no element may go (<option>)


@register.filter
def initial(name: str) -> str:
    """An avatar's letter: the name's first letter or digit, upper-cased ("?" if it has none).
    A name may begin with a mark or a directional control (U+202E), which shows as nothing."""
    first = next((char for char in name if unicodedata.category(char)[0] in "LN"), "?")
    return first.upper()


@register.filter
def clock(value: str | datetime | None) -> str:
    """HH:MM in UTC; the page's script rewrites it in the reader's own time zone."""
    moment = _parse(value)
    return moment.strftime("%H:%M") if moment else ""


@register.filter
def epoch_ms(value: str | datetime | None) -> int:
    """Milliseconds since the epoch: a sort key the client can compare as a number."""
    moment = _parse(value)
    return int(moment.timestamp() * 1000) if moment else 0


@register.filter
def lookup(mapping: dict | None, key: object) -> object:
    """`mapping|lookup:key`: a dict entry by a variable key (0 if absent)."""
    return (mapping or {}).get(key, 0)


@register.filter(needs_autoescape=True)
def linkify(text: str, autoescape: bool = True) -> SafeString:
    """Escape the text and make its http(s)/www links and email addresses clickable, opening in
    a new tab without handing the page to it (noopener) or vouching for it (nofollow)."""
    if not _MAY_LINK.search(text):
        # urlize finds nothing to link without these (its URLs need "scheme:" or "x.tld", its
        # addresses "@"; a dot that ends a word is trimmed), and would only escape word by word.
        return mark_safe(escape(text)) if autoescape else mark_safe(text)  # noqa: S308
    html = urlize(text, nofollow=True, autoescape=autoescape)
    return mark_safe(  # noqa: S308 - urlize escaped the text; we only add attributes
        html.replace('rel="nofollow"', 'rel="nofollow noopener noreferrer" target="_blank"')
    )


@register.simple_tag
def file_url(attachment: AttachmentData, viewer: str, file_pass: str = "") -> str:
    """Where `viewer` downloads an attachment (chat.attachments.file_url)."""
    return attachments.file_url(attachment, viewer=viewer, file_pass=file_pass)


@register.simple_tag
def thumbnail_url(attachment: AttachmentData, viewer: str, file_pass: str = "") -> str:
    return attachments.file_url(attachment, viewer=viewer, thumbnail=True, file_pass=file_pass)


@register.filter
def file_size(size: int) -> str:
    """1.2 MB, 340 KB, 12 bytes."""
    return attachments.human_size(size)


@register.filter
def thumbnail_box(attachment: AttachmentData) -> tuple[int, int]:
    """The thumbnail's width and height (the stored image's, fitted in THUMB_SIDE), so the log
    does not jump when it loads."""
    width, height = attachment["width"] or 1, attachment["height"] or 1
    scale = min(1.0, files.THUMB_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


@register.simple_tag
def desk_sends_email() -> bool:
    """Whether the desk can email (its public address is set, for the links in emails): the
    widget offers a transcript only then."""
    return bool(settings.SUPPORTDESK_SITE_URL)
