"""Incidents people can act on: the issue and the Slack root say what to do and link
the runbook, the alert's source, Alertmanager and a prefilled silence; label values
are cleaned; an alert first seen resolved opens nothing (real bot, GitHub and Slack fakes)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.fakes.alert_payloads import T0, alert
from tests.integration.incident_harness import incident_bot

STALLED = {"alertname": "BlockProductionStalled", "network": "alpha", "severity": "critical"}
BASE = "https://git.example/testnet-bot/blob/main/docs/runbooks"


def stalled(instance: str, **kw: object) -> dict[str, object]:
    annotations = {
        "summary": f"no blocks on {instance}",
        "description": "Block height has not advanced for 5 minutes.",
    }
    return alert({**STALLED, "instance": instance}, annotations=annotations, **kw)  # type: ignore[arg-type]


async def test_issue_shows_summary_description_source_alertmanager_silence_and_runbook(
    tmp_path: Path,
) -> None:
    async with incident_bot(tmp_path, incidents={"runbook_base_url": BASE}) as ib:
        await ib.fire([stalled("validator-0")])
        await ib.delivered()
        [issue] = ib.issues()
        body = issue.body or ""
        assert "no blocks on validator-0" in body
        assert "Block height has not advanced for 5 minutes." in body
        assert "[source](http://prometheus:9090/graph?g0.expr=up)" in body
        assert "[Alertmanager](http://alertmanager:9093/#/alerts)" in body
        assert f"{BASE}/network-instability.md#block-production-stalls" in body
        assert "**Action:** Check the sequencer/validator pods" in body
        silence = body.split("[silence](", 1)[1].split(")", 1)[0]
        assert silence.startswith("http://alertmanager:9093/#/silences/new?filter=")
        assert unquote(silence.split("filter=", 1)[1]) == (
            '{alertname="BlockProductionStalled",instance="validator-0",'
            'network="alpha",severity="critical"}'
        )


async def test_an_alerts_own_runbook_wins_and_without_a_base_the_path_is_text(
    tmp_path: Path,
) -> None:
    async with incident_bot(tmp_path) as ib:
        own = alert(
            {**STALLED, "instance": "validator-0"},
            annotations={"summary": "s", "runbook_url": "https://wiki.example/stall"},
        )
        await ib.fire([own])
        await ib.fire([alert({"alertname": "ProofGenerationFailing", "network": "alpha"})])
        await ib.delivered()
        by_title = {i.title: i.body or "" for i in ib.issues()}
        stall = by_title["[Blocker] Network instability: block production stalls (alpha)"]
        assert "**Runbook:** [runbook](https://wiki.example/stall)" in stall
        proof = by_title["[Blocker] Network instability: proof generation failures (alpha)"]
        assert "`docs/runbooks/network-instability.md#proof-generation-failures`" in proof


async def test_slack_root_names_action_runbook_and_mentions_the_owner_group(
    tmp_path: Path,
) -> None:
    row = {
        "event": "Network instability: block production stalls",
        "matchers": ['alertname=~"BlockProduction.*"'],
        "action": "Page the sequencer on-call",
        "criticality": "Blocker",
        "owner": "Alpha Team",
        "slack_group": "S0ALPHA",
        "runbook_url": "https://wiki.example/stall",
    }
    plain = {**row, "event": "Proofs", "matchers": ['alertname="ProofFail"'], "slack_group": None}
    async with incident_bot(tmp_path, resolution_matrix=[row, plain]) as ib:
        await ib.fire([stalled("validator-0")])
        await ib.fire([alert({"alertname": "ProofFail", "network": "alpha"})])
        await ib.delivered()
        roots = {r.text.split("\n")[0].split("]")[1].split("(")[0].strip(): r for r in ib.roots()}
        stall = roots["Network instability: block production stalls"].text
        assert "<!subteam^S0ALPHA>" in stall
        assert "*Action:* Page the sequencer on-call" in stall
        assert "<https://wiki.example/stall|runbook>" in stall
        proofs = roots["Proofs"].text
        assert "<!subteam^" not in proofs and "owner Alpha Team" in proofs


async def test_an_alert_first_seen_resolved_opens_nothing(tmp_path: Path) -> None:
    async with incident_bot(tmp_path) as ib:
        answer = await ib.fire([stalled("validator-0", resolved=True)])
        assert answer["ignored"] == 1 and answer["new"] == 0 and answer["incidents"] == []
        await ib.delivered()
        assert ib.store.incidents.count() == 0 and ib.issues() == [] and ib.roots() == []
        answer = await ib.fire([stalled("validator-1")])
        assert answer["new"] == 1 and answer["incidents"] == [1]


async def test_fired_again_says_reopened_only_when_the_issue_was_closed(tmp_path: Path) -> None:
    async with incident_bot(tmp_path) as ib:
        await ib.fire([stalled("validator-0")])
        await ib.fire([stalled("validator-0", resolved=True)])
        await ib.fire([stalled("validator-0", starts_at=T0 + timedelta(hours=1))])
        await ib.delivered()
        [issue] = ib.issues()
        assert "Fired again" in issue.comments[-1].body
        assert "reopened" not in issue.comments[-1].body, "the issue was never closed"

    async with incident_bot(tmp_path / "closed", incidents={"auto_close": True}) as ib:
        await ib.fire([stalled("validator-0")])
        await ib.fire([stalled("validator-0", resolved=True)])
        await ib.delivered()
        [issue] = ib.issues()
        assert issue.state == "closed"
        await ib.fire([stalled("validator-0", starts_at=T0 + timedelta(hours=1))])
        await ib.delivered()
        assert issue.state == "open"
        assert "Fired again" in issue.comments[-1].body and "reopened" in issue.comments[-1].body


async def test_label_values_are_cleaned_before_titles_labels_and_chat(tmp_path: Path) -> None:
    hostile = "al\u202epha\x07\x1b[31m" + "x" * 300
    async with incident_bot(tmp_path) as ib:
        await ib.fire([alert({"alertname": "BlockProductionStalled", "network": hostile})])
        await ib.delivered()
        [issue] = ib.issues()
        shown = issue.title + (issue.body or "") + "".join(issue.labels) + ib.roots()[0].text
        for bad in ("\u202e", "\x07", "\x1b"):
            assert bad not in shown
        assert all(len(label) <= 50 for label in issue.labels)
        assert any(label.startswith("network:alpha[31m") for label in issue.labels)
        assert len(issue.title) <= 256


async def test_an_alert_without_a_network_label_goes_to_the_default_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="testnet_bot.incidents")
    async with incident_bot(tmp_path, incidents={"default_network": "alpha"}) as ib:
        await ib.fire([alert({"alertname": "BlockProductionStalled"})])
        await ib.delivered()
        [issue] = ib.issues()
        assert issue.title.endswith("(alpha)") and "network:alpha" in issue.labels
        assert "(unknown)" not in issue.title
    assert any("has no 'network' label" in r.getMessage() for r in caplog.records)

    async with incident_bot(tmp_path / "none") as ib:
        await ib.fire([alert({"alertname": "BlockProductionStalled"})])
        await ib.delivered()
        [issue] = ib.issues()
        assert issue.title.endswith("(unlabelled)")
