"""Files in conversations: upload, attach to a message, who may download, clean-up.

A file is uploaded on its own first (one request per file, so the client shows each one's
progress and can cancel it), checked by its content (chat.files) and stored through Django's
storage API; it is then pending, seen only by who uploaded it. Sending a message names the
uploads it carries by their keys (`attachments_claim`, inside the message's transaction): a key
that is not the sender's own pending upload in that inbox refuses the whole message.

Downloads go through `chat.views.file_download`, never a public URL. An agent is checked by
their session: an agent of the conversation's inbox (any, for an admin). A visitor's widget
has no cookie (it lives in the customer's page), so the links rendered for a visitor carry a
file pass: a signature of the visitor's id and token generation, good for their own files only
and void once they are signed out everywhere (chat.tokens) or erased.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.http import FileResponse, Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from chat import files
from chat.encryption import file_aad
from chat.models import AgentRef, Attachment, Inbox, Message, Visitor
from chat.payloads import AttachmentData
from supportdesk import crypto

logger = logging.getLogger(__name__)

FILE_PASS_SALT = "supportdesk.files"  # noqa: S105 - a signing salt, not a secret
ORPHAN_AGE = timedelta(days=1)  # a pending upload this old was never sent: removed


def attachment_upload(
    *,
    inbox: Inbox,
    upload: UploadedFile,
    visitor: Visitor | None = None,
    agent: AgentRef | None = None,
) -> Attachment:
    """Check and store one uploaded file as a pending upload of `visitor` or `agent`;
    `files.Refused` with the reason if it is not accepted (nothing is stored then)."""
    limit = settings.SUPPORTDESK_UPLOAD_MAX_BYTES
    name = files.clean_name(upload.name or "") or _("file")
    if upload.size is None or upload.size > limit:
        raise files.Refused(
            "file_too_large",
            _("%(name)s is larger than %(limit)s.") % {"name": name, "limit": human_size(limit)},
        )
    upload.seek(0)
    checked = files.check(name, upload.read())
    attachment = Attachment(
        inbox=inbox,
        visitor=visitor,
        agent=agent,  # type: ignore[misc]
        name=checked.name,
        content_type=checked.mime,
        size=len(checked.content),
        width=checked.width,
        height=checked.height,
    )
    try:
        # Encrypted with a key set (supportdesk.crypto), bound to this attachment's key.
        content = crypto.encrypt_bytes(checked.content, aad=file_aad(attachment.key))
        attachment.file.save(checked.name, ContentFile(content), save=False)
        if checked.thumbnail is not None:
            # An object store can fail between the two (a timeout): the file goes again.
            thumbnail = crypto.encrypt_bytes(
                checked.thumbnail, aad=file_aad(attachment.key, thumbnail=True)
            )
            attachment.thumbnail.save(checked.name, ContentFile(thumbnail), save=False)
        attachment.save()
    except BaseException:
        _delete_files(attachment.file.name, attachment.thumbnail.name)
        raise
    return attachment


def attachments_claim(
    message: Message,
    keys: Sequence[str],
    *,
    visitor: Visitor | None = None,
    agent: AgentRef | None = None,
) -> list[Attachment]:
    """Attach the pending uploads `keys` (in that order) to `message`, inside its transaction.
    ValidationError if there are too many, or one is not the sender's own pending upload in the
    message's inbox (a forged, another's, or an already sent key)."""
    if not keys:
        return []
    limit = settings.SUPPORTDESK_UPLOAD_MAX_FILES
    if len(keys) > limit or len(set(keys)) != len(keys):
        raise ValidationError(
            ngettext(
                "A message can carry at most %(limit)d file.",
                "A message can carry at most %(limit)d files.",
                limit,
            )
            % {"limit": limit},
            code="too_many_files",
        )
    owner = Q(visitor=visitor) if visitor is not None else Q(agent_id=getattr(agent, "pk", None))
    with transaction.atomic():  # the message's own, when called by chat.services
        pending = {
            a.key: a
            for a in Attachment.objects.select_for_update(of=("self",))
            .filter(owner, key__in=keys, message__isnull=True)
            .filter(inbox_id=message.conversation.inbox_id)
            .filter(Q(visitor__isnull=False) if visitor is not None else Q(agent__isnull=False))
        }
        if len(pending) != len(keys):
            raise ValidationError(
                _("A file of this message is no longer available; attach it again."),
                code="attachment_unknown",
            )
        claimed = [pending[key] for key in keys]
        for position, attachment in enumerate(claimed):
            attachment.message, attachment.position = message, position
        Attachment.objects.bulk_update(claimed, ["message", "position"])
    return claimed


def known_attachments(message: Message, attachments: list[Attachment]) -> None:
    """Let `message.attachments.all()` answer `attachments` without a query, as
    `prefetch_related` would (the caller just attached them)."""
    rows = message.attachments.all()
    rows._result_cache = list(attachments)  # type: ignore[attr-defined]
    rows._prefetch_done = True  # type: ignore[attr-defined]
    message._prefetched_objects_cache = {"attachments": rows}  # type: ignore[attr-defined]


def attachment_discard(
    *, key: str, visitor: Visitor | None = None, agent: AgentRef | None = None
) -> bool:
    """The uploader removes a pending upload (cancelled before sending). Whether one was."""
    if visitor is None and agent is None:
        return False
    owner = Q(visitor=visitor) if visitor is not None else Q(agent_id=getattr(agent, "pk", None))
    deleted, _ = Attachment.objects.filter(owner, key=key, message__isnull=True).delete()
    return bool(deleted)


def orphans_purge(now: timezone.datetime | None = None) -> int:
    """Remove pending uploads older than ORPHAN_AGE (never sent). How many (run by
    housekeeping)."""
    cutoff = (now or timezone.now()) - ORPHAN_AGE
    deleted, _ = Attachment.objects.filter(message__isnull=True, created_at__lt=cutoff).delete()
    return deleted


def file_deleted(sender: object, instance: Attachment, **kwargs: object) -> None:
    """post_delete of an Attachment (directly or by a cascade): its files go once the deletion
    commits (a rolled-back deletion keeps them)."""
    names = (instance.file.name, instance.thumbnail.name)
    transaction.on_commit(lambda: _delete_files(*names))


def _delete_files(*names: str | None) -> None:
    storage = Attachment._meta.get_field("file").storage  # type: ignore[attr-defined]
    for name in names:
        if name:
            try:
                storage.delete(name)
            except Exception:
                logger.exception("could not delete stored file %s", name)


# Who may download -----------------------------------------------------------------------------


def file_pass(visitor_id: int, generation: int) -> str:
    """What a visitor's download links carry instead of a cookie (see the module): from their
    row, or their token's claims (no query)."""
    return signing.dumps([visitor_id, generation], salt=FILE_PASS_SALT)


