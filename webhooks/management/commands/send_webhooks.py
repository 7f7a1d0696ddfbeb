"""`python manage.py send_webhooks [--limit N]`: send the webhook deliveries that are due
(webhooks.outbox), once. For cron, every minute, on desks where no server process is up to send
them (each also sends after every change and on housekeeping's heartbeat)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from webhooks.models import WebhookDelivery
from webhooks.outbox import deliveries_purge, deliveries_send_due


class Command(BaseCommand):
    help = "Send the webhook deliveries that are due."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=500, help="Attempts made at most.")

    def handle(self, *args: Any, limit: int, **options: Any) -> None:
        delivered = deliveries_send_due(limit=limit)
        purged = deliveries_purge()
        waiting = WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING).count()
        self.stdout.write(f"{delivered} delivered, {waiting} waiting, {purged} old ones deleted")
