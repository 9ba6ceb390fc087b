"""Alerts durably accepted per second by the running bot, next to a bare aiohttp handler.

Both servers run in this process on 127.0.0.1 with the client, measured in the same
run on the same bodies: version-4 webhooks of 100 distinct alerts each (50 incident
keys: 5 alert kinds x 10 networks), POSTed at a concurrency of 16. (1) a bare aiohttp
handler that only reads and parses the JSON; (2) the bot's /hooks/alertmanager with
GitHub (fake) configured, so each webhook also opens/joins incidents and enqueues
their outbound items, all committed in one SQLite transaction before the 200.

Prints one JSON object per app and one with the ratio and the targets
(>= 20,000 alerts/s and >= 0.1 of the bare handler).
Usage: python bench/alert_intake.py [--webhooks 400] [--alerts 100] [--concurrency 16]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import Bot
from bot.config import BotConfig
from tests.fakes.alert_payloads import alert, body
from tests.fakes.github_api import GitHubFake

TOKEN = "bench-token"
KINDS = [
    "BlockProductionStalled",
    "ProofGenerationFailing",
    "TxInclusionStalled",
    "NodeSyncLagging",
    "BridgeContractFailures",
]
NETWORKS = [f"net{i}" for i in range(10)]


def bodies(webhooks: int, per: int) -> list[bytes]:
    out = []
    for w in range(webhooks):
        out.append(
            body(
                [
                    alert(
                        {
                            "alertname": KINDS[i % 5],
                            "network": NETWORKS[(i // 5) % 10],
                            "instance": f"w{w}-{i}",
                        }
                    )
                    for i in range(per)
                ]
            )
        )
    return out


async def drive(
    url: str, payloads: list[bytes], concurrency: int, headers: dict[str, str]
) -> float:
    queue = list(reversed(payloads))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            while queue:
                data = queue.pop()
                async with http.post(url, data=data, headers=headers) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


async def bare(payloads: list[bytes], concurrency: int) -> float:
    async def handle(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/hooks/alertmanager", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        return await drive(f"http://{host}:{port}/hooks/alertmanager", payloads, concurrency, {})
    finally:
        await runner.cleanup()


async def bot(payloads: list[bytes], concurrency: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        async with GitHubFake(token="t", repo="o/r") as gh:
            config = BotConfig.model_validate(
                {
                    "state": {"path": str(Path(tmp) / "bot.db")},
                    "http": {"host": "127.0.0.1", "port": 0},
                    "alertmanager": {"bearer_token": TOKEN},
                    "github": {"repo": "o/r", "token": "t", "api_url": gh.url},
                    "logging": {"level": "WARNING"},
                }
            )
            async with Bot(config) as running:
                headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
                took = await drive(
                    f"{running.url}/hooks/alertmanager", payloads, concurrency, headers
                )
                stored = running.services.store.incidents.count_alerts()
                return took, stored


async def main(webhooks: int, per: int, concurrency: int) -> None:
    payloads = bodies(webhooks, per)
    total = webhooks * per
    await bare(payloads[: max(1, webhooks // 10)], concurrency)  # warm-up
    bare_s = await bare(payloads, concurrency)
    bot_s, stored = await bot(payloads, concurrency)
    shape = {"webhooks": webhooks, "alerts_per_webhook": per, "concurrency": concurrency}
    bare_rate = total / bare_s
    bot_rate = total / bot_s
    print(
        json.dumps(
            {
                "figure": "alerts_per_s",
                "app": "bare_aiohttp_parse",
                "value": round(bare_rate),
                **shape,
            }
        )
    )
    print(
        json.dumps(
            {
                "figure": "alerts_per_s",
                "app": "testnet_bot",
                "value": round(bot_rate),
                "stored": stored,
                **shape,
            }
        )
    )
    ratio = bot_rate / bare_rate
    print(
        json.dumps(
            {
                "figure": "ratio_bot_over_bare",
                "value": round(ratio, 3),
                "targets": {"alerts_per_s": 20000, "ratio": 0.1},
                "meets_targets": bot_rate >= 20000 and ratio >= 0.1,
                "lost": total - stored,
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webhooks", type=int, default=400)
    parser.add_argument("--alerts", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.webhooks, args.alerts, args.concurrency))
