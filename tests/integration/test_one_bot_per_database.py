"""One bot per database, with ``testnet-bot`` run as a user runs it (subprocesses):
a second ``run`` refuses naming the holder, ``exec`` hands its command to the running
bot (output and exit code included) and never delivers, expires or resumes anything
of its own, with or without a bot."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from state.store import Store
from integrations.slack_blocks import APPROVE_ACTION
from tests.fakes.alert_payloads import alert, body
from tests.fakes.github_api import GitHubFake, server_error, slow
from tests.fakes.slack_api import ALICE, DEPLOYS, SlackFake
from tests.fakes.slack_signing import signed_block_actions, signed_slash_command
from tests.harness import wait_until
from tests.integration.botprocess import BIN, BotProcess, start_bot
from tests.integration.slack_harness import SECRET, confirmation_id

AM_TOKEN = "am-token-one-bot"
GH_TOKEN = "ghp_one_bot"
REPO = "aztec/testnet"
NETWORKS = ["alpha", "beta", "gamma", "delta"]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


async def cli(cwd: Path, *args: str, timeout: float = 60) -> Result:
    """Run ``testnet-bot args`` without blocking the event loop the fakes serve on."""
    proc = await asyncio.create_subprocess_exec(
        *BIN,
        *args,
        cwd=cwd,
        env=dict(os.environ),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return Result(proc.returncode or 0, out.decode(), err.decode())


def write_config(tmp_path: Path, **sections: Any) -> Path:
    data: dict[str, Any] = {
        "state": {"path": str(tmp_path / "bot.db")},
        "networks": {"alpha": {"namespace": "alpha", "image": "x"}},
        "logging": {"format": "json"},
        **sections,
    }
    path = tmp_path / "bot.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


def commands_run(bot: BotProcess) -> list[str]:
    """The commands the bot process itself ran, from its log (after it stopped)."""
    done = []
    for line in "".join(bot.log).splitlines():
        if '"command_done"' in line:
            done.append(json.loads(line)["message"])
    return done


def db_rows(path: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def test_a_second_run_refuses_naming_the_holder_and_a_killed_holder_blocks_nothing(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    first = await start_bot(tmp_path, config)
    try:
        second = await cli(tmp_path, "run", "--config", str(config), "--port", "0")
        assert second.code == 1
        assert "another testnet-bot is already running" in second.stderr
        assert f"pid {first.proc.pid} on {socket.gethostname()} since 20" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.proc.returncode is None, "the refused start left the first bot alone"
        status = await cli(tmp_path, "exec", "--config", str(config), "/testnet status")
        assert status.code == 0 and "alpha" in status.stdout
    finally:
        await first.kill()
    again = await start_bot(tmp_path, config)  # the kernel dropped the killed bot's lock
    assert await again.stop() == 0


async def test_exec_hands_off_to_the_running_bot_with_its_output_and_exit_code(
    tmp_path: Path,
) -> None:
    config = str(write_config(tmp_path))
    bot = await start_bot(tmp_path, config_path := Path(config))
    try:
        ok = await cli(tmp_path, "exec", "--config", config, "--yes", "/testnet lock alpha freeze")
        assert ok.code == 0 and "`alpha` is locked: freeze" in ok.stdout, ok
        refused = await cli(tmp_path, "exec", "--config", config, "/testnet unlock alpha")
        assert refused.code == 1 and "re-run with --yes" in refused.stdout
        usage = await cli(tmp_path, "exec", "--config", config, "/testnet stats")
        assert usage.code == 2 and "Did you mean `status`?" in usage.stdout
        done = await cli(tmp_path, "exec", "--config", config, "--yes", "/testnet unlock alpha")
        assert done.code == 0 and "is unlocked" in done.stdout
    finally:
        assert await bot.stop() == 0
    ran = commands_run(bot)
    assert ran == [
        "command lock: ok",
        "command unlock: cancelled",
        "command <unknown>: unknown",
        "command unlock: ok",
    ] or len(ran) == 4, ran
    assert not (tmp_path / "bot.db.sock").exists(), "the bot removed its socket on the way out"
    assert config_path.exists()


async def test_exec_without_a_bot_runs_locally_and_touches_nothing_it_did_not_start(
    tmp_path: Path,
) -> None:
    async with GitHubFake(token=GH_TOKEN, repo=REPO) as gh:
        config = write_config(
            tmp_path, github={"repo": REPO, "token": GH_TOKEN, "api_url": gh.url}
        )
        store = Store.open(tmp_path / "bot.db")
        item = store.enqueue(f"github:{REPO}", "comment", {"number": 1, "body": "queued"})
        conf = store.confirmations.create(
            command="unlock alpha",
            plan="Unlock alpha",
            permission="deploy",
            requester="U0ALICE",
            approvals=1,
            destination=f"slack:{DEPLOYS}",
            timeout=600,
        )
        run = store.create_run(kind="deploy", network="alpha", args={}, owner="alice")
        store.close()

        result = await cli(tmp_path, "exec", "--config", str(config), "/testnet status")
        assert result.code == 0 and "alpha" in result.stdout
        bad = await cli(tmp_path, "exec", "--config", str(config), "/testnet deploi")
        assert bad.code == 2 and "Did you mean `deploy`?" in bad.stdout

        assert gh.count() == 0, "no GitHub delivery from a terminal session"
        rows = db_rows(tmp_path / "bot.db", "SELECT state FROM outbox WHERE id = ?", item)
        assert rows == [("pending",)]
        [(state,)] = db_rows(
            tmp_path / "bot.db", "SELECT state FROM confirmations WHERE id = ?", conf.id
        )
        assert state == "pending", "only the bot may expire confirmations"
        [(run_state,)] = db_rows(tmp_path / "bot.db", "SELECT state FROM runs WHERE id = ?", run.id)
        assert run_state == "pending", "only the bot may resume or abandon runs"


async def test_exec_mid_github_backlog_delivers_every_comment_once(tmp_path: Path) -> None:
    async with GitHubFake(token=GH_TOKEN, repo=REPO) as gh, aiohttp.ClientSession() as http:
        config = write_config(
            tmp_path,
            github={"repo": REPO, "token": GH_TOKEN, "api_url": gh.url},
            alertmanager={"bearer_token": AM_TOKEN},
            outbox={"base_backoff": "0.2s", "max_backoff": "1s"},
        )
        bot = await start_bot(tmp_path, config)
        try:

            async def fire(net: str, *, resolved: bool = False) -> None:
                labels = {"alertname": "BlockProductionStalled", "network": net}
                async with http.post(
                    f"{bot.url}/hooks/alertmanager",
                    data=body([alert(labels, resolved=resolved)]),
                    headers={
                        "Authorization": f"Bearer {AM_TOKEN}",
                        "Content-Type": "application/json",
                    },
                ) as resp:
                    assert resp.status == 200, await resp.text()

            for net in NETWORKS:
                await fire(net)
            await gh.wait_until(lambda: len(gh.issues) == len(NETWORKS), within=20)
            await wait_until(
                lambda: not db_rows(
                    tmp_path / "bot.db", "SELECT id FROM incidents WHERE issue_number IS NULL"
                ),
                timeout=20,
                what="every incident's issue number",
            )
            # The backlog: comment and label requests fail, then answer slowly.
            issues_path = f"/repos/{REPO}/issues/"
            gh.inject(server_error(502), times=4, method="POST", path=issues_path)
            gh.inject(slow(0.8), times=40, method="POST", path=issues_path)
            for net in NETWORKS:
                await fire(net, resolved=True)
            await gh.wait_until(lambda: gh.count("POST", issues_path) >= 2, within=20)
            for _ in range(3):
                shown = await cli(tmp_path, "exec", "--config", str(config), "/testnet incidents")
                assert shown.code == 0, shown
            await wait_until(
                lambda: not db_rows(
                    tmp_path / "bot.db", "SELECT id FROM outbox WHERE state = 'pending'"
                ),
                timeout=40,
                what="the outbox to drain",
            )
        finally:
            assert await bot.stop() == 0
        assert any(f.fault == "server_error_502" for f in gh.requests), "there was a backlog"
        for issue in gh.issues.values():
            resolved = [c for c in issue.comments if "resolved" in c.body]
            assert len(resolved) == 1, [c.body for c in issue.comments]
            assert "resolved" in issue.labels
        label_posts = [
            r for r in gh.matching("POST", issues_path) if r.path.endswith("/labels") and r.status < 300
        ]
        assert len(label_posts) == len(NETWORKS), [r.path for r in label_posts]
        assert commands_run(bot).count("command incidents: ok") == 3, "the bot ran the execs"


async def test_a_pending_slack_confirmation_survives_an_exec(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "bot.db")
    store.lock("alpha", holder="alice", reason="freeze")
    store.close()
    async with SlackFake() as slack, aiohttp.ClientSession() as http:
        config = write_config(
            tmp_path,
            chat={
                "slack": {
                    "bot_token": slack.bot_token,
                    "signing_secret": SECRET,
                    "api_url": slack.api_url,
                }
            },
            roles={"admin": {"slack_users": [ALICE]}},
            permissions={"deploy": ["admin"], "admin": ["admin"]},
        )
        bot = await start_bot(tmp_path, config)
        try:
            events = f"{bot.url}/slack/events"
            request = signed_slash_command(
                slack.slash_command("unlock alpha", user_id=ALICE, channel_id=DEPLOYS), SECRET
            )
            async with http.post(events, data=request.body, headers=request.headers) as resp:
                assert resp.status == 200

            def with_buttons() -> list[Any]:
                return [
                    m
                    for m in slack.messages(DEPLOYS)
                    if any(b.get("type") == "actions" for b in m.revisions[0].blocks or [])
                ]

            await slack.wait_until(lambda: bool(with_buttons()), within=15)
            [prompt] = with_buttons()
            revisions = len(prompt.revisions)

            for text in ("/testnet status", "/testnet help"):
                result = await cli(tmp_path, "exec", "--config", str(config), text)
                assert result.code == 0, result

            assert len(slack.message(DEPLOYS, prompt.ts).revisions) == revisions
            assert "interrupted" not in slack.message(DEPLOYS, prompt.ts).text
            [(state,)] = db_rows(tmp_path / "bot.db", "SELECT state FROM confirmations")
            assert state == "pending"

            payload = slack.block_action(
                APPROVE_ACTION,
                value=confirmation_id(prompt),
                user_id=ALICE,
                channel_id=DEPLOYS,
                message_ts=prompt.ts,
            )
            click = signed_block_actions(payload, SECRET)
            async with http.post(events, data=click.body, headers=click.headers) as resp:
                assert resp.status == 200
            await slack.wait_until(
                lambda: any("is unlocked" in m.text for m in slack.messages(DEPLOYS)), within=15
            )
        finally:
            assert await bot.stop() == 0
