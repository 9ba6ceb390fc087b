"""testnet_bot_run_oldest_running_seconds, which the stuck-run alert watches: the age of
the oldest run still running, per kind and network, from the durable records."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from state.store import Store

NAME = "testnet_bot_run_oldest_running_seconds"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def gauge(metrics: Metrics) -> dict[tuple[str, str], float]:
    return {
        (s.labels["kind"], s.labels["network"]): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
        if s.name == NAME
    }


def test_the_gauge_shows_the_oldest_running_run_and_drops_it_once_finished(
    tmp_path: Path,
) -> None:
    clock = Clock()
    store = Store.open(tmp_path / "bot.db", clock=clock)
    try:
        metrics = Metrics()
        metrics.watch_store(store)
        assert gauge(metrics) == {}
        old = store.create_run(kind="deploy", network="alpha", args={}, owner="a")
        store.update_run(old.id, state="running")
        clock.now += 600
        young = store.create_run(kind="deploy", network="alpha", args={}, owner="a")
        store.update_run(young.id, state="running")
        pending = store.create_run(kind="rollback", network="alpha", args={}, owner="a")
        unnamed = store.create_run(kind="sanity", network=None, args={}, owner="a")
        store.update_run(unnamed.id, state="running")
        clock.now += 60
        assert gauge(metrics) == {("deploy", "alpha"): 660.0, ("sanity", ""): 60.0}
        assert pending.state == "pending"

        store.update_run(old.id, state="succeeded")
        assert gauge(metrics)[("deploy", "alpha")] == 60.0
        store.update_run(young.id, state="failed")
        store.update_run(unnamed.id, state="cancelled")
        assert gauge(metrics) == {}
    finally:
        store.close()
