"""The bot killed mid-rollout (SIGKILL) and restarted: the deploy resumes, finishes,
and reports once, in the message it started."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import yaml

from tests.fakes.kube_api import KubeFake
from tests.fakes.slack_api import ALICE, DEPLOYS, SlackFake
from tests.fakes.slack_signing import signed_block_actions, signed_slash_command
from tests.integration.botprocess import start_bot
from tests.integration.kube_harness import (
    IMAGE,
    build_testnet,
    network_config,
    pod_images,
)
from tests.integration.slack_harness import confirmation_id

SECRET = "resume-signing-secret"
NEW = f"{IMAGE}:v0.62.0"


async def test_a_deploy_killed_mid_rollout_resumes_and_reports_once(tmp_path: Path) -> None:
    async with (
        KubeFake(ready_delay=0.15) as fake,
        SlackFake() as slack,
        aiohttp.ClientSession() as http,
    ):
        build_testnet(fake, validators=12)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        config = {
            **network_config(kubeconfig, canary_hold="0s"),
            "chat": {
                "slack": {
                    "bot_token": slack.bot_token,
                    "signing_secret": SECRET,
                    "api_url": slack.api_url,
                }
            },
            "roles": {"admin": {"slack_users": [ALICE]}},
            "state": {"path": str(tmp_path / "bot.db")},
            "logging": {"format": "json"},
        }
        path = tmp_path / "bot.yaml"
        path.write_text(yaml.safe_dump(config))

        bot = await start_bot(tmp_path, path)
        try:
            request = signed_slash_command(
                slack.slash_command("deploy v0.62.0", user_id=ALICE), SECRET
            )
            async with http.post(
                f"{bot.url}/slack/events", data=request.body, headers=request.headers
            ) as r:
                assert r.status == 200
            await slack.wait_until(
                lambda: any("Approve" in str(m.blocks) for m in slack.messages(DEPLOYS)), within=20
            )
            (ask,) = [m for m in slack.messages(DEPLOYS) if "Approve" in str(m.revisions[0].blocks)]
            click = slack.block_action(
                "testnet_confirm_approve",
                value=confirmation_id(ask),
                user_id=ALICE,
                message_ts=ask.ts,
            )
            request = signed_block_actions(click, SECRET)
            async with http.post(
                f"{bot.url}/slack/events", data=request.body, headers=request.headers
            ) as r:
                assert r.status == 200
            # kill it once a few validators run the new image, mid-rollout
            await fake.wait_until(
                lambda: 3 <= sum(i == NEW for i in pod_images(fake, "validator").values()) < 12,
                timeout=30,
            )
        finally:
            await bot.kill()
        assert sum(i == NEW for i in pod_images(fake, "validator").values()) < 12
        assert not any("✅ Deployed" in m.text for m in slack.messages(DEPLOYS))

        bot = await start_bot(tmp_path, path)
        try:
            await slack.wait_until(
                lambda: any("✅ Deployed `v0.62.0`" in m.text for m in slack.messages(DEPLOYS)),
                within=60,
            )
            # Edits go after posts in a channel's queue: the last edit may follow the report.
            await slack.wait_until(
                lambda: any(
                    m.text.startswith("🚀 Deploying") and "✅ live in" in m.text
                    for m in slack.messages(DEPLOYS)
                ),
                within=15,
            )
        finally:
            assert await bot.stop() == 0
        assert set(pod_images(fake, "validator").values()) == {NEW}
        assert set(pod_images(fake, "prover").values()) == {NEW}
        reports = [m for m in slack.messages(DEPLOYS) if "✅ Deployed `v0.62.0`" in m.text]
        assert len(reports) == 1
        (progress,) = [m for m in slack.messages(DEPLOYS) if m.text.startswith("🚀 Deploying")]
        assert "✅ live in" in progress.text  # one progress message, edited to its end
        thread = slack.messages(DEPLOYS, thread_ts=progress.ts)
        assert any("re-attached" in m.text for m in thread)
        assert "Traceback" not in "".join(bot.log)
