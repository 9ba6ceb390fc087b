"""The layer rules of DESIGN.md, checked on every run."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SDK_HOMES = {
    "slack_bolt": "integrations/chat/slack.py",
    "slack_sdk": "integrations/chat/slack.py",
    "discord": "integrations/chat/discord.py",
    "kubernetes_asyncio": "integrations/kube.py",
    "gidgethub": "integrations/github.py",
}
PACKAGES = ("bot", "commands", "integrations", "state")
AIOHTTP_HOMES = {
    "bot/app.py",
    "bot/context.py",
    "bot/incident_wiring.py",
    "bot/registry_access.py",
    "bot/sanity_wiring.py",
    "bot/web.py",
    "bot/webhooks.py",
    "integrations/chat/discord.py",  # discord.py speaks aiohttp: its connection errors
    "integrations/chat/slack.py",
    "integrations/github.py",
    "integrations/kube.py",
    "integrations/probes.py",
    "integrations/prometheus.py",
    "integrations/registry.py",
}
"""The modules that may import aiohttp: the HTTP server and its handlers, the
composition root that owns the client session, and the wrappers that speak HTTP."""


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


def test_aiohttp_is_imported_only_where_http_is_served_or_spoken() -> None:
    offenders = sorted(
        rel
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "aiohttp" in _imports(path)
        and (rel := path.relative_to(ROOT).as_posix()) not in AIOHTTP_HOMES
    )
    assert offenders == [], "aiohttp imported outside its allowed modules (add it on purpose)"
