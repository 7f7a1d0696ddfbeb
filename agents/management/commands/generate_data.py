"""`python manage.py generate_data --conversations N --messages M [--inboxes K] [--agents A]
[--seed S] [--append]`: made-up history at scale, for benchmarks (see agents.generator).

It refuses a database that already holds conversations, visitors or messages unless `--append`
(which adds to the inboxes and agents an earlier run made). 100,000 conversations with 1,000,000
messages take under two minutes on PostgreSQL (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import random
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.generator import Generator, analyze, default_open, message_counts, staff
from chat.models import Conversation, Message, Visitor


class Command(BaseCommand):
    help = "Fill the database with generated inboxes, agents, visitors, chats and messages."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--conversations", type=int, required=True)
        parser.add_argument("--messages", type=int, required=True, help="At least one a chat.")
        parser.add_argument("--inboxes", type=int, default=5)
        parser.add_argument("--agents", type=int, default=20, help="The first is an admin.")
        parser.add_argument(
            "--open",
            type=int,
            dest="open_count",
            help="How many are open, the newest (default: 1%%, at most 4 an agent).",
        )
        parser.add_argument("--seed", type=int, default=1, help="Same seed, same data.")
        parser.add_argument("--append", action="store_true", help="Add to a non-empty database.")

    def handle(
        self,
        *args: Any,
        conversations: int,
        messages: int,
        inboxes: int,
        agents: int,
        open_count: int | None,
        seed: int,
        append: bool,
        **options: Any,
    ) -> None:
        if min(conversations, inboxes, agents) < 1 or (open_count or 0) < 0:
            raise CommandError(
                "--conversations, --inboxes and --agents must be at least 1, --open at least 0."
            )
        if messages < conversations:
            raise CommandError("--messages must be at least --conversations (one a chat).")
        if not append and any(model.objects.exists() for model in (Conversation, Message, Visitor)):
            raise CommandError("The database already holds chats; add --append to add more.")
        began = time.monotonic()
        rng = random.Random(seed)  # noqa: S311 - made-up data, repeatable by seed
        made_inboxes, made_agents = staff(inboxes=inboxes, agents=agents, rng=rng, reuse=append)
        generator = Generator(
            rng=rng,
            inboxes=made_inboxes,
            agents=made_agents,
            counts=message_counts(rng, conversations, messages),
            open_count=default_open(conversations, agents) if open_count is None else open_count,
            progress=self.stdout.write,
        )
        totals = generator.run()
        written = time.monotonic()
        self.stdout.write("ANALYZE…")
        analyze()
        done = time.monotonic()
        statuses = ", ".join(f"{n:,} {s}" for s, n in sorted(totals.by_status.items()))
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated {totals.conversations:,} conversations ({statuses}), "
                f"{totals.messages:,} messages, {totals.visitors:,} visitors and "
                f"{totals.read_marks:,} read marks in {len(made_inboxes)} inboxes with "
                f"{len(made_agents)} agents: {done - began:.1f} s "
                f"(writing {written - began:.1f} s, ANALYZE {done - written:.1f} s)."
            )
        )