def visitor_of_pass(value: str) -> Visitor | None:
    """The visitor a file pass names, if it is genuine and they were not signed out since."""
    try:
        visitor_id, generation = signing.loads(value, salt=FILE_PASS_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return Visitor.objects.filter(pk=visitor_id, token_generation=generation).first()


def visitor_may_see(visitor: Visitor, attachment: Attachment) -> bool:
    """Their own pending upload, or a file of a message they can see in their conversation
    (an internal note's files never)."""
    message = attachment.message
    if message is None:
        return attachment.visitor_id == visitor.pk
    return message.conversation.visitor_id == visitor.pk and message.visible_to_visitor


def file_url(
    attachment: AttachmentData, *, viewer: str, thumbnail: bool = False, file_pass: str = ""
) -> str:
    """Where `viewer` downloads the file (or its thumbnail): a visitor through the widget's
    view with their file pass, an agent through the dashboard's, by their session."""
    face = "chat" if viewer == "visitor" else "agents"
    url = reverse(
        f"{face}:file_thumbnail" if thumbnail else f"{face}:file_download",
        args=[attachment["key"], attachment["name"]],
    )
    return f"{url}?{urlencode({'pass': file_pass})}" if viewer == "visitor" else url


# Served so that nothing in it can run: a download unless it is an image the desk re-encoded
# itself, never sniffed into another type, and sandboxed if a browser opens it anyway.
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def served(
    key: str, may_see: Callable[[Attachment], bool], *, thumbnail: bool = False
) -> FileResponse:
    """The file `key` names (or its thumbnail) if the viewer `may_see` it; else Http404, which
    confirms nothing about the key."""
    attachment = Attachment.objects.select_related("message__conversation").filter(key=key).first()
    if attachment is None or not may_see(attachment):
        raise Http404("No such file.")
    return file_response(attachment, thumbnail=thumbnail)


def file_response(attachment: Attachment, *, thumbnail: bool = False) -> FileResponse:
    """The stored file (or its thumbnail) as a response with the headers above."""
    field = attachment.thumbnail if thumbnail else attachment.file
    if thumbnail and not field:
        raise Http404
    try:
        handle: Any = field.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    head = handle.read(len(crypto.BYTES_PREFIX))
    handle.seek(0)
    if crypto.is_encrypted(head):  # decrypted whole: files are bounded by the upload limit
        with handle:
            handle = io.BytesIO(attachment_content(attachment, handle.read(), thumbnail=thumbnail))
    inline = attachment.is_image
    content_type = attachment.content_type
    if content_type.startswith("text/") or content_type == "application/json":
        content_type += "; charset=utf-8"
    response = FileResponse(
        handle, as_attachment=not inline, filename=attachment.name, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cache-Control"] = "private, max-age=3600"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def attachment_content(attachment: Attachment, stored: bytes, *, thumbnail: bool = False) -> bytes:
    """A stored file's content as uploaded: decrypted if it was stored encrypted; `Tampered`
    (supportdesk.crypto) if it does not authenticate for this attachment."""
    return crypto.decrypt_bytes(stored, aad=file_aad(attachment.key, thumbnail=thumbnail))


def human_size(size: int) -> str:
    """1.2 MB, 340 KB, 12 bytes."""
    if size >= 1024 * 1024:
        return _("%(n)s MB") % {"n": f"{size / (1024 * 1024):.1f}".removesuffix(".0")}
    if size >= 1024:
        return _("%(n)s KB") % {"n": round(size / 1024)}
    return ngettext("%(n)d byte", "%(n)d bytes", size) % {"n": size}
