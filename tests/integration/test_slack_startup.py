"""``testnet-bot run`` checks its Slack token with ``auth.test`` before it serves anything:
a refused token or an unreachable Slack stops it with a clear message, not a ready bot
that answers its first command with an error."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import yaml

from tests.fakes.slack_api import SlackFake
from tests.integration.botprocess import BIN, start_bot

SECRET = "signing-secret-for-tests"


def _config(tmp_path: Path, api_url: str) -> Path:
    path = tmp_path / "bot.yaml"
    config = {
        "state": {"path": str(tmp_path / "bot.db")},
        "http": {"host": "127.0.0.1", "port": 0},
        "chat": {
            "slack": {
                "bot_token": "${SLACK_BOT_TOKEN}",
                "signing_secret": "${SLACK_SIGNING_SECRET}",
                "api_url": api_url,
            }
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


async def _run_until_exit(tmp_path: Path, config: Path, token: str) -> tuple[int, str]:
    """Run the bot; return its exit code and stderr (it must exit within 30 s)."""
    proc = await asyncio.create_subprocess_exec(
        *BIN,
        "run",
        "--config",
        str(config),
        cwd=tmp_path,
        env={**os.environ, "SLACK_BOT_TOKEN": token, "SLACK_SIGNING_SECRET": SECRET},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, stderr.decode(errors="replace")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_valid_token_is_checked_and_the_bot_starts(tmp_path: Path) -> None:
    async with SlackFake() as slack:
        config = _config(tmp_path, slack.api_url)
        env = {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SECRET}
        bot = await start_bot(tmp_path, config, env)
        try:
            assert slack.count("auth.test") == 1
            assert any('"slack_token_ok"' in line for line in bot.log)
        finally:
            assert await bot.stop() == 0


async def test_a_wrong_token_stops_the_bot_with_a_clear_message(tmp_path: Path) -> None:
    async with SlackFake() as slack:
        wrong = "xoxb-not-the-token"
        code, stderr = await _run_until_exit(tmp_path, _config(tmp_path, slack.api_url), wrong)
        assert code == 1
        assert "error: Slack refused the bot token at start-up: invalid_auth" in stderr
        assert "SLACK_BOT_TOKEN" in stderr
        assert "Traceback" not in stderr
        assert "http_listening" not in stderr and '"ready"' not in stderr
        assert wrong not in stderr
        assert [call.error for call in slack.calls("auth.test")] == ["invalid_auth"]


async def test_a_revoked_token_names_the_fix(tmp_path: Path) -> None:
    async with SlackFake() as slack:
        slack.revoke(slack.bot_token)
        config = _config(tmp_path, slack.api_url)
        code, stderr = await _run_until_exit(tmp_path, config, slack.bot_token)
        assert code == 1
        assert "token_revoked" in stderr and "reinstall the app" in stderr
        assert "Traceback" not in stderr


async def test_an_unreachable_slack_stops_the_bot_with_a_clear_message(tmp_path: Path) -> None:
    api_url = f"http://127.0.0.1:{_closed_port()}/api/"
    code, stderr = await _run_until_exit(tmp_path, _config(tmp_path, api_url), "xoxb-test")
    assert code == 1
    assert f"error: cannot reach Slack at {api_url}" in stderr
    assert "Traceback" not in stderr
    assert "http_listening" not in stderr
