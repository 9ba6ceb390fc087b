"""Benchmarks stay runnable: each prints its JSON figures on a tiny run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dispatch_bench_prints_json_figures() -> None:
    result = subprocess.run(
        [sys.executable, "bench/dispatch.py", "--n", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    figures = {json.loads(line)["figure"]: json.loads(line) for line in result.stdout.splitlines()}
    assert set(figures) == {"handler_direct_us", "dispatch_us", "dispatch_overhead_us"}
    assert all(f["n"] == 50 and f["p99"] >= f["p50"] for f in figures.values())
