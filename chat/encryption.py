"""Chat's side of encryption at rest (supportdesk.crypto): the key table as the platform's key
store, and the attachments' files encrypted with the column-like name of the file as associated
data, bound to the attachment's random key (a file moved under another attachment is refused)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.files.base import ContentFile
from django.db import connection, transaction

from chat.keymodels import DataKey, EncryptionProgress
from chat.models import Attachment
from supportdesk import crypto

logger = logging.getLogger(__name__)


class DataKeyStore:
    def rows(self) -> list[crypto.KeyRow]:
        return [
            crypto.KeyRow(
                id=row.pk,
                purpose=row.purpose,
                master_id=row.master_id,
                wrapped=bytes(row.wrapped),
                retired=row.retired,
            )
            for row in DataKey.objects.order_by("pk")
        ]

    def create(self, *, purpose: str, master_id: str, wrapped: bytes) -> int:
        # Inside a transaction that rolls back, the key would go while this process keeps using
        # it: the first keys are made at start-up (crypto.startup_check), outside any.
        return DataKey.objects.create(purpose=purpose, master_id=master_id, wrapped=wrapped).pk

    def any_exist(self) -> bool:
        return DataKey.objects.exists()

    def rewrap(self, *, id: int, old_master_id: str, master_id: str, wrapped: bytes) -> bool:
        changed = DataKey.objects.filter(pk=id, master_id=old_master_id).update(
            master_id=master_id, wrapped=wrapped
        )
        return bool(changed)

    def retire_all_but(self, *, id: int) -> int:
        return (
            DataKey.objects.filter(purpose=DataKey.Purpose.DATA, retired=False)
            .exclude(pk=id)
            .update(retired=True)
        )


def file_aad(attachment_key: str, *, thumbnail: bool = False) -> str:
    return f"chat.Attachment.{'thumbnail' if thumbnail else 'file'}:{attachment_key}"


# -- the sweep: encrypting what is stored ---------------------------------------------------------

# The encrypted columns, with the blind index each one feeds (or ""), per model.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "chat.Message": [("body", "body_tokens")],
    "chat.Visitor": [("name", ""), ("email", "email_token")],
}
FILES = ("file", "thumbnail")  # chat.Attachment's files


def columns_register(label: str, names: list[str]) -> None:
    """An app above chat names its own encrypted columns (no blind index), so the sweep
    encrypts them too: the outboxes' copies of messages (webhooks.apps, mail.apps)."""
    COLUMNS[label] = [(name, "") for name in names]


@dataclass
class SweepResult:
    job: str
    rows: int = 0  # rows looked at
    changed: int = 0  # values (or files) written encrypted anew


def _stale(stored: str | bytes, retired: set[int]) -> bool:
    """Whether a stored value needs encrypting: plaintext, or under a retired data key."""
    if not stored:
        return False
    dek = crypto.dek_of(stored)
    return dek is None or dek in retired


def _progress(job: str) -> EncryptionProgress:
    progress, _ = EncryptionProgress.objects.get_or_create(job=job)
    return progress


def columns_sweep(*, label: str, batch_size: int = 500) -> SweepResult:
    """Encrypt a model's encrypted columns where they hold plaintext (written before the key
    was set) or a ciphertext of a retired data key, and fill their blind indexes; in batches by
    primary key, each batch one transaction that also records how far it got
    (EncryptionProgress): a killed run goes on from there. Every write is a compare-and-set
    on the value read, so a row the desk changed meanwhile is left to the desk (whose own write
    is encrypted already).

    Precondition: a key is set (`crypto.enabled()`) in this process and in every process that
    writes meanwhile."""
    model = apps.get_model(label)
    table = model._meta.db_table
    pairs = COLUMNS[label]
    fields = {name: model._meta.get_field(name) for name, _ in pairs}
    columns = [fields[name].column for name, _ in pairs]
    job = f"columns:{label}"
    result = SweepResult(job=job)
    retired = crypto.retired_data_keys()
    quote = connection.ops.quote_name
    select = (
        f"SELECT {quote('id')}, {', '.join(quote(c) for c in columns)} FROM {quote(table)} "  # noqa: S608
        f"WHERE {quote('id')} > %s ORDER BY {quote('id')} LIMIT %s"
    )
    while True:
        with transaction.atomic():
            progress = _progress(job)
            with connection.cursor() as cursor:
                cursor.execute(select, [progress.last_pk, batch_size])
                rows = cursor.fetchall()
                if not rows:
                    progress.delete()  # done: the next run starts from the beginning
                    return result
                for pk, *stored in rows:
                    result.rows += 1
                    result.changed += _row_encrypt(
                        cursor,
                        table,
                        pk,
                        pairs,
                        fields,
                        dict(zip(columns, stored, strict=True)),
                        retired,
                    )
            progress.last_pk = rows[-1][0]
            progress.changed += result.changed
            progress.save(update_fields=["last_pk", "changed", "updated_at"])


