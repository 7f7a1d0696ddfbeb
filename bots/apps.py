from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BotsConfig(AppConfig):
    """An inbox's bot: it answers new conversations first and hands them to the team."""

    name = "bots"
    verbose_name = _("Bots")

    def ready(self) -> None:
        from agents.housekeeping import periodic_tasks
        from bots.selectors import inbox_has_active_bot
        from bots.services import bots_housekeeping
        from chat.availability import bot_check_set
        from chat.signals import visitor_wrote_to_bot

        # chat asks once per new conversation whether it starts with the bot (chat.availability).
        bot_check_set(inbox_has_active_bot)
        visitor_wrote_to_bot.connect(_bot_turn, dispatch_uid="bots.bot_turn")
        # A webhook bot that does not answer in time hands over, on housekeeping's heartbeat.
        if bots_housekeeping not in periodic_tasks:
            periodic_tasks.append(bots_housekeeping)


def _bot_turn(sender: Any, event: Any, **kwargs: Any) -> None:
    """A visitor wrote to a conversation with the bot (committed): the bot answers."""
    from bots.services import bot_turn

    message = event["message"]
    bot_turn(conversation_id=message["conversation_id"], text=message["body"], message=message)
