"""``/metrics`` of a running bot: process and platform collectors, and the domain
figures (alerts, open incidents, rate-limit waits, deploys and rollbacks, sanity)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.alert_payloads import alert
from tests.fakes.github_api import secondary_rate_limit
from tests.integration.incident_harness import IncidentBot, incident_bot

STALLED = {"alertname": "BlockProductionStalled", "network": "alpha"}


async def _scrape(ib: IncidentBot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with ib.sb.http.get(f"{ib.sb.bot.url}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_export_process_alerts_incidents_and_rate_limit_waits(
    tmp_path: Path,
) -> None:
    async with incident_bot(tmp_path) as ib:
        before = await _scrape(ib)
        assert ("process_resident_memory_bytes", ()) in before
        assert any(name == "python_info" for name, _ in before)
        assert not any(name == "testnet_bot_alerts_total" for name, _ in before)

        issues = "/repos/aztec/testnet/issues"
        ib.gh.inject(secondary_rate_limit(retry_after=1), times=1, method="POST", path=issues)
        await ib.fire([alert({**STALLED, "instance": "v0"}), alert({**STALLED, "instance": "v1"})])
        await ib.fire([alert({**STALLED, "instance": "v0"})])
        await ib.fire([alert({**STALLED, "instance": "v9"}, resolved=True)])
        await ib.delivered(timeout=30)
        after = await _scrape(ib)
        assert after[("testnet_bot_alerts_total", (("outcome", "new"),))] == 2
        assert after[("testnet_bot_alerts_total", (("outcome", "repeat"),))] == 1
        assert after[("testnet_bot_alerts_total", (("outcome", "ignored"),))] == 1
        key = (("criticality", "Blocker"), ("network", "alpha"), ("state", "firing"))
        assert after[("testnet_bot_incidents_open", key)] == 1
        github = (("destination", "github"),)
        assert after[("testnet_bot_rate_limit_waits_total", github)] == 1
        assert after[("testnet_bot_rate_limit_wait_seconds_total", github)] >= 1

        await ib.fire([alert({**STALLED, "instance": i}, resolved=True) for i in ("v0", "v1")])
        resolved = await _scrape(ib)
        assert resolved[("testnet_bot_alerts_total", (("outcome", "resolved"),))] == 2
        assert ("testnet_bot_incidents_open", key) not in resolved


async def test_metrics_export_rollouts_and_sanity_verdicts_from_the_records(
    tmp_path: Path,
) -> None:
    async with incident_bot(tmp_path) as ib:
        store = ib.store
        for state in ("succeeded", "failed", "succeeded"):
            run = store.create_run(kind="deploy", network="alpha", args={}, owner="alice")
            store.update_run(run.id, state=state)
        run = store.create_run(kind="rollback", network="alpha", args={}, owner="alice")
        store.update_run(run.id, state="running")
        checks = [
            {"kind": "logs", "name": "peer discovery", "status": "fail", "observed": "", "seconds": 1},
            {"kind": "prometheus", "name": "blocks", "status": "pass", "observed": "", "seconds": 1},
        ]
        store.sanity.record(
            network="alpha", source="command", verdict="fail", started_at=0, seconds=1,
            results=checks,
        )
        got = await _scrape(ib)
        ok = (("kind", "deploy"), ("network", "alpha"), ("result", "succeeded"))
        assert got[("testnet_bot_rollouts_total", ok)] == 2
        assert got[("testnet_bot_rollout_seconds_count", ok)] == 2
        inf = tuple(sorted((*ok, ("le", "+Inf"))))
        assert got[("testnet_bot_rollout_seconds_bucket", inf)] == 2
        failed = (("kind", "deploy"), ("network", "alpha"), ("result", "failed"))
        assert got[("testnet_bot_rollouts_total", failed)] == 1
        assert not any(
            name == "testnet_bot_rollouts_total" and ("kind", "rollback") in labels
            for name, labels in got
        ), "a running rollback has not finished"
        verdict = (("network", "alpha"), ("verdict", "fail"))
        assert got[("testnet_bot_sanity_runs_total", verdict)] == 1
        status = lambda check, s: (  # noqa: E731
            "testnet_bot_sanity_check_status",
            (("check", check), ("network", "alpha"), ("status", s)),
        )
        assert got[status("peer discovery (logs)", "fail")] == 1
        assert got[status("peer discovery (logs)", "pass")] == 0
        assert got[status("blocks (prometheus)", "pass")] == 1
