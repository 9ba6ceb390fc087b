"""Slash-command ack latency of the running bot, next to a bare slack-bolt app.

Both servers run in this process on 127.0.0.1 with the client, measured in the same
run: (1) the bot's /slack/events with signed `/testnet status` requests, the work
(dispatch, reply through the outbox to a Slack fake) happening after each ack; (2)
a bare slack-bolt AsyncApp whose handler only acks. Two shapes: a burst of 200
requests at once, and 2,000 requests at a concurrency of 10.

Prints one JSON object per (app, shape) and one with the ratios.
Usage: python bench/slack_ack.py [--burst 200] [--total 2000] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import Bot
from bot.config import BotConfig
from tests.fakes.slack_api import ALICE, SlackFake
from tests.fakes.slack_signing import signed_slash_command

SECRET = "bench-signing-secret"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bare_app(slack: SlackFake) -> tuple[web.AppRunner, str]:
    """A slack-bolt app whose /testnet handler only acks."""
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, retry_handlers=[])
    app = AsyncApp(client=client, signing_secret=SECRET)

    @app.command("/testnet")
    async def only_ack(ack):  # type: ignore[no-untyped-def]
        await ack()

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/slack/events"


async def shoot(http: aiohttp.ClientSession, url: str, slack: SlackFake) -> float:
    request = signed_slash_command(slack.slash_command("status", user_id=ALICE), SECRET)
    started = time.perf_counter()
    async with http.post(url, data=request.body, headers=request.headers) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url} answered {resp.status}")
    return (time.perf_counter() - started) * 1000


async def burst(
    http: aiohttp.ClientSession, url: str, slack: SlackFake, n: int
) -> tuple[list[float], float]:
    started = time.perf_counter()
    latencies = await asyncio.gather(*(shoot(http, url, slack) for _ in range(n)))
    return list(latencies), time.perf_counter() - started


async def steady(
    http: aiohttp.ClientSession, url: str, slack: SlackFake, total: int, concurrency: int
) -> tuple[list[float], float]:
    latencies: list[float] = []
    remaining = iter(range(total))

    async def worker() -> None:
        for _ in remaining:
            latencies.append(await shoot(http, url, slack))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


def figure(app: str, shape: str, latencies: list[float], elapsed: float) -> dict[str, object]:
    return {
        "bench": "slack_ack",
        "app": app,
        "shape": shape,
        "n": len(latencies),
        "p50_ms": round(percentile(latencies, 0.5), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "rps": round(len(latencies) / elapsed, 1),
    }


async def main(burst_n: int, total: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            SlackFake() as slack,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
        ):
            config = BotConfig.model_validate(
                {
                    "state": {"path": str(Path(tmp) / "bench.db")},
                    "http": {"host": "127.0.0.1", "port": 0},
                    "chat": {
                        "slack": {
                            "bot_token": slack.bot_token,
                            "signing_secret": SECRET,
                            "api_url": slack.api_url,
                        }
                    },
                    "roles": {"admin": {"slack_users": [ALICE]}},
                }
            )
            runner, bare_url = await bare_app(slack)
            results: dict[tuple[str, str], dict[str, object]] = {}
            try:
                async with Bot(config) as bot:
                    bot_url = f"{bot.url}/slack/events"
                    for name, url in (("bare_bolt", bare_url), ("testnet_bot", bot_url)):
                        await burst(http, url, slack, 20)  # warm up (auth.test, connections)
                        lat, el = await burst(http, url, slack, burst_n)
                        results[(name, "burst")] = figure(name, f"burst_{burst_n}", lat, el)
                        lat, el = await steady(http, url, slack, total, concurrency)
                        results[(name, "steady")] = figure(
                            name, f"{total}_at_concurrency_{concurrency}", lat, el
                        )
                    # let the bot finish the work it acked before it shuts down
                    await bot.services.supervisor.close(timeout=60)
            finally:
                await runner.cleanup()
    for value in results.values():
        print(json.dumps(value))
    ratios: dict[str, object] = {"bench": "slack_ack", "figure": "ratios_bot_over_bare"}
    for shape in ("burst", "steady"):
        bot_fig, bare_fig = results[("testnet_bot", shape)], results[("bare_bolt", shape)]
        ratios[f"{shape}_p99"] = round(float(bot_fig["p99_ms"]) / float(bare_fig["p99_ms"]), 2)  # type: ignore[arg-type]
        ratios[f"{shape}_p50"] = round(float(bot_fig["p50_ms"]) / float(bare_fig["p50_ms"]), 2)  # type: ignore[arg-type]
    print(json.dumps(ratios))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--total", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.burst, args.total, args.concurrency))
