from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Signed webhooks (docs/API.md, "Webhooks"): per-inbox endpoints, an outbox written in the
    same transaction as the change, delivered at least once, in order per conversation."""

    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from agents.housekeeping import periodic_tasks
        from chat import signals
        from chat.encryption import columns_register
        from webhooks import services
        from webhooks.models import WebhookEndpoint
        from webhooks.outbox import webhooks_housekeeping

        # The domain's changes, inside their transactions (chat.signals): the outbox rows are
        # written with them. Each receiver returns at once for an inbox without endpoints.
        # Payloads copy messages: the key rotation's sweep encrypts them too.
        columns_register("webhooks.WebhookDelivery", ["payload"])
        hooks = {
            signals.message_stored: services.on_message_stored,
            signals.conversation_started: services.on_conversation_started,
            signals.conversation_assigned: services.on_conversation_assigned,
            signals.conversation_ended: services.on_conversation_ended,
            signals.conversation_rated: services.on_conversation_rated,
        }
        for signal, receiver in hooks.items():
            signal.connect(receiver, dispatch_uid=f"webhooks.{receiver.__name__}")
        for signal in (post_save, post_delete):
            signal.connect(
                services.on_endpoint_changed,
                sender=WebhookEndpoint,
                dispatch_uid=f"webhooks.endpoint_changed.{id(signal)}",
            )
        # Retries and what no kick sent go out on housekeeping's heartbeat (and from cron:
        # `manage.py send_webhooks`); agents may not import webhooks, so webhooks hooks in.
        if webhooks_housekeeping not in periodic_tasks:
            periodic_tasks.append(webhooks_housekeeping)
