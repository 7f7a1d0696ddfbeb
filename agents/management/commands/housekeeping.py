from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from agents.housekeeping import housekeeping


class Command(BaseCommand):
    help = "Sweep stale presence, auto-end inactive chats, assign queued chats (run from cron)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = housekeeping()
        self.stdout.write(f"{result['ended']} chats auto-ended, {result['assigned']} assigned")
