"""`python manage.py rotate_encryption_key [--new-data-key] [--batch-size N] [--restart]`:
encryption at rest's maintenance, safe while the desk runs (docs/SECURITY.md).

1. Re-wraps every data key with SUPPORTDESK_ENCRYPTION_KEY: after a master-key rotation, the
   keys still wrapped by one of SUPPORTDESK_ENCRYPTION_OLD_KEYS (one small UPDATE each).
2. With --new-data-key: makes a new data key and retires the others (they still decrypt).
3. Sweeps the encrypted columns (message bodies and notes, visitors' names and emails) and the
   attachments' files: plaintext stored before the key was set, and values under a retired data
   key, are encrypted with the active one; blind indexes are filled. In batches, each one
   transaction that records how far it got: a killed run goes on where it stopped.

Run it again until it reports nothing changed; then the old master keys can be dropped.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.encryption import COLUMNS, columns_sweep, files_sweep, progress_forget
from supportdesk import crypto


class Command(BaseCommand):
    help = (
        "Re-wrap the data keys with SUPPORTDESK_ENCRYPTION_KEY and encrypt what is still stored "
        "in plaintext (or under a retired data key), resumably, while the desk runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--new-data-key",
            action="store_true",
            help="Make a new data key, retire the others and re-encrypt what they encrypt.",
        )
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction.")
        parser.add_argument(
            "--restart", action="store_true", help="Forget an interrupted run's progress."
        )

    def handle(
        self, *args: Any, new_data_key: bool, batch_size: int, restart: bool, **options: Any
    ) -> None:
        if not crypto.enabled():
            raise CommandError(
                "SUPPORTDESK_ENCRYPTION_KEY is not set: nothing to encrypt with "
                "(`manage.py generate_encryption_key` makes one)"
            )
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if restart:
            progress_forget()
        rewrapped = crypto.keys_rewrap()
        self.stdout.write(f"Data keys re-wrapped with the current master key: {rewrapped}")
        if new_data_key:
            pk = crypto.data_key_new()
            self.stdout.write(f"New data key {pk}; the others are retired.")
        for label in COLUMNS:
            result = columns_sweep(label=label, batch_size=batch_size)
            self.stdout.write(f"{label}: {result.rows} rows, {result.changed} values encrypted")
        result = files_sweep(batch_size=max(1, batch_size // 10))
        self.stdout.write(f"chat.Attachment: {result.rows} rows, {result.changed} files encrypted")
