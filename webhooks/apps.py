from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Signed webhooks (docs/API.md, "Webhooks"): per-inbox endpoints, an outbox written in the
    same transaction as the change, delivered at least once, in order per conversation."""

    name = "webhooks"
    verbose_name = "Webhooks"
