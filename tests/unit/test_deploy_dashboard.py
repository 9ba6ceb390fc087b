"""deploy/grafana/testnet-bot.json: a Grafana dashboard on a datasource variable that
shows every figure the bot exports (the live check against Prometheus is in
tests/integration/test_dashboards.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "testnet-bot.json"
METRICS = ROOT / "bot" / "metrics.py"
SHOWN = {
    "testnet_bot_commands_total",
    "testnet_bot_command_seconds_bucket",
    "testnet_bot_outbox_items",
    "testnet_bot_outbox_deliveries_total",
    "testnet_bot_incidents_open",
    "testnet_bot_runs",
    "testnet_bot_run_oldest_running_seconds",
    "testnet_bot_rollouts_total",
    "testnet_bot_rollout_seconds_bucket",
    "testnet_bot_sanity_check_status",
    "testnet_bot_rate_limit_waits_total",
    "testnet_bot_alerts_total",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def expressions(data: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in data["panels"] for t in p.get("targets", [])]


def metric_names(exprs: list[str]) -> set[str]:
    words = {w for e in exprs for w in re.findall(r"[a-zA-Z_:][\w:]*", e)}
    return {w for w in words if w.startswith(("testnet_bot_", "process_")) or w == "up"}


def test_the_dashboard_is_on_a_datasource_variable_with_a_recent_schema() -> None:
    data = dashboard()
    assert 36 <= data["schemaVersion"] <= 41
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in data["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert 'job=~"$job"' in target["expr"], (panel["title"], target["expr"])
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids))


def test_the_dashboard_shows_every_figure_the_bot_exports() -> None:
    shown = metric_names(expressions(dashboard()))
    assert SHOWN <= shown, sorted(SHOWN - shown)
    exported = set(re.findall(r'"(testnet_bot_\w+)"', METRICS.read_text()))
    for name in exported:
        assert any(s == name or s.startswith(name + "_") for s in shown), f"{name} not shown"


def test_the_coverage_check_notices_a_renamed_metric() -> None:
    exprs = [
        e.replace("testnet_bot_alerts_total", "testnet_bot_alert_total")
        for e in expressions(dashboard())
    ]
    assert "testnet_bot_alerts_total" not in metric_names(exprs)
