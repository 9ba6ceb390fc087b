"""``exec`` while a bot runs is never a second bot: in the middle of a GitHub backlog
every comment and label is delivered once, and a pending Slack confirmation is still
there to be approved afterwards (bot and exec as subprocesses, fakes at HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from integrations.chat.slack_blocks import APPROVE_ACTION
from state.store import Store
from tests.fakes.alert_payloads import alert, body
from tests.fakes.github_api import GitHubFake, server_error, slow
from tests.fakes.slack_api import ALICE, DEPLOYS, SlackFake
from tests.fakes.slack_signing import signed_block_actions, signed_slash_command
from tests.harness import wait_until
from tests.integration.botprocess import cli, commands_run, db_rows, start_bot, write_config
from tests.integration.slack_harness import SECRET, confirmation_id

AM_TOKEN = "am-token-one-bot"
GH_TOKEN = "ghp_one_bot"
REPO = "aztec/testnet"
NETWORKS = ["alpha", "beta", "gamma", "delta"]


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
                lambda: (
                    not db_rows(
                        tmp_path / "bot.db", "SELECT id FROM incidents WHERE issue_number IS NULL"
                    )
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
                lambda: (
                    not db_rows(
                        tmp_path / "bot.db", "SELECT id FROM outbox WHERE state = 'pending'"
                    )
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
            r
            for r in gh.matching("POST", issues_path)
            if r.path.endswith("/labels") and r.status < 300
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
