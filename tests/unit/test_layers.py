"""The layer rules of DESIGN.md, checked on every run."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SDK_HOMES = {
    "slack_bolt": "integrations/slack.py",
    "slack_sdk": "integrations/slack.py",
    "discord": "integrations/chat/discord.py",
    "kubernetes_asyncio": "integrations/kube.py",
    "gidgethub": "integrations/github.py",
}
PACKAGES = ("bot", "commands", "integrations", "state")


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_each_sdk_is_imported_in_its_one_integration_module() -> None:
    offenders: list[str] = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            for sdk in _imports(path) & SDK_HOMES.keys():
                if rel != SDK_HOMES[sdk]:
                    offenders.append(f"{rel} imports {sdk} (only {SDK_HOMES[sdk]} may)")
    assert offenders == []
