"""An alert storm against the running bot: does it flood GitHub or Slack, does it lose alerts?

10,000 distinct alerts over 60 s in 50 incident keys (5 alert kinds x 10 networks),
sent as Alertmanager would: webhooks every 0.3 s, each also repeating alerts sent
before (Alertmanager re-sends a group's alerts on every group interval). The bot runs
in this process with GitHub and Slack configured (HTTP-level fakes, real gidgethub and
slack-sdk clients). After the storm the bench waits (bounded) for the outbox to drain.

Prints one JSON object with: issues created (must equal the incidents), GitHub
requests in any 60 s window (max; the limit is github.per_minute = 80), Slack posts
per channel in any 1 s window (max; Slack allows ~1), and alerts lost (must be 0).
Usage: python bench/alert_storm.py [--alerts 10000] [--seconds 60] [--drain 240]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import Bot
from bot.config import BotConfig
from tests.fakes.alert_payloads import alert, body
from tests.fakes.github_api import GitHubFake
from tests.fakes.slack_api import INCIDENTS, SlackFake

TOKEN = "storm-token"
KINDS = [
    "BlockProductionStalled",
    "ProofGenerationFailing",
    "TxInclusionStalled",
    "NodeSyncLagging",
    "BridgeContractFailures",
]
NETWORKS = [f"net{i}" for i in range(10)]


def max_in_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(
        (bisect.bisect_right(ordered, t + window - 1e-9) - i for i, t in enumerate(ordered)),
        default=0,
    )


async def main(total: int, seconds: float, drain: float) -> None:
    ticks = max(1, int(seconds / 0.3))
    per_tick = max(1, total // ticks)
    sent: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with GitHubFake(token="t", repo="o/r") as gh, SlackFake() as slack:
            config = BotConfig.model_validate(
                {
                    "state": {"path": str(Path(tmp) / "bot.db")},
                    "http": {"host": "127.0.0.1", "port": 0},
                    "alertmanager": {"bearer_token": TOKEN},
                    "github": {"repo": "o/r", "token": "t", "api_url": gh.url},
                    "chat": {
                        "slack": {
                            "bot_token": slack.bot_token,
                            "signing_secret": "s",
                            "api_url": slack.api_url,
                            "channels": {"incidents": INCIDENTS},
                        }
                    },
                    "logging": {"level": "WARNING"},
                }
            )
            async with Bot(config) as bot, aiohttp.ClientSession() as http:
                url = f"{bot.url}/hooks/alertmanager"
                headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
                started = time.monotonic()
                n = 0
                for tick in range(ticks):
                    fresh = [
                        alert(
                            {
                                "alertname": KINDS[i % 5],
                                "network": NETWORKS[(i // 5) % 10],
                                "instance": f"i{i}",
                            }
                        )
                        for i in range(n, min(n + per_tick, total))
                    ]
                    n += len(fresh)
                    repeats = sent[-per_tick:]
                    sent.extend(fresh)
                    if fresh or repeats:
                        async with http.post(
                            url, data=body([*fresh, *repeats]), headers=headers
                        ) as resp:
                            assert resp.status == 200, await resp.text()
                    next_at = started + (tick + 1) * seconds / ticks
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                storm_s = time.monotonic() - started
                store = bot.services.store
                incidents = store.incidents.count()
                drained = await bot.services.outbox.wait_delivered(timeout=drain)
                issues = [i for i in gh.issues.values() if not i.is_pull_request]
                posts = [c.received_at for c in slack.calls("chat.postMessage")]
                edits = [c.received_at for c in slack.calls("chat.update")]
                result = {
                    "figure": "alert_storm",
                    "alerts_sent": len(sent),
                    "storm_seconds": round(storm_s, 1),
                    "incidents": incidents,
                    "issues_created": len(issues),
                    "github_requests": len(gh.requests),
                    "github_requests_per_minute_max": max_in_window(
                        [r.received_at for r in gh.requests], 60.0
                    ),
                    "github_limit_per_minute": config.github.per_minute if config.github else None,
                    "slack_posts_per_channel_per_second_max": max_in_window(posts, 1.0),
                    "slack_edits_per_channel_per_second_max": max_in_window(edits, 1.0),
                    "slack_posts": len(posts),
                    "slack_edits": len(edits),
                    "outbox_drained": drained,
                    "alerts_stored": store.incidents.count_alerts(),
                    "alerts_lost": len(sent) - store.incidents.count_alerts(),
                }
                print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--drain", type=float, default=240.0, help="longest wait for the outbox")
    args = parser.parse_args()
    asyncio.run(main(args.alerts, args.seconds, args.drain))
