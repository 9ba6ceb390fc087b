"""An alert storm against the running bot: does it flood GitHub or Slack, does it lose alerts?

First ``--busy`` incidents (default 40) are opened and their Slack roots posted. Then
10,000 distinct alerts over 60 s join them, sent as Alertmanager would: webhooks every
0.3 s, each also repeating alerts sent before (Alertmanager re-sends a group's alerts
on every group interval). Joined alerts are reported every 30 s per incident
(``incidents.comment_interval``), so the incident channel stays busy with thread
replies and root edits beyond Slack's one message per second. Meanwhile ten new
incidents open, spread over the storm. The bot runs in this process with GitHub and
Slack configured (HTTP-level fakes, real gidgethub and slack-sdk clients). After the
storm the bench waits (bounded) for the outbox to drain.

Prints one JSON object with: issues created (must equal the incidents), GitHub
requests in any 60 s window (max; the limit is github.per_minute = 80), Slack posts
per channel in any 1 s window (max; Slack allows ~1), alerts lost (must be 0), the
delay from the webhook that opened each new incident to its Slack root while the
channel was busy (p50/p99; target p99 <= 5 s), and duplicate GitHub writes (issues or
comments that landed twice; must be 0).
Usage: python bench/alert_storm.py [--alerts 10000] [--seconds 60] [--drain 240] [--busy 40]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import re
import statistics
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
KEYS = [(kind, network) for network in NETWORKS for kind in KINDS]
NEW_INCIDENTS = 10
ROOT_TARGET_P99 = 5.0
MARKER = re.compile(r"<!-- testnet-bot:[a-z]+:[0-9:]+ -->")


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def duplicate_writes(gh: GitHubFake) -> int:
    """Issues and comments whose hidden marker appears more than once on GitHub."""
    issues = [i for i in gh.issues.values() if not i.is_pull_request]
    seen: list[str] = [m for i in issues for m in MARKER.findall(i.body or "")[:1]]
    seen += [m for i in issues for c in i.comments for m in MARKER.findall(c.body)[:1]]
    return len(seen) - len(set(seen))


def max_in_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(
        (bisect.bisect_right(ordered, t + window - 1e-9) - i for i, t in enumerate(ordered)),
        default=0,
    )


async def main(total: int, seconds: float, drain: float, busy: int) -> None:
    ticks = max(1, int(seconds / 0.3))
    per_tick = max(1, total // ticks)
    busy = max(1, min(busy, len(KEYS) - NEW_INCIDENTS))
    base, late = KEYS[:busy], KEYS[busy : busy + NEW_INCIDENTS]
    late_at: dict[int, list[tuple[str, str]]] = {}
    for j, key in enumerate(late):
        late_at.setdefault(round((j + 1) * ticks / (len(late) + 1)), []).append(key)
    sent: list[dict[str, object]] = []
    opened_at: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with GitHubFake(token="t", repo="o/r") as gh, SlackFake() as slack:
            config = BotConfig.model_validate(
                {
                    "state": {"path": str(Path(tmp) / "bot.db")},
                    "http": {"host": "127.0.0.1", "port": 0},
                    "alertmanager": {"bearer_token": TOKEN},
                    "github": {"repo": "o/r", "token": "t", "api_url": gh.url},
                    "incidents": {"comment_interval": "30s"},
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

                async def webhook(alerts: list[dict[str, object]]) -> None:
                    async with http.post(url, data=body(alerts), headers=headers) as resp:
                        assert resp.status == 200, await resp.text()

                def key_alert(key: tuple[str, str], instance: str) -> dict[str, object]:
                    return alert({"alertname": key[0], "network": key[1], "instance": instance})

                opening = [key_alert(key, "first") for key in base]
                sent.extend(opening)
                await webhook(opening)
                warmup_deadline = time.monotonic() + 2 * len(base) + 30
                while len(slack.calls("chat.postMessage")) < len(base):
                    if time.monotonic() > warmup_deadline:
                        break
                    await asyncio.sleep(0.2)  # a bench, not a test: it polls the fake
                started = time.monotonic()
                n = 0
                for tick in range(ticks):
                    fresh = [
                        key_alert(base[i % len(base)], f"i{i}")
                        for i in range(n, min(n + per_tick, total))
                    ]
                    n += len(fresh)
                    fresh += [key_alert(key, "new") for key in late_at.get(tick, [])]
                    repeats = sent[-per_tick:]
                    sent.extend(fresh)
                    if fresh or repeats:
                        posted_at = time.monotonic()  # measured from the webhook's start
                        await webhook([*fresh, *repeats])
                        for key in late_at.get(tick, []):
                            opened_at[key] = posted_at
                    next_at = started + (tick + 1) * seconds / ticks
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                storm_s = time.monotonic() - started
                store = bot.services.store
                incidents = store.incidents.count()
                drained = await bot.services.outbox.wait_delivered(timeout=drain)
                issues = [i for i in gh.issues.values() if not i.is_pull_request]
                posts = [c.received_at for c in slack.calls("chat.postMessage")]
                edits = [c.received_at for c in slack.calls("chat.update")]
                delays = root_delays(slack, opened_at, config)
                busy_backlog = store.outbox_counts(delivered=False).get(
                    (f"slack:{INCIDENTS}", "pending"), 0
                )
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
                    "github_duplicate_writes": duplicate_writes(gh),
                    "slack_posts_per_channel_per_second_max": max_in_window(posts, 1.0),
                    "slack_edits_per_channel_per_second_max": max_in_window(edits, 1.0),
                    "slack_posts": len(posts),
                    "slack_edits": len(edits),
                    "busy_incidents": len(base),
                    "new_incidents": len(opened_at),
                    "new_root_delay_p50_s": _round(percentile(delays, 0.5)),
                    "new_root_delay_p99_s": _round(percentile(delays, 0.99)),
                    "new_root_delay_mean_s": _round(statistics.fmean(delays) if delays else None),
                    "new_root_delay_target_p99_s": ROOT_TARGET_P99,
                    "new_roots_missing": len(opened_at) - len(delays),
                    "slack_backlog_after_drain": busy_backlog,
                    "outbox_drained": drained,
                    "alerts_stored": store.incidents.count_alerts(),
                    "alerts_lost": len(sent) - store.incidents.count_alerts(),
                }
                print(json.dumps(result))


def root_delays(
    slack: SlackFake, opened_at: dict[tuple[str, str], float], config: BotConfig
) -> list[float]:
    """Seconds from the webhook that opened each new incident to its Slack root post."""
    from commands.incidents.matrix import ResolutionMatrix

    matrix = ResolutionMatrix(config.resolution_matrix, config.default_matrix_row)
    roots = [
        c
        for c in slack.calls("chat.postMessage")
        if not c.params.get("thread_ts") and c.error is None
    ]
    delays = []
    for (kind, network), at in opened_at.items():
        event = matrix.classify({"alertname": kind, "network": network}).row.event
        wanted = f"{event} ({network})"
        root = next((c for c in roots if wanted in str(c.params.get("text", ""))), None)
        if root is not None:
            delays.append(root.received_at - at)
    return delays


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--drain", type=float, default=240.0, help="longest wait for the outbox")
    parser.add_argument("--busy", type=int, default=40, help="incidents open before the storm")
    args = parser.parse_args()
    asyncio.run(main(args.alerts, args.seconds, args.drain, args.busy))
