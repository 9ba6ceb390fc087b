"""Dispatcher overhead per command, over 10,000 shell-style invocations.

Baseline (same process, same run): calling the handler directly with a ready
context, so the reply's outbox write is in both. The dispatcher adds parsing,
permission and audit-log work; the difference is its overhead.

Prints one JSON object per figure. Usage: python bench/dispatch.py [--n 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bot.config import BotConfig
from bot.context import Context, Services
from bot.core import Actor, Invocation
from bot.dispatcher import Dispatcher
from bot.metrics import Metrics
from bot.outbox import Outbox
from bot.permissions import Permissions
from bot.registry import Registry
from bot.responder import OutboxResponder
from bot.tasks import TaskSupervisor
from state.store import Store


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(n: int) -> None:
    registry = Registry()

    @registry.command("ping", permission="deploy")
    async def ping(ctx: Context, *, network: str, count: int = 1, loud: bool = False) -> None:
        """Reply once."""
        await ctx.reply(f"pong {network} {count}")

    with tempfile.TemporaryDirectory() as tmp:
        config = BotConfig.model_validate(
            {
                "state": {"path": str(Path(tmp) / "bench.db")},
                "networks": {"alpha": {"namespace": "alpha", "image": "x"}},
            }
        )
        store = Store.open(config.state.path)
        supervisor = TaskSupervisor()
        metrics = Metrics()
        outbox = Outbox(store, config.outbox, metrics, supervisor)  # worker not started
        services = Services(
            config=config,
            store=store,
            registry=registry,
            permissions=Permissions(config),
            outbox=outbox,
            supervisor=supervisor,
            metrics=metrics,
        )
        dispatcher = Dispatcher(services)
        responder = OutboxResponder(outbox, "bench")
        actor = Actor("shell", "operator", "operator")

        def invocation() -> Invocation:
            return Invocation(
                actor, "/testnet ping alpha --count 3 --loud", responder, uuid.uuid4().hex
            )

        for _ in range(200):  # warm up
            await dispatcher.dispatch(invocation())
        baseline: list[float] = []
        full: list[float] = []
        for _ in range(n):
            inv = invocation()
            t0 = time.perf_counter()
            await ping(Context(inv, services), network="alpha", count=3, loud=True)
            t1 = time.perf_counter()
            outcome = await dispatcher.dispatch(invocation())
            t2 = time.perf_counter()
            assert outcome.success
            baseline.append((t1 - t0) * 1e6)
            full.append((t2 - t1) * 1e6)
        overhead = [f - b for f, b in zip(full, baseline, strict=True)]
        await supervisor.close()
        store.close()

    for name, values in (
        ("handler_direct_us", baseline),
        ("dispatch_us", full),
        ("dispatch_overhead_us", overhead),
    ):
        print(
            json.dumps(
                {
                    "bench": "dispatch",
                    "figure": name,
                    "n": n,
                    "p50": round(percentile(values, 0.50), 1),
                    "p99": round(percentile(values, 0.99), 1),
                    "mean": round(statistics.fmean(values), 1),
                }
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().n))
