"""Gauges read from the database when Prometheus scrapes /metrics (registered by ops.apps): the
conversations by status and the waiting line per inbox. The process's own counters and
histograms are in supportdesk.metrics."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ops.selectors import conversations_by_status, queue_by_inbox


class DeskCollector(Collector):
    """Gauges read from the database at scrape time: the same in every process, so aggregate
    them with max(), not sum() (docs/OPERATIONS.md)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_status = GaugeMetricFamily(
            "supportdesk_conversations", "Conversations by status.", labels=["status"]
        )
        for status, count in conversations_by_status().items():
            by_status.add_metric([status], count)
        yield by_status
        length = GaugeMetricFamily(
            "supportdesk_queue_length", "Conversations waiting for an agent.", labels=["inbox"]
        )
        wait = GaugeMetricFamily(
            "supportdesk_queue_oldest_wait_seconds",
            "How long the longest-waiting conversation has waited.",
            labels=["inbox"],
        )
        for inbox in queue_by_inbox():
            length.add_metric([str(inbox["inbox_id"])], inbox["waiting"])
            wait.add_metric([str(inbox["inbox_id"])], inbox["oldest_wait_seconds"])
        yield length
        yield wait

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # no database query when the collector is registered
