"""Prometheus metrics of one bot instance (its own registry, not the global one)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from state.store import Store

RUN_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
"""Deploy and rollback duration buckets, in seconds."""
SANITY_STATUSES = ("pass", "fail", "error")


def _histogram(
    values: list[float], buckets: tuple[float, ...]
) -> tuple[list[tuple[str, float]], float]:
    """Cumulative ``(le, count)`` pairs with +Inf, and the sum, for ``values``."""
    counts = [(str(b), float(sum(1 for v in values if v <= b))) for b in buckets]
    return [*counts, ("+Inf", float(len(values)))], sum(values)


class _StateCollector(Collector):
    """Reads outbox depth, runs, deploy/rollback outcomes, sanity verdicts and open
    incidents from the store at scrape time: figures that survive a restart because
    they come from the durable records, not from counters in memory."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
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
        oldest = GaugeMetricFamily(
            "testnet_bot_run_oldest_running_seconds",
            "Age of the oldest run still running, by kind and network (absent: none running).",
            labels=["kind", "network"],
        )
        for (kind, network), age in sorted(self._store.oldest_running_run_ages().items()):
            oldest.add_metric([kind, network], age)
        yield oldest
        yield from self._rolls()
        yield from self._sanity()
        yield from self._incidents()

    def _rolls(self) -> Iterator[Metric]:
        finished = CounterMetricFamily(
            "testnet_bot_rollouts",
            "Finished deploys and rollbacks, by kind, network and result.",
            labels=["kind", "network", "result"],
        )
        seconds = HistogramMetricFamily(
            "testnet_bot_rollout_seconds",
            "Duration of finished deploys and rollbacks, by kind, network and result.",
            labels=["kind", "network", "result"],
        )
        groups: dict[tuple[str, str, str], list[float]] = {}
        for kind, network, state, took in self._store.finished_run_durations():
            if kind in ("deploy", "rollback"):
                groups.setdefault((kind, network, state), []).append(took)
        for key, values in sorted(groups.items()):
            finished.add_metric(list(key), len(values))
            buckets, total = _histogram(values, RUN_BUCKETS)
            seconds.add_metric(list(key), buckets, total)
        yield finished
        yield seconds

    def _sanity(self) -> Iterator[Metric]:
        repo = self._store.sanity
        runs = CounterMetricFamily(
            "testnet_bot_sanity_runs",
            "Sanity runs by network and verdict.",
            labels=["network", "verdict"],
        )
        for (network, verdict), n in sorted(repo.verdict_totals().items()):
            runs.add_metric([network, verdict], n)
        yield runs
        checks = GaugeMetricFamily(
            "testnet_bot_sanity_check_status",
            "The latest sanity run's status of each check (1 for the status it had).",
            labels=["network", "check", "status"],
        )
        for result in repo.latest_by_network():
            for check in result.results:
                name = f"{check.get('name', '')} ({check.get('kind', '')})"
                status = str(check.get("status", ""))
                for each in dict.fromkeys((*SANITY_STATUSES, status)):
                    checks.add_metric([result.network, name, each], 1.0 if each == status else 0.0)
        yield checks

    def _incidents(self) -> Iterator[Metric]:
        open_ = GaugeMetricFamily(
            "testnet_bot_incidents_open",
            "Incidents not closed, by criticality, network and state (firing, resolved).",
            labels=["criticality", "network", "state"],
        )
        for key, n in sorted(self._store.incidents.open_counts().items()):
            open_.add_metric(list(key), n)
        yield open_


class Metrics:
    """Counters and histograms the bot updates, and the text to serve at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
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

        self.alerts = Counter(
            "testnet_bot_alerts",
            "Alerts received from Alertmanager, by what they did: new, repeat, resolved,"
            " or ignored (first seen already resolved).",
            ["outcome"],
            registry=self.registry,
        )
        self.rate_limit_waits = Counter(
            "testnet_bot_rate_limit_waits",
            "Times a destination told the bot to wait (Retry-After, 429, secondary limits).",
            ["destination"],
            registry=self.registry,
        )
        self.rate_limit_seconds = Counter(
            "testnet_bot_rate_limit_wait_seconds",
            "Seconds a destination asked the bot to wait, summed.",
            ["destination"],
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

    def alerts_received(self, *, new: int, repeats: int, resolved: int, ignored: int) -> None:
        """Count one notification's alerts by outcome."""
        for outcome, n in (
            ("new", new),
            ("repeat", repeats),
            ("resolved", resolved),
            ("ignored", ignored),
        ):
            if n:
                self.alerts.labels(outcome).inc(n)

    def rate_limited(self, destination: str, seconds: float) -> None:
        """Count one wait a destination asked for."""
        kind = destination.split(":", 1)[0]
        self.rate_limit_waits.labels(kind).inc()
        self.rate_limit_seconds.labels(kind).inc(max(0.0, seconds))

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)
