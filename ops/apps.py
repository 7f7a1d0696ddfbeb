from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: the health and readiness probes, /metrics, the admins' status page, and the
    gauges read from the database at scrape time (docs/OPERATIONS.md, docs/ARCHITECTURE.md)."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops.collectors import DeskCollector
        from supportdesk.metrics import REGISTRY

        REGISTRY.register(DeskCollector())
