"""The real Alertmanager (and Prometheus) binaries routing to the bot; GitHub and Slack
are the HTTP-level fakes driven by gidgethub and slack-sdk."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.binaries import require_binary
from tests.fakes.promstack import (
    MetricsEndpoint,
    make_alert,
    now,
    start_alertmanager,
    start_prometheus,
)
from tests.integration.incident_harness import TOKEN, incident_bot

ROOT = Path(__file__).resolve().parents[2]
STALLED = {"alertname": "BlockProductionStalled", "network": "alpha", "severity": "critical"}
TITLE = "[Blocker] Network instability: block production stalls (alpha)"
ACCEPTANCE = 5.0
"""Seconds from Alertmanager sending a notification to the issue and the thread existing."""
GROUP_WAIT = 1.0


async def test_alertmanager_firing_opens_issue_and_thread_and_resolving_updates_both(
    tmp_path: Path,
) -> None:
    binary = require_binary("prometheus-alertmanager")
    async with incident_bot(tmp_path) as ib:
        async with start_alertmanager(
            tmp_path, ib.hook_url, binary=binary, bearer_token=TOKEN, group_interval="2s"
        ) as am:
            summary = {"summary": "no new blocks on alpha", "runbook_url": "https://rb/blocks"}
            posted = time.monotonic()
            await am.post_alerts([make_alert(STALLED, annotations=summary)])
            # Alertmanager sends after group_wait; the bot must have both within 5 s of that.
            deadline = GROUP_WAIT + ACCEPTANCE
            await ib.gh.wait_until(lambda: len(ib.issues()) == 1, within=deadline)
            await ib.sb.slack.wait_until(
                lambda: len(ib.roots()) == 1, within=deadline - (time.monotonic() - posted)
            )
            [issue] = ib.issues()
            [root] = ib.roots()
            assert issue.title == TITLE and "https://rb/blocks" in (issue.body or "")
            assert root.text.startswith("🔴") and "Alpha Team" in root.text
            await ib.sb.slack.wait_until(lambda: f"issue #{issue.number}" in root.text, within=10)

            await am.post_alerts([make_alert(STALLED, annotations=summary, ends_at=now())])
            await ib.gh.wait_until(lambda: "resolved" in issue.labels, within=20)
            await ib.sb.slack.wait_until(lambda: root.text.startswith("✅"), within=20)
            assert any("resolved" in c.body for c in issue.comments)
            assert issue.state == "open"
            assert len(ib.issues()) == 1 and ib.store.incidents.count_alerts() == 1


async def test_prometheus_rule_fires_through_alertmanager_to_a_github_issue(
    tmp_path: Path,
) -> None:
    """deploy/prometheus/rules.yml (with ``for:`` shortened to 0s so the test takes
    seconds, not minutes) evaluated by the real Prometheus against a stalled chain."""
    am_binary = require_binary("prometheus-alertmanager")
    prom_binary = require_binary("prometheus")
    rules = (ROOT / "deploy/prometheus/rules.yml").read_text()
    quick = tmp_path / "rules.yml"
    quick.write_text(re.sub(r"for: \d+[smh]", "for: 0s", rules))
    async with incident_bot(tmp_path) as ib, MetricsEndpoint() as metrics:
        metrics.set("testnet_block_height", 1234, labels={"network": "alpha"})  # stalled
        metrics.set(
            "testnet_txs_included_total", 10, labels={"network": "alpha"}, advance_per_scrape=1
        )
        async with (
            start_alertmanager(
                tmp_path,
                ib.hook_url,
                binary=am_binary,
                bearer_token=TOKEN,
                group_by=["alertname", "network"],
            ) as am,
            start_prometheus(
                tmp_path,
                binary=prom_binary,
                scrape_targets=[metrics.target],
                rule_files=[quick],
                alertmanager_url=am.url,
            ),
        ):
            await ib.gh.wait_until(lambda: len(ib.issues()) >= 1, within=30)
            [issue] = ib.issues()
            assert issue.title == TITLE
            assert "network:alpha" in issue.labels and "criticality:blocker" in issue.labels
            assert "No new L2 blocks on alpha" in (issue.body or "")
            assert "/graph?g0.expr=" in (issue.body or ""), "the generatorURL links to Prometheus"
