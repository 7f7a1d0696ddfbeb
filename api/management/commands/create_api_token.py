"""`manage.py create_api_token USERNAME --name NAME [--scope read --scope write]`: a token for
an agent from the shell (scripts, CI), printed once on standard output.
`manage.py create_api_token --bot BOT_ID --name NAME`: a webhook bot's token (write scope: it
posts the bot's answers and hands over; docs/API.md, "Bots")."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.models import Agent
from api import services
from api.models import ApiToken
from bots.models import Bot


class Command(BaseCommand):
    help = "Create an API token for an agent or a webhook bot and print it (shown this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", nargs="?", help="the agent's user name")
        parser.add_argument("--bot", type=int, help="a webhook bot's id, instead of an agent")
        parser.add_argument("--name", required=True, help="what the token is for, e.g. CI")
        parser.add_argument(
            "--scope",
            action="append",
            choices=ApiToken.Scope.values,
            dest="scopes",
            help="read or write; repeat for both (default: read; a bot's: write)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if (options["username"] is None) == (options["bot"] is None):
            raise CommandError("Give an agent's user name or --bot BOT_ID (one of the two).")
        agent = bot = None
        if options["bot"] is not None:
            bot = Bot.objects.filter(pk=options["bot"]).first()
            if bot is None:
                raise CommandError(f"No bot with the id {options['bot']}.")
            default_scopes = ["write"]
        else:
            agent = Agent.objects.filter(user__username=options["username"]).first()
            if agent is None:
                raise CommandError(f"No agent with the user name {options['username']!r}.")
            if not agent.user.is_active:
                raise CommandError(
                    f"{options['username']!r} is not active: a token would not work."
                )
            default_scopes = ["read"]
        try:
            made = services.api_token_create(
                agent=agent,
                bot=bot,
                name=options["name"],
                scopes=options["scopes"] or default_scopes,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(made.plaintext)
