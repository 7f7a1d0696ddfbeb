"""`python manage.py generate_encryption_key`: a new master key for SUPPORTDESK_ENCRYPTION_KEY.

Prints 32 random bytes in URL-safe base64 and nothing else (`export
SUPPORTDESK_ENCRYPTION_KEY=$(python manage.py generate_encryption_key)`). Touches no database.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from supportdesk import crypto


class Command(BaseCommand):
    help = "Print a new random master key for SUPPORTDESK_ENCRYPTION_KEY (docs/SECURITY.md)."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(crypto.key_generate())
