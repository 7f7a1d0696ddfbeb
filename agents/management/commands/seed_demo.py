"""`python manage.py seed_demo`: a demo inbox, agent `demo`/`demo` and admin `admin`/`admin`.

Development only: it refuses to run unless DEBUG is on, since it creates known passwords.
Running it again changes nothing that is already there.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from agents.models import Agent, CannedResponse
from agents.services import agent_create
from chat.models import Inbox

DEMO_INBOX = "Demo inbox"
CANNED = [
    ("hi", "Hi! Thanks for reaching out. How can I help you today?"),
    ("refund", "Refunds go back to the original payment method within 3-5 business days."),
    ("bye", "Glad I could help. Have a great day!"),
]


def base_url(host: str, port: str | int) -> str:
    """The address a browser on this machine opens for a server bound to `host`:`port`. A
    server on every interface (0.0.0.0, ::) is reached at 127.0.0.1 here."""
    host = host.strip("[]") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 (read, not bound: the address to show)
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def banner(*, public_key: str, url: str) -> str:
    """What to open, as full addresses (`make run` serves at `url` right after)."""
    return (
        f"Supportdesk is starting on {url}/\n"
        f"  Visitor demo page:  {url}/demo/\n"
        f"  Agent dashboard:    {url}/agents/   (log in as demo / demo)\n"
        f"  Admin:              {url}/admin/    (log in as admin / admin)\n"
        f"  Demo inbox key:     {public_key}"
    )


class Command(BaseCommand):
    help = "Create a demo inbox, the agent demo/demo and the admin admin/admin (DEBUG only)."

    def add_arguments(self, parser: Any) -> None:
        # `make run` passes its HOST and PORT: the banner's links are the ones it serves.
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo creates known passwords; it runs only with DEBUG on.")
        inbox, _ = Inbox.objects.get_or_create(name=DEMO_INBOX)
        if not inbox.calls_enabled:
            # Calls are off by default (a call asks for camera and microphone); the demo shows
            # them: call the demo page's visitor from the dashboard (docs/CALLS.md).
            inbox.calls_enabled = True
            inbox.save(update_fields=["calls_enabled"])
        users = get_user_model().objects
        if not users.filter(username="demo").exists():
            demo = users.create_user(username="demo", password="demo")  # noqa: S106
            agent_create(user=demo, display_name="Demo Agent", inboxes=[inbox])
        if not users.filter(username="admin").exists():
            admin = users.create_superuser(username="admin", password="admin", email="")  # noqa: S106
            agent = agent_create(user=admin, display_name="Admin", inboxes=[inbox])
            agent.role = Agent.Role.ADMIN
            agent.save(update_fields=["role"])
        for shortcut, body in CANNED:
            CannedResponse.objects.get_or_create(
                inbox=inbox, shortcut=shortcut, defaults={"body": body}
            )
        url = base_url(options["host"], options["port"])
        self.stdout.write(banner(public_key=inbox.public_key, url=url))
