"""deploy/slack/README.md followed as a new user would: manifest, config, run in HTTP
mode, a signed /testnet help, and the help arrives in the channel."""

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
import yaml

import commands  # noqa: F401  (registers the commands)
from bot.registry import DEFAULT_REGISTRY
from integrations.chat.slack_manifest import BOT_SCOPES, usage_hint
from tests.fakes.slack_api import ALICE, DEPLOYS, SlackFake
from tests.fakes.slack_signing import signed_slash_command

ROOT = Path(__file__).resolve().parents[2]
BIN = [sys.executable, "-m", "bot.cli"]
SECRET = "new-user-signing-secret"


def test_the_manifest_matches_the_registry_and_the_readme() -> None:
    out = subprocess.run(
        [*BIN, "slack-manifest", "--url", "https://testnet-bot.example.org"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    manifest = yaml.safe_load(out)
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/testnet"
    assert command["url"] == "https://testnet-bot.example.org/slack/events"
    # every top-level command, in order, until Slack's limit (more commands than fit now)
    assert command["usage_hint"] == usage_hint(DEFAULT_REGISTRY)
    assert command["usage_hint"].startswith("audit | ") and "help" in command["usage_hint"]
    assert manifest["settings"]["interactivity"]["request_url"] == command["url"]
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert manifest["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)
    readme = (ROOT / "deploy" / "slack" / "README.md").read_text()
    for scope in BOT_SCOPES:
        assert f"`{scope}`" in readme
    socket = yaml.safe_load(
        subprocess.run(
            [*BIN, "slack-manifest"], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout
    )
    assert socket["settings"]["socket_mode_enabled"] is True
    assert "url" not in socket["features"]["slash_commands"][0]


async def test_a_new_user_gets_help_in_the_channel(tmp_path: Path) -> None:
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET}
    example = ROOT / "deploy" / "examples" / "slack.yaml"
    check = subprocess.run(
        [*BIN, "config", "check", "--config", str(example)], env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    async with SlackFake(bot_token="xoxb-test") as slack, aiohttp.ClientSession() as http:
        config = yaml.safe_load(example.read_text())
        config["chat"]["slack"]["api_url"] = slack.api_url  # the fake stands in for slack.com
        config["state"] = {"path": str(tmp_path / "bot.db")}
        path = tmp_path / "slack.yaml"
        path.write_text(yaml.safe_dump(config))
        proc = await asyncio.create_subprocess_exec(
            *BIN,
            "run",
            "--config",
            str(path),
            "--port",
            "0",
            cwd=tmp_path,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stderr is not None
            url = ""
            deadline = time.monotonic() + 20
            while not url:
                line = await asyncio.wait_for(proc.stderr.readline(), deadline - time.monotonic())
                assert line, "the bot exited before listening"
                if b'"http_listening"' in line:
                    url = json.loads(line)["message"].rsplit(" ", 1)[-1]
            request = signed_slash_command(slack.slash_command("help", user_id=ALICE), SECRET)
            async with http.post(
                f"{url}/slack/events", data=request.body, headers=request.headers
            ) as resp:
                assert resp.status == 200
            await slack.wait_until(
                lambda: any("Commands:" in m.text for m in slack.messages(DEPLOYS)), within=15
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(proc.communicate(), 10)
        assert proc.returncode == 0
        assert b"xoxb-test" not in stderr and SECRET.encode() not in stderr
