"""Prometheus metrics of one bot instance (its own registry, not the global one)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from state.store import Store


class _StateCollector(Collector):
    """Reads outbox depth and runs by kind/state from the store at scrape time."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "testnet_bot_outbox_items",
            "Outbox items waiting (pending) or parked (dead), by destination.",
            labels=["destination", "state"],
        )
        for (dest, state), n in sorted(self._store.outbox_counts(delivered=False).items()):
            depth.add_metric([dest, state], n)
        yield depth
        runs = GaugeMetricFamily(
            "testnet_bot_runs", "Workflow runs by kind and state.", labels=["kind", "state"]
        )
        for (kind, state), n in sorted(self._store.count_runs_by_kind_state().items()):
            runs.add_metric([kind, state], n)
        yield runs


class Metrics:
    """Counters and histograms the bot updates, and the text to serve at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.commands = Counter(
            "testnet_bot_commands",
            "Commands dispatched, by command and result.",
            ["command", "result"],
            registry=self.registry,
        )
        self.command_seconds = Histogram(
            "testnet_bot_command_seconds",
            "Time from dispatch to the end of a command.",
            ["command"],
            registry=self.registry,
            buckets=(0.005, 0.025, 0.1, 0.5, 1, 5, 30, 120, 600, 1800),
        )
        self.deliveries = Counter(
            "testnet_bot_outbox_deliveries",
            "Outbox delivery attempts, by destination kind and result.",
            ["destination", "result"],
            registry=self.registry,
        )

    def watch_store(self, store: Store) -> None:
        """Export the store's outbox depth and run counts."""
        self.registry.register(_StateCollector(store))

    def command_done(self, command: str, result: str, seconds: float) -> None:
        """Count one finished command."""
        self.commands.labels(command, result).inc()
        self.command_seconds.labels(command).observe(seconds)

    def delivery(self, destination: str, result: str) -> None:
        """Count one delivery attempt."""
        self.deliveries.labels(destination.split(":", 1)[0], result).inc()

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)
