"""The Grafana dashboard and the bot's alert rules against the real Prometheus
scraping a running bot: every panel's query parses and returns a series, every rule
evaluates without error and the metric it watches is there.

The bot is the real one (HTTP server, outbox worker, Slack and GitHub fakes); the
test drives it so every figure the dashboard shows has a value: a slash command,
alerts becoming an incident, a GitHub rate limit, finished and running deploys, a
sanity verdict, one item parked as dead and one waiting for a later attempt.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.binaries import require_binary
from tests.fakes.alert_payloads import alert
from tests.fakes.github_api import secondary_rate_limit
from tests.fakes.promstack import start_prometheus, wait_until
from tests.integration.incident_harness import IncidentBot, incident_bot

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "testnet-bot.json"
BOT_RULES = ROOT / "deploy" / "prometheus" / "bot-rules.yml"
JOB = "targets"
"""The scrape job the test Prometheus puts the bot in (the rules expect testnet-bot)."""
RATE_INTERVAL = "30s"
"""What Grafana's $__rate_interval becomes here (scrapes every second)."""
STALLED = {"alertname": "BlockProductionStalled", "network": "alpha"}


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query on the dashboard, variables filled in as
    Grafana would for this Prometheus."""
    dashboard = json.loads(DASHBOARD.read_text())
    out: list[tuple[str, str]] = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", RATE_INTERVAL)
            out.append((panel["title"], expr.replace("$job", JOB)))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"]["query"])
            assert found, variable
            out.append((f"${variable['name']}", f"group by ({found[2]}) ({found[1]})"))
    return out


def inner_expression(expr: str) -> str:
    """What a rule watches: its expression without ``absent(...)`` and without the
    final threshold, with the bot's job name as this Prometheus has it."""
    expr = expr.strip().replace('job="testnet-bot"', f'job="{JOB}"')
    if found := re.fullmatch(r"absent\((.*)\)", expr, re.DOTALL):
        expr = found[1].strip()
    return re.sub(r"\s*(==|!=|>=|<=|>|<)\s*[\d.]+$", "", expr)


async def drive(ib: IncidentBot) -> None:
    """Make the bot produce every figure the dashboard shows."""
    status, _, _ = await ib.sb.command("help", user="U0ALICE")
    assert status == 200
    ib.gh.inject(
        secondary_rate_limit(retry_after=1),
        times=1,
        method="POST",
        path="/repos/aztec/testnet/issues",
    )
    await ib.fire([alert({**STALLED, "instance": "v0"}), alert({**STALLED, "instance": "v1"})])
    await ib.delivered(timeout=30)
    store = ib.store
    for state in ("succeeded", "failed"):
        run = store.create_run(kind="deploy", network="alpha", args={}, owner="alice")
        store.update_run(run.id, state=state)
    running = store.create_run(kind="rollback", network="alpha", args={}, owner="alice")
    store.update_run(running.id, state="running")
    store.sanity.record(
        network="alpha",
        source="command",
        verdict="pass",
        started_at=time.time(),
        seconds=1,
        results=[
            {"kind": "prometheus", "name": "blocks", "status": "pass", "observed": "", "seconds": 1}
        ],
    )
    # Destinations of their own, so they hold up nothing else in the outbox.
    dead = store.enqueue("slack:CPARKED", "post", {"text": "never delivered"})
    store.mark_dead(dead, error="channel_not_found")
    later = store.enqueue("slack:CLATER", "post", {"text": "not yet"})
    store.mark_retry(later, at=time.time() + 3600, error="ratelimited")


@pytest.mark.slow
async def test_every_panel_and_rule_returns_a_series_from_a_running_bot(tmp_path: Path) -> None:
    binary = require_binary("prometheus")
    async with incident_bot(tmp_path) as ib:
        await drive(ib)
        target = urlsplit(ib.sb.bot.url).netloc
        async with start_prometheus(
            tmp_path, binary=binary, scrape_targets=[target], rule_files=[BOT_RULES]
        ) as prom:
            await prom.wait_for_target_up()
            queries = panel_queries()
            assert len(queries) >= 20
            empty: list[str] = []

            async def every_query_has_a_series() -> bool:
                results = {f"{title}: {expr}": await prom.query(expr) for title, expr in queries}
                empty[:] = [key for key, result in results.items() if not result]
                return not empty

            try:
                await wait_until(every_query_has_a_series, timeout=45, what="a series per panel")
            except TimeoutError:
                pytest.fail(f"panels without a series: {empty}")

            async def rules_evaluated() -> list[dict[str, Any]]:
                data = await prom.api("rules")
                rules = [r for g in data["groups"] for r in g["rules"]]
                return rules if rules and all(r["health"] != "unknown" for r in rules) else []

            rules = await wait_until(rules_evaluated, timeout=20, what="every rule evaluated")
            assert {r["name"] for r in rules} == {
                "TestnetBotDown",
                "TestnetBotOutboxBackingUp",
                "TestnetBotDeadDeliveries",
                "TestnetBotRunStuck",
            }
            for rule in rules:
                assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
                watched = inner_expression(rule["query"])
                assert await prom.query(watched), f"{rule['name']}: nothing for {watched}"
            # A healthy bot: its down alert's expression (for this job) is empty, while
            # the same expression for a job nobody scrapes fires.
            assert await prom.query(f'absent(up{{job="{JOB}"}} == 1)') == []
            assert await prom.query('absent(up{job="nobody"} == 1)')


async def test_a_query_that_does_not_parse_is_reported(tmp_path: Path) -> None:
    """The check above would see a broken panel: Prometheus refuses the query."""
    binary = require_binary("prometheus")
    async with start_prometheus(tmp_path, binary=binary) as prom:
        for _, expr in panel_queries():
            await prom.query(expr)  # parses (an error would raise), though nothing is scraped
        with pytest.raises(AssertionError, match="bad_data"):
            await prom.query(panel_queries()[0][1] + " +")