def _row_encrypt(
    cursor: Any,
    table: str,
    pk: int,
    pairs: list[tuple[str, str]],
    fields: dict[str, Any],
    stored: dict[str, str | None],
    retired: set[int],
) -> int:
    quote = connection.ops.quote_name
    changed = 0
    for name, index in pairs:
        field = fields[name]
        old = stored[field.column]
        if old is None or not _stale(old, retired):
            continue
        plain = crypto.decrypt_text(old, aad=field.aad)
        sets = [f"{quote(field.column)} = %s"]
        values: list[Any] = [crypto.encrypt_text(plain, aad=field.aad)]
        if index:
            index_field = field.model._meta.get_field(index)
            sets.append(f"{quote(index_field.column)} = %s")
            values.append(index_field.tokens(plain))
        cursor.execute(
            f"UPDATE {quote(table)} SET {', '.join(sets)} "  # noqa: S608 - names from the models
            f"WHERE {quote('id')} = %s AND {quote(field.column)} = %s",
            [*values, pk, old],
        )
        changed += cursor.rowcount
    return changed


def files_sweep(*, batch_size: int = 50) -> SweepResult:
    """Encrypt the attachments' files stored in plaintext (or under a retired data key): each
    is written encrypted under a new name, the row pointed at it by a compare-and-set, then
    the old file removed (or the new one, if the row changed meanwhile). Resumable as
    `columns_sweep`; a file is never overwritten in place, so a download meanwhile gets the
    old file or the new one, whole."""
    job = "files:chat.Attachment"
    result = SweepResult(job=job)
    retired = crypto.retired_data_keys()
    storage = Attachment._meta.get_field("file").storage  # type: ignore[attr-defined]
    while True:
        progress = _progress(job)
        batch = list(
            Attachment.objects.filter(pk__gt=progress.last_pk)
            .order_by("pk")
            .values_list("pk", "key", *FILES)[:batch_size]
        )
        if not batch:
            progress.delete()
            return result
        for pk, key, *names in batch:
            result.rows += 1
            for which, name in zip(FILES, names, strict=True):
                if name and _file_encrypt(storage, pk, key, which, name, retired):
                    result.changed += 1
        progress.last_pk = batch[-1][0]
        progress.changed += result.changed
        progress.save(update_fields=["last_pk", "changed", "updated_at"])


def _file_encrypt(
    storage: Any, pk: int, key: str, which: str, name: str, retired: set[int]
) -> bool:
    try:
        with storage.open(name, "rb") as handle:
            head = handle.read(len(crypto.BYTES_PREFIX) + 20)  # the prefix and the key's id
            if head and not _stale(head, retired):
                return False
            stored = head + handle.read()
    except FileNotFoundError:
        logger.warning("encryption: file %s of attachment %s is missing", name, pk)
        return False
    if not stored:
        return False
    aad = file_aad(key, thumbnail=which == "thumbnail")
    content = crypto.encrypt_bytes(crypto.decrypt_bytes(stored, aad=aad), aad=aad)
    new_name = storage.save(name, ContentFile(content))  # a free name next to it
    if Attachment.objects.filter(pk=pk, **{which: name}).update(**{which: new_name}):
        storage.delete(name)
        return True
    storage.delete(new_name)  # the row changed (deleted, erased) meanwhile
    return False


def progress_forget() -> int:
    """Start every sweep from the beginning on its next run."""
    return EncryptionProgress.objects.all().delete()[0]
