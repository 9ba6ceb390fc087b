"""The ``testnet-bot`` command as a user runs it, in subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.slack_api import SlackFake

BIN = [sys.executable, "-m", "bot.cli"]
SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-secret-slack-token-1234",
    "SLACK_SIGNING_SECRET": "signing-secret-5678",
    "GITHUB_TOKEN": "ghp_secretgithubtoken9012",
    "AM_TOKEN": "alertmanager-bearer-3456",
}
CONFIG_WITH_SECRETS = """
networks:
  alpha: {namespace: alpha-testnet, image: aztecprotocol/aztec}
chat:
  slack:
    bot_token: "${SLACK_BOT_TOKEN}"
    signing_secret: "${SLACK_SIGNING_SECRET}"
    api_url: "SLACK_API_URL"
github: {repo: example/testnet, token: "${GITHUB_TOKEN}"}
alertmanager: {bearer_token: "${AM_TOKEN}"}
logging: {level: DEBUG, format: json}
"""


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BIN, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_exec_help_lists_the_commands(tmp_path: Path) -> None:
    result = cli("exec", "/testnet help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("help", "status", "audit", "lock", "unlock"):
        assert f"/testnet {name}" in result.stdout
    assert (tmp_path / "var" / "testnet-bot.db").exists(), "embedded default state path"


def test_exec_a_typo_suggests_and_fails(tmp_path: Path) -> None:
    result = cli("exec", "/testnet stats", cwd=tmp_path)
    assert result.returncode != 0
    assert "Did you mean `/testnet status`?" in result.stdout
    result = cli("exec", "/testnet deploi", cwd=tmp_path)
    assert result.returncode != 0
    assert (
        "Unknown command `deploi`" in result.stdout
        and "Did you mean `/testnet deploy`?" in result.stdout
    )


def test_exec_refuses_a_confirmation_without_yes(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("networks: {alpha: {namespace: a, image: x}}\n")
    assert (
        cli("exec", "--config", str(config), "/testnet lock alpha freeze", cwd=tmp_path).returncode
        == 0
    )
    refused = cli("exec", "--config", str(config), "/testnet unlock alpha", cwd=tmp_path)
    assert refused.returncode == 1
    assert "re-run with --yes" in refused.stdout
    done = cli("exec", "--config", str(config), "--yes", "/testnet unlock alpha", cwd=tmp_path)
    assert done.returncode == 0 and "is unlocked" in done.stdout


def test_exec_as_a_user_without_permission_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "networks: {alpha: {namespace: a, image: x}}\n"
        "roles: {admin: {shell_users: [alice]}}\n"
        "chat: {shell: {user: alice, roles: []}}\n"
    )
    result = cli(
        "exec", "--config", str(config), "--as", "mallory", "/testnet lock alpha x", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "You need the `deploy` permission" in result.stdout


def test_config_check_names_the_broken_key(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "networks:\n  alpha:\n    namespace: a\n    image: x\n    workloads:\n"
        "      - {kind: Job, selector: app=prover}\n"
    )
    result = cli("config", "check", "--config", str(broken), cwd=tmp_path)
    assert result.returncode != 0
    assert "networks.alpha.workloads[0].kind: must be StatefulSet or Deployment (line 6)" in (
        result.stderr
    )
    good = tmp_path / "good.yaml"
    good.write_text("networks: {alpha: {namespace: a, image: x}}\n")
    result = cli("config", "check", "--config", str(good), cwd=tmp_path)
    assert result.returncode == 0 and "OK" in result.stdout
    missing = cli("config", "check", "--config", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert missing.returncode != 0 and "cannot read" in missing.stderr


def test_config_schema_and_version(tmp_path: Path) -> None:
    schema = json.loads(cli("config", "schema", cwd=tmp_path).stdout)
    assert schema["title"] == "BotConfig" and "networks" in schema["properties"]
    version = cli("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("testnet-bot ")


async def _start_run(
    cwd: Path, *args: str, env: dict[str, str]
) -> tuple[asyncio.subprocess.Process, str, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        *BIN,
        "run",
        "--port",
        "0",
        *args,
        cwd=cwd,
        env={**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20
    url = ""
    while not url:
        line = await asyncio.wait_for(proc.stderr.readline(), deadline - time.monotonic())
        if not line:
            raise AssertionError("bot exited before listening:\n" + "".join(lines))
        lines.append(line.decode())
        if '"http_listening"' in lines[-1]:
            url = json.loads(lines[-1])["message"].rsplit(" ", 1)[-1]
    return proc, url, lines


async def _stop(proc: asyncio.subprocess.Process, lines: list[str]) -> tuple[int, float, str]:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 10)
    elapsed = time.monotonic() - started
    lines.append(stderr.decode())
    return proc.returncode or 0, elapsed, "".join(lines) + stdout.decode()


async def test_run_serves_health_and_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc, url, lines = await _start_run(tmp_path, env={})
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/healthz") as resp:
                assert resp.status == 200 and (await resp.json())["status"] == "ok"
            async with http.get(f"{url}/readyz") as resp:
                assert resp.status == 200
            async with http.get(f"{url}/metrics") as resp:
                assert resp.status == 200
                families = {f.name for f in text_string_to_metric_families(await resp.text())}
        assert {"testnet_bot_outbox_items", "testnet_bot_runs"} <= families
    finally:
        code, elapsed, output = await _stop(proc, lines)
    assert code == 0
    assert elapsed < 5
    assert "Traceback" not in output
    first = "".join(lines[:3])
    assert "built-in defaults" in first and "var/testnet-bot.db" in first


async def test_secrets_never_appear_in_logs(tmp_path: Path) -> None:
    async with SlackFake(bot_token=SECRETS["SLACK_BOT_TOKEN"]) as slack:
        config = tmp_path / "bot.yaml"
        config.write_text(CONFIG_WITH_SECRETS.replace("SLACK_API_URL", slack.api_url))
        proc, url, lines = await _start_run(tmp_path, "--config", str(config), env=SECRETS)
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/metrics") as resp:
                    assert resp.status == 200
        finally:
            code, _, output = await _stop(proc, lines)
        assert code == 0
        assert '"level": "debug"' in output or '"level": "info"' in output  # logs were written
        result = await asyncio.to_thread(
            cli, "exec", "--config", str(config), "/testnet status", cwd=tmp_path, env=SECRETS
        )
    output += result.stdout + result.stderr
    assert slack.count("auth.test") >= 1  # the token was used, and still never logged
    for value in SECRETS.values():
        assert value not in output
