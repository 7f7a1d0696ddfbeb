"""`python manage.py send_queued_mail [--limit N]`: queue the email notices that are due and send
the queue (mail.outbox), once. For cron, every minute, on desks where no dashboard is open to
drive housekeeping (docs/DEPLOY.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mail.models import OutboundEmail
from mail.outbox import mail_housekeeping


class Command(BaseCommand):
    help = "Queue the email notices that are due and send the queued emails."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=500, help="Emails sent at most.")

    def handle(self, *args: Any, limit: int, **options: Any) -> None:
        done = mail_housekeeping(limit=limit)
        waiting = OutboundEmail.objects.filter(status=OutboundEmail.Status.PENDING).count()
        self.stdout.write(
            f"{done['mail_queued']} queued, {done['mail_sent']} sent, {waiting} waiting"
        )
