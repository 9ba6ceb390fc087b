"""Interaction deferral latency of the running bot, next to a bare discord.py client.

Both clients connect, in this process, to the Discord fake's gateway and REST API on
127.0.0.1, measured in the same run: (1) a bare ``discord.Client`` whose
``/testnet status`` only defers; (2) the bot's Discord adapter with ``/testnet status``
(deferral, then dispatch and the answer through the outbox, after it). The time
measured is from the fake dispatching INTERACTION_CREATE to the deferred callback
reaching the fake. Two shapes: a burst of 200 interactions at once, and 200 at a
concurrency of 10 (each worker dispatches its next interaction once its last was
deferred). ``late`` counts callbacks Discord would have refused (after 3 s).

Prints one JSON object per (client, shape) and one with the ratios.
Usage: python bench/discord_ack.py [--burst 200] [--total 200] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import Bot
from bot.config import BotConfig
from tests.fakes.discord_api import ALICE, GUILD_ID, DiscordFake, InteractionRecord

CALLBACK = "POST /interactions/{interaction_id}/{interaction_token}/callback"
WINDOW = 3.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latencies(fake: DiscordFake, records: list[InteractionRecord]) -> list[float]:
    """Milliseconds from each dispatch to its callback's arrival at the fake."""
    arrived = {
        r.params["interaction_id"]: r.received_at
        for r in fake.requests(CALLBACK)
        if 200 <= r.status < 300
    }
    return [(arrived[str(r.id)] - r.created_at) * 1000 for r in records if str(r.id) in arrived]


async def burst(fake: DiscordFake, n: int) -> list[InteractionRecord]:
    payloads = [fake.slash_command("testnet status", {}, user=ALICE) for _ in range(n)]
    records = [await fake.dispatch_interaction(p) for p in payloads]
    await fake.wait_until(lambda: all(r.acknowledged for r in records), timeout=120)
    return records


async def steady(fake: DiscordFake, total: int, concurrency: int) -> list[InteractionRecord]:
    records: list[InteractionRecord] = []
    remaining = iter(range(total))

    async def worker() -> None:
        for _ in remaining:
            record = await fake.dispatch_interaction(
                fake.slash_command("testnet status", {}, user=ALICE)
            )
            records.append(record)
            await fake.wait_until(lambda r=record: r.acknowledged, timeout=60)  # type: ignore[misc]

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return records


def figure(client: str, shape: str, values: list[float], expected: int) -> dict[str, object]:
    return {
        "bench": "discord_ack",
        "app": client,
        "shape": shape,
        "n": len(values),
        "missing": expected - len(values),
        "p50_ms": round(percentile(values, 0.5), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
        "max_ms": round(max(values), 2),
        "late": sum(1 for v in values if v > WINDOW * 1000),
    }


@contextlib.asynccontextmanager
async def bare_client(fake: DiscordFake) -> Any:
    """A discord.py client whose only command defers."""
    client = discord.Client(intents=discord.Intents(guilds=True), guild_ready_timeout=0.2)
    tree = app_commands.CommandTree(client)
    testnet = app_commands.Group(name="testnet", description="bare")

    @testnet.command(name="status", description="only defers")
    async def status(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)

    tree.add_command(testnet, guild=discord.Object(GUILD_ID))
    ready = asyncio.Event()
    client.event(_on_ready(ready))
    with fake.pointed_at():
        await client.login(fake.token)
        await tree.sync(guild=discord.Object(GUILD_ID))
        runner = asyncio.create_task(client.connect(reconnect=True))
        await asyncio.wait_for(ready.wait(), 15)
        try:
            yield client
        finally:
            await client.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(runner, 5)


def _on_ready(ready: asyncio.Event) -> Any:
    async def on_ready() -> None:
        ready.set()

    return on_ready


async def measure(
    fake: DiscordFake, name: str, burst_n: int, total: int, concurrency: int
) -> dict[str, dict[str, object]]:
    await burst(fake, 10)  # warm up (connections, caches)
    records = await burst(fake, burst_n)
    out = {"burst": figure(name, f"burst_{burst_n}", latencies(fake, records), burst_n)}
    records = await steady(fake, total, concurrency)
    out["steady"] = figure(
        name, f"{total}_at_concurrency_{concurrency}", latencies(fake, records), total
    )
    return out


async def main(burst_n: int, total: int, concurrency: int) -> None:
    logging.getLogger("discord").setLevel(logging.ERROR)
    results: dict[str, dict[str, dict[str, object]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with DiscordFake() as fake:
            async with bare_client(fake):
                results["bare_discord_py"] = await measure(
                    fake, "bare_discord_py", burst_n, total, concurrency
                )
            config = BotConfig.model_validate(
                {
                    "state": {"path": str(Path(tmp) / "bench.db")},
                    "chat": {
                        "discord": {
                            "token": fake.token,
                            "api_url": fake.api_url,
                            "guilds": [GUILD_ID],
                        }
                    },
                }
            )
            async with Bot(config, serve_http=False) as bot:
                results["testnet_bot"] = await measure(
                    fake, "testnet_bot", burst_n, total, concurrency
                )
                # let the bot finish the work it deferred before it shuts down
                await bot.services.outbox.wait_delivered(timeout=60)
    for client in results.values():
        for value in client.values():
            print(json.dumps(value))
    ratios: dict[str, object] = {"bench": "discord_ack", "figure": "ratios_bot_over_bare"}
    for shape in ("burst", "steady"):
        bot_fig, bare_fig = results["testnet_bot"][shape], results["bare_discord_py"][shape]
        for q in ("p99", "p50"):
            ratios[f"{shape}_{q}"] = round(
                float(bot_fig[f"{q}_ms"]) / float(bare_fig[f"{q}_ms"]), 2
            )  # type: ignore[arg-type]
    print(json.dumps(ratios))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--total", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.burst, args.total, args.concurrency))
