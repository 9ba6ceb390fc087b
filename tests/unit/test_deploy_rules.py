"""Every Prometheus rules file in deploy/prometheus passes `promtool check rules`; the
bot's own alerts fire in their bad case and not in the good one (`promtool test
rules`), and each points at a runbook section that exists."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.binaries import require_binary

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
BOT_RULES = PROMETHEUS / "bot-rules.yml"
RULE_TESTS = PROMETHEUS / "tests"
RUNBOOKS = ROOT / "docs" / "runbooks"
RULE_FILES = sorted(PROMETHEUS.glob("*.yml"))


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args], capture_output=True, text=True, timeout=60
    )


def rules(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def runbook_sections(doc: Path) -> set[str]:
    """The anchors of a runbook page's ``## `` headings, as a Git host renders them."""
    return {
        "-".join(line.lstrip("#").strip().lower().split())
        for line in doc.read_text().splitlines()
        if line.startswith("## ")
    }


def test_there_are_rules_files_and_the_bot_rules_are_among_them() -> None:
    assert BOT_RULES in RULE_FILES
    assert len(RULE_FILES) >= 2


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_accepts_the_rules_file(path: Path) -> None:
    done = promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = BOT_RULES.read_text().replace("> 7200", "> > 7200")
    broken.write_text(text)
    done = promtool("check", "rules", str(broken))
    assert done.returncode != 0
    assert "parse error" in (done.stdout + done.stderr).lower()


def test_each_bot_alert_fires_in_its_bad_case_and_not_in_the_good_one() -> None:
    tests = sorted(RULE_TESTS.glob("*.yml"))
    assert tests
    done = promtool("test", "rules", *map(str, tests))
    assert done.returncode == 0, done.stdout + done.stderr
    tested = {
        case["alertname"]
        for path in tests
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert tested == {rule["alert"] for rule in rules(BOT_RULES)}


def test_the_rule_tests_catch_an_alert_that_never_fires(tmp_path: Path) -> None:
    weak = tmp_path / "bot-rules.yml"
    weak.write_text(BOT_RULES.read_text().replace("> 7200", "> 720000"))
    suite = yaml.safe_load((RULE_TESTS / "bot-rules-test.yml").read_text())
    suite["rule_files"] = [str(weak)]
    path = tmp_path / "suite.yml"
    path.write_text(yaml.safe_dump(suite))
    done = promtool("test", "rules", str(path))
    assert done.returncode != 0
    assert "TestnetBotRunStuck" in done.stdout + done.stderr


def test_every_bot_alert_has_summary_description_and_a_runbook_section() -> None:
    sections = runbook_sections(RUNBOOKS / "bot.md")
    needed = {"the-bot-is-down", "the-outbox-is-backing-up", "dead-deliveries", "a-run-is-stuck"}
    assert needed <= sections
    seen: set[str] = set()
    for rule in rules(BOT_RULES):
        notes = rule["annotations"]
        for key in ("summary", "description", "runbook_url"):
            assert notes.get(key), f"{rule['alert']} has no {key}"
        page, _, anchor = notes["runbook_url"].partition("#")
        assert page == "bot.md", rule["alert"]
        assert anchor in sections, f"{rule['alert']}: no section {anchor!r} in bot.md"
        seen.add(anchor)
    assert seen == needed
    assert "no-such-section" not in sections
