"""The shipped Prometheus rules: valid for promtool, and every alert actionable."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from bot.config import default_matrix
from tests.binaries import require_binary

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
RUNBOOKS = ROOT / "docs" / "runbooks"


def _rules() -> list[dict[str, object]]:
    data = yaml.safe_load(RULES.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    promtool = require_binary("promtool")
    done = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_rule_has_summary_description_and_a_runbook_section_that_exists() -> None:
    rules = _rules()
    assert rules
    for rule in rules:
        notes = rule["annotations"]
        assert isinstance(notes, dict)
        for key in ("summary", "description", "runbook_url"):
            assert notes.get(key), f"{rule['alert']} has no {key}"
        _assert_section_exists(str(notes["runbook_url"]))


def test_every_default_matrix_row_points_at_a_runbook_section_that_exists() -> None:
    for row in default_matrix():
        assert row.runbook_url, row.event
        _assert_section_exists(row.runbook_url)


def _assert_section_exists(url: str) -> None:
    path, _, anchor = url.partition("#")
    doc = RUNBOOKS / path
    assert doc.is_file(), url
    headings = {
        "-".join(line.lstrip("#").strip().lower().split())
        for line in doc.read_text().splitlines()
        if line.startswith("## ")
    }
    assert anchor in headings, f"{url}: no section {anchor!r} in {sorted(headings)}"
