"""`python manage.py purge_conversations [--days N] [--dry-run]`: the retention purge.

Deletes ended conversations that ended more than N days ago (default SUPPORTDESK_RETENTION_DAYS),
and visitors left with none; see `chat.privacy.conversations_purge`. Run it from cron daily
where no server runs the hourly purge (or to clear a backlog at once after enabling retention).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.privacy import (
    conversations_purge,
    conversations_purge_preview,
    describe_counts,
    retention_cutoff,
)


class Command(BaseCommand):
    help = (
        "Delete ended conversations older than the retention period (SUPPORTDESK_RETENTION_DAYS "
        "or --days), and visitors left with no conversations. Open chats are never touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            help="Retention in days (at least 1); default SUPPORTDESK_RETENTION_DAYS.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, days: int | None, dry_run: bool, **options: Any) -> None:
        if days is None:
            days = settings.SUPPORTDESK_RETENTION_DAYS
        if days is None:
            raise CommandError(
                "No retention is configured: set SUPPORTDESK_RETENTION_DAYS or pass --days N. "
                "Nothing was deleted."
            )
        try:
            cutoff = retention_cutoff(days)
        except ValueError as exc:
            raise CommandError(
                f"--days must be at least 1 (got {days}). Nothing was deleted."
            ) from exc
        scope = f"Retention {days} days (cutoff {cutoff:%Y-%m-%d %H:%M} UTC)"
        if dry_run:
            counts = conversations_purge_preview(older_than_days=days)
            self.stdout.write(f"{scope}, dry run. Would delete: {describe_counts(counts)}.")
        else:
            counts = conversations_purge(older_than_days=days)
            self.stdout.write(f"{scope}. Deleted: {describe_counts(counts)}.")
