"""Benchmarks stay runnable: each prints its JSON figures on a tiny run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, *args: str) -> list[dict[str, Any]]:
    """Run ``bench/<script>`` with ``args``; return its JSON lines (it must succeed)."""
    result = subprocess.run(
        [sys.executable, f"bench/{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_dispatch_bench_prints_json_figures() -> None:
    lines = run_bench("dispatch.py", "--n", "50")
    figures = {line["figure"]: line for line in lines}
    assert set(figures) == {"handler_direct_us", "dispatch_us", "dispatch_overhead_us"}
    assert all(f["n"] == 50 and f["p99"] >= f["p50"] for f in figures.values())


def test_slack_ack_bench_prints_both_apps_and_the_ratios() -> None:
    lines = run_bench("slack_ack.py", "--burst", "10", "--total", "20", "--concurrency", "2")
    apps = {(line.get("app"), line.get("shape")) for line in lines if "app" in line}
    assert apps == {
        ("bare_bolt", "burst_10"),
        ("bare_bolt", "20_at_concurrency_2"),
        ("testnet_bot", "burst_10"),
        ("testnet_bot", "20_at_concurrency_2"),
    }
    (ratios,) = [line for line in lines if line.get("figure") == "ratios_bot_over_bare"]
    assert ratios["burst_p99"] > 0 and ratios["steady_p99"] > 0


def test_alert_intake_bench_prints_both_apps_and_the_ratio() -> None:
    lines = run_bench("alert_intake.py", "--webhooks", "8", "--alerts", "10", "--concurrency", "2")
    apps = {line.get("app") for line in lines if line["figure"] == "alerts_per_s"}
    assert apps == {"bare_aiohttp_parse", "testnet_bot"}
    (ratio,) = [line for line in lines if line["figure"] == "ratio_bot_over_bare"]
    assert ratio["value"] > 0 and ratio["lost"] == 0


def test_alert_storm_bench_prints_its_figures() -> None:
    lines = run_bench(
        "alert_storm.py", "--alerts", "40", "--seconds", "3", "--drain", "15", "--busy", "2"
    )
    (storm,) = lines
    assert storm["alerts_lost"] == 0 and storm["alerts_sent"] >= 40
    assert storm["github_requests_per_minute_max"] <= storm["github_limit_per_minute"]
    assert storm["github_duplicate_writes"] == 0
    assert storm["new_incidents"] == 10 and storm["new_roots_missing"] == 0
    assert storm["new_root_delay_p99_s"] is not None


def test_rollout_bench_prints_bot_and_kubectl_figures() -> None:
    from tests.binaries import require_binary

    require_binary("kubectl")
    lines = run_bench("rollout.py", "--replicas", "4", "--repeat", "1")
    tools = {line.get("tool") for line in lines if "tool" in line}
    assert tools == {"bot", "kubectl_rollout_status"}
    (comparison,) = [line for line in lines if line.get("figure") == "comparison"]
    assert "bot_not_later_than_kubectl" in comparison


def test_sanity_bench_prints_the_bot_the_kubectl_loop_and_the_ratio() -> None:
    lines = run_bench(
        "sanity.py",
        "--validators",
        "2",
        "--provers",
        "1",
        "--bots",
        "1",
        "--lines",
        "300",
        "--repeat",
        "1",
    )
    figures = {line["figure"]: line for line in lines}
    assert set(figures) == {"bot_sanity_s", "kubectl_grep_loop_s", "ratio_loop_over_bot"}
    assert figures["bot_sanity_s"]["verdict"] == "pass" and figures["bot_sanity_s"]["pods"] == 4
    assert figures["kubectl_grep_loop_s"]["kubectl_runs"] == 2 * 3 + 1 * 2 + 1
    assert figures["ratio_loop_over_bot"]["value"] > 0


def test_discord_ack_bench_prints_both_clients_and_the_ratios() -> None:
    lines = run_bench("discord_ack.py", "--burst", "10", "--total", "20", "--concurrency", "2")
    apps = {(line.get("app"), line.get("shape")) for line in lines if "app" in line}
    assert apps == {
        ("bare_discord_py", "burst_10"),
        ("bare_discord_py", "20_at_concurrency_2"),
        ("testnet_bot", "burst_10"),
        ("testnet_bot", "20_at_concurrency_2"),
    }
    assert all(line["missing"] == 0 and line["late"] == 0 for line in lines if "app" in line)
    (ratios,) = [line for line in lines if line.get("figure") == "ratios_bot_over_bare"]
    assert ratios["burst_p99"] > 0 and ratios["steady_p99"] > 0
