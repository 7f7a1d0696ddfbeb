"""`manage.py create_api_token USERNAME --name NAME [--scope read --scope write]`: a token for
an agent from the shell (scripts, CI), printed once on standard output."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.models import Agent
from api import services
from api.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for an agent and print it (shown this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the agent's user name")
        parser.add_argument("--name", required=True, help="what the token is for, e.g. CI")
        parser.add_argument(
            "--scope",
            action="append",
            choices=ApiToken.Scope.values,
            dest="scopes",
            help="read or write; repeat for both (default: read)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        agent = Agent.objects.filter(user__username=options["username"]).first()
        if agent is None:
            raise CommandError(f"No agent with the user name {options['username']!r}.")
        if not agent.user.is_active:
            raise CommandError(f"{options['username']!r} is not active: a token would not work.")
        try:
            made = services.api_token_create(
                agent=agent, name=options["name"], scopes=options["scopes"] or ["read"]
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(made.plaintext)
