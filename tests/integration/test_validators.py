"""Validator onboarding: ``validator ready``, ``validator add`` (Jobs on the Kubernetes
fake), the cap, the daily quota, the start epoch (real Prometheus), Job failures and
their retry, ``validator remove``, and the set's listing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bot.app import Bot
from bot.core import Outcome
from state.store import Store
from tests.binaries import require_binary
from tests.fakes.aztec_node import AztecNodeFake, sibling_path
from tests.fakes.discord_api import APPRENTICE, GENERAL, GUILD_ID, DiscordFake
from tests.fakes.discord_payloads import FakeUser
from tests.fakes.kube_api import KubeFake
from tests.fakes.kube_jobs import JobScript
from tests.fakes.promstack import MetricsEndpoint, start_prometheus
from tests.fakes.slack_api import ALICE, BOB, DEPLOYS, SlackFake
from tests.fakes.slack_signing import signed_block_actions, signed_slash_command
from tests.harness import ShellBot, make_config, wait_until
from tests.integration.botprocess import start_bot
from tests.integration.slack_harness import SECRET, SlackBot, confirmation_id
from tests.integration.validators_harness import (
    ADDRESSES,
    NAMESPACE,
    NOTICES,
    network,
    queued,
)

ADD_IMAGE = "aztecprotocol/aztec:0.62.0"
RESUME_SECRET = "validators-resume-signing-secret"
ADD_JOB = {
    "image": ADD_IMAGE,
    "args": ["add-l1-validator", "--validator", "{address}"],
    "secret_env": [{"name": "FUNDER_PRIVATE_KEY", "secret": "l1-funder", "key": "private-key"}],
    "env": {"L1_CHAIN_ID": "11155111"},
    "timeout": "30s",
}


@asynccontextmanager
async def onboarding_bot(
    tmp_path: Path, fake: KubeFake, *, assume_yes: bool | None = True, **validators: Any
) -> AsyncIterator[ShellBot]:
    """A shell bot (an admin; approving every confirmation unless ``assume_yes`` is
    None, then answering from the console's queue) whose network adds validators by Job
    on ``fake``."""
    fake.add_secret("l1-funder", {"private-key": "0xfunded"}, namespace=NAMESPACE)
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    settings = {"add_job": ADD_JOB, "discord_channel": NOTICES, **validators}
    config = make_config(
        tmp_path, networks=network(**settings), kubernetes={"kubeconfig": str(kubeconfig)}
    )
    async with ShellBot(config, assume_yes=assume_yes) as bot:
        yield bot


def state(bot: ShellBot, address: str) -> str | None:
    record = bot.store.validators.get("alpha", address.lower())
    return record.state if record else None


def notices(bot: ShellBot) -> list[str]:
    return [p["text"] for d, op, p in queued(bot) if d == f"discord:{NOTICES}"]


def jobs(fake: KubeFake) -> list[dict[str, Any]]:
    return fake.cluster.items("jobs", NAMESPACE)


async def test_ready_then_add_runs_the_job_and_records_it_added(tmp_path: Path) -> None:
    async with KubeFake() as fake, onboarding_bot(tmp_path, fake) as bot:
        out = await bot.say(f"validator ready {ADDRESSES[0]} Carol from Nethermind")
        assert "is ready to be added" in out
        assert state(bot, ADDRESSES[0]) == "ready"
        out = await bot.say(f"validator add {ADDRESSES[0]}")
        assert bot.last_outcome is Outcome.OK, out
        assert "Added 1 of 1 validator(s) to `alpha`: 1/48 in the set" in out
        assert state(bot, ADDRESSES[0]) == "added"
        (job,) = jobs(fake)
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == ADD_IMAGE
        assert container["args"] == ["add-l1-validator", "--validator", ADDRESSES[0]]
        secret = next(e for e in container["env"] if e["name"] == "FUNDER_PRIVATE_KEY")
        assert secret["valueFrom"]["secretKeyRef"] == {"name": "l1-funder", "key": "private-key"}
        assert job["spec"]["backoffLimit"] == 0  # adding must not run twice by itself
        (notice,) = notices(bot)
        assert ADDRESSES[0] in notice and "alpha" in notice
        assert "FUNDER" not in notice and "Carol" not in notice  # a short public notice
        out = await bot.say("validators")
        assert "1/48 added" in out and ADDRESSES[0] in out and "Carol from Nethermind" in out
        # an address already in the set is refused with its state
        out = await bot.say(f"validator add {ADDRESSES[0]}")
        assert bot.last_outcome is Outcome.FAILED and "is added" in out
        out = await bot.say(f"validator ready {ADDRESSES[0]}")
        assert bot.last_outcome is Outcome.FAILED and "is added" in out
        assert len(jobs(fake)) == 1


async def test_bad_duplicate_and_badly_checksummed_addresses_change_nothing(
    tmp_path: Path,
) -> None:
    async with KubeFake() as fake, onboarding_bot(tmp_path, fake) as bot:
        bad_checksum = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"
        for text, why in [
            ("validator ready 0xnothex", "is not an address"),
            ("validator ready 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA", "is not an address"),
            (f"validator ready {bad_checksum}", "fails its EIP-55 checksum"),
        ]:
            out = await bot.say(text)
            assert bot.last_outcome is Outcome.USAGE, text
            assert why in out
        await bot.say(f"validator ready {ADDRESSES[0]}")
        out = await bot.say(f"validator ready {ADDRESSES[0].upper().replace('0X', '0x')}")
        assert bot.last_outcome is Outcome.FAILED and "is ready" in out  # same address
        await bot.say(f"validator ready {ADDRESSES[1]}")
        for text, why in [
            (f"validator add {ADDRESSES[0]} {ADDRESSES[0].lower()}", "is given twice"),
            (f"validator add {ADDRESSES[0]} {bad_checksum}", "fails its EIP-55 checksum"),
            (f"validator add {ADDRESSES[0]} {ADDRESSES[2]}", "is not recorded as ready"),
            (f"validator add {ADDRESSES[0]} --all-ready", "not both"),
        ]:
            out = await bot.say(text)
            assert bot.last_outcome is Outcome.FAILED, text
            assert why in out, out
        assert jobs(fake) == []
        assert [state(bot, a) for a in ADDRESSES[:3]] == ["ready", "ready", None]


async def test_the_cap_counts_added_and_in_progress_validators(tmp_path: Path) -> None:
    async with KubeFake() as fake, onboarding_bot(tmp_path, fake, max=2) as bot:
        for address in ADDRESSES[:3]:
            await bot.say(f"validator ready {address}")
        out = await bot.say("validator add --all-ready")
        assert bot.last_outcome is Outcome.FAILED
        assert "holds at most 2" in out and "2 more fit, not 3" in out
        assert jobs(fake) == [] and state(bot, ADDRESSES[0]) == "ready"
        out = await bot.say(f"validator add {ADDRESSES[0]} {ADDRESSES[1]}")
        assert bot.last_outcome is Outcome.OK, out
        out = await bot.say(f"validator add {ADDRESSES[2]}")
        assert bot.last_outcome is Outcome.FAILED
        assert "holds at most 2; 2 are added or being added, so 0 more fit" in out
        assert len(jobs(fake)) == 2 and state(bot, ADDRESSES[2]) == "ready"


async def test_the_daily_quota_says_when_the_next_slot_opens(tmp_path: Path) -> None:
    async with KubeFake() as fake, onboarding_bot(tmp_path, fake, per_day=1) as bot:
        await bot.say(f"validator ready {ADDRESSES[0]}")
        await bot.say(f"validator ready {ADDRESSES[1]}")
        assert (await bot.say(f"validator add {ADDRESSES[0]}")) and bot.last_outcome is Outcome.OK
        added_at = bot.store.validators.get("alpha", ADDRESSES[0].lower()).added_at
        out = await bot.say(f"validator add {ADDRESSES[1]}")
        assert bot.last_outcome is Outcome.FAILED
        assert "at most 1 validators may be added to `alpha` in 24 hours" in out
        from commands.text import timestamp

        assert f"The next slot opens at {timestamp(added_at + 86400)}" in out
        assert state(bot, ADDRESSES[1]) == "ready" and len(jobs(fake)) == 1


async def test_a_failed_job_shows_its_log_and_a_retry_adds_it(tmp_path: Path) -> None:
    async with KubeFake() as fake, onboarding_bot(tmp_path, fake, assume_yes=None) as bot:
        fake.script_job(
            ADDRESSES[1],
            JobScript(exit_code=1, logs="funding the validator\nError: insufficient funds for gas"),
        )
        await bot.say(f"validator ready {ADDRESSES[0]}")
        await bot.say(f"validator ready {ADDRESSES[1]}")
        bot.console.answers.put_nowait("y")  # add both
        out = await bot.say("validator add --all-ready", answer="n")  # no retry now
        assert bot.last_outcome is Outcome.FAILED
        assert "Added 1 of 2" in out and "1 failed" in out
        assert "insufficient funds for gas" in out  # the Job's log tail
        assert f"Retry with `/testnet validator add {ADDRESSES[1]}`" in out
        assert f"Retry adding 1 validator(s) to `alpha` that failed: `{ADDRESSES[1]}`" in (
            bot.console.text
        )
        assert "Not retried" in out
        assert state(bot, ADDRESSES[0]) == "added" and state(bot, ADDRESSES[1]) == "failed"
        assert len(notices(bot)) == 1
        out = await bot.say("validators")
        assert "1/48 added, 1 failed" in out
        fake.script_job(ADDRESSES[1], JobScript(exit_code=0, logs="validator added"))
        out = await bot.say(f"validator add {ADDRESSES[1]}", answer="y")
        assert bot.last_outcome is Outcome.OK, out
        assert state(bot, ADDRESSES[1]) == "added" and len(notices(bot)) == 2
        assert len(jobs(fake)) == 3  # the retry is a new Job


async def test_the_retry_offered_after_a_failure_adds_it_when_approved(tmp_path: Path) -> None:
    async with KubeFake() as fake, onboarding_bot(tmp_path, fake, assume_yes=None) as bot:
        fake.script_job(ADDRESSES[0], JobScript(exit_code=1, logs="L1 RPC timed out"))
        await bot.say(f"validator ready {ADDRESSES[0]}")
        bot.console.answers.put_nowait("y")

        async def approve_the_retry_once_fixed() -> None:
            await wait_until(lambda: len(bot.console.prompts) == 2, timeout=20)
            assert "Retry adding 1 validator(s)" in bot.console.text
            fake.script_job(ADDRESSES[0], JobScript(exit_code=0))  # the L1 RPC is back
            bot.console.answers.put_nowait("y")

        clicker = asyncio.create_task(approve_the_retry_once_fixed())
        out = await bot.say(f"validator add {ADDRESSES[0]}")
        await clicker
        assert bot.last_outcome is Outcome.OK, out
        assert "L1 RPC timed out" in out and "Added 1 of 1" in out
        assert state(bot, ADDRESSES[0]) == "added"
        assert len(jobs(fake)) == 2 and len(notices(bot)) == 1
        assert len(bot.console.prompts) == 2  # the retry is offered once, not again


async def test_a_missing_secret_fails_the_job_with_the_reason(tmp_path: Path) -> None:
    job = {
        **ADD_JOB,
        "secret_env": [{"name": "KEY", "secret": "absent", "key": "k"}],
        "timeout": "60s",
    }
    async with (
        KubeFake() as fake,
        onboarding_bot(tmp_path, fake, add_job=job, assume_yes=None) as bot,
    ):
        await bot.say(f"validator ready {ADDRESSES[0]}")
        started = time.monotonic()
        bot.console.answers.put_nowait("y")
        await bot.say(f"validator add {ADDRESSES[0]}", answer="n")  # no retry
        assert bot.last_outcome is Outcome.FAILED
        assert time.monotonic() - started < 30  # not the Job's whole 60 s deadline
        text = bot.console.text
        assert "container cannot start" in text and 'secret "absent" not found' in text
        assert state(bot, ADDRESSES[0]) == "failed"
        assert jobs(fake) == []  # the stuck Job was deleted


async def test_remove_takes_it_out_of_the_records(tmp_path: Path) -> None:
    async with KubeFake() as fake, onboarding_bot(tmp_path, fake) as bot:
        await bot.say(f"validator ready {ADDRESSES[0]}")
        await bot.say(f"validator add {ADDRESSES[0]}")
        out = await bot.say(f"validator remove {ADDRESSES[1]}")
        assert bot.last_outcome is Outcome.FAILED and "is not in" in out
        out = await bot.say(f"validator remove {ADDRESSES[0]}")
        assert bot.last_outcome is Outcome.OK and "no longer in" in out
        assert state(bot, ADDRESSES[0]) == "removed"
        assert "0/48 added" in await bot.say("validators")
        # a removed address may be recorded as ready again
        await bot.say(f"validator ready {ADDRESSES[0]}")
        assert state(bot, ADDRESSES[0]) == "ready"


async def test_remove_runs_the_configured_removal_job(tmp_path: Path) -> None:
    removal = {**ADD_JOB, "args": ["remove-l1-validator", "--validator", "{address}"]}
    async with KubeFake() as fake, onboarding_bot(tmp_path, fake, remove_job=removal) as bot:
        await bot.say(f"validator ready {ADDRESSES[0]}")
        await bot.say(f"validator add {ADDRESSES[0]}")
        fake.script_job("remove-l1-validator", JobScript(exit_code=1, logs="not a validator"))
        out = await bot.say(f"validator remove {ADDRESSES[0]}")
        assert bot.last_outcome is Outcome.FAILED and "not a validator" in out
        assert state(bot, ADDRESSES[0]) == "added"
        fake.script_job("remove-l1-validator", JobScript(exit_code=0))
        out = await bot.say(f"validator remove {ADDRESSES[0]}")
        assert bot.last_outcome is Outcome.OK and "removed from `alpha` by Job" in out
        assert state(bot, ADDRESSES[0]) == "removed"
        args = [j["spec"]["template"]["spec"]["containers"][0]["args"][0] for j in jobs(fake)]
        assert args == ["add-l1-validator", "remove-l1-validator", "remove-l1-validator"]


async def test_validators_are_not_added_before_the_start_epoch(tmp_path: Path) -> None:
    binary = require_binary("prometheus")
    async with MetricsEndpoint() as chain, KubeFake() as fake:
        chain.set("aztec_current_epoch", 3)
        async with start_prometheus(tmp_path, binary=binary, scrape_targets=[chain.target]) as prom:
            await prom.wait_for_target_up()
            settings = {
                "start_epoch": 5,
                "epoch_query": "max(aztec_current_epoch)",
                "prometheus_url": prom.url,
            }
            async with onboarding_bot(tmp_path, fake, **settings) as bot:
                await bot.say(f"validator ready {ADDRESSES[0]}")
                out = await bot.say(f"validator add {ADDRESSES[0]}")
                assert bot.last_outcome is Outcome.FAILED
                assert "`alpha` is at epoch 3; validators are added from epoch 5" in out
                assert jobs(fake) == [] and state(bot, ADDRESSES[0]) == "ready"
                chain.set("aztec_current_epoch", 5)

                async def epoch_five() -> bool:
                    samples = await prom.query("max(aztec_current_epoch)")
                    return bool(samples) and samples[0]["value"][1] == "5"

                await wait_until(epoch_five, timeout=20)
                out = await bot.say(f"validator add {ADDRESSES[0]}")
                assert bot.last_outcome is Outcome.OK, out
                assert state(bot, ADDRESSES[0]) == "added"


async def test_a_bot_killed_while_a_job_runs_reattaches_and_reports_once(tmp_path: Path) -> None:
    async with (
        KubeFake() as fake,
        SlackFake() as slack,
        aiohttp.ClientSession() as http,
    ):
        fake.add_secret("l1-funder", {"private-key": "0xfunded"}, namespace=NAMESPACE)
        fake.script_job(ADDRESSES[0], JobScript(exit_code=0, logs="added", duration=6.0))
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        config = {
            "networks": network(add_job=ADD_JOB, discord_channel=NOTICES),
            "kubernetes": {"kubeconfig": str(kubeconfig)},
            "chat": {
                "slack": {
                    "bot_token": slack.bot_token,
                    "signing_secret": RESUME_SECRET,
                    "api_url": slack.api_url,
                }
            },
            "roles": {"admin": {"slack_users": [ALICE]}},
            "state": {"path": str(tmp_path / "bot.db")},
            "logging": {"format": "json"},
        }
        path = tmp_path / "bot.yaml"
        path.write_text(yaml.safe_dump(config))

        async def command(url: str, text: str) -> None:
            request = signed_slash_command(slack.slash_command(text, user_id=ALICE), RESUME_SECRET)
            async with http.post(
                f"{url}/slack/events", data=request.body, headers=request.headers
            ) as r:
                assert r.status == 200

        bot = await start_bot(tmp_path, path)
        try:
            await command(bot.url, f"validator ready {ADDRESSES[0]}")
            await slack.wait_until(
                lambda: any("is ready to be added" in m.text for m in slack.messages(DEPLOYS)),
                within=20,
            )
            await command(bot.url, f"validator add {ADDRESSES[0]}")
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
            request = signed_block_actions(click, RESUME_SECRET)
            async with http.post(
                f"{bot.url}/slack/events", data=request.body, headers=request.headers
            ) as r:
                assert r.status == 200
            await fake.wait_until(
                lambda: any(
                    p["status"].get("phase") == "Running"
                    for j in jobs(fake)
                    for p in fake.job_pods(j["metadata"]["name"], NAMESPACE)
                ),
                timeout=20,
            )
        finally:
            await bot.kill()
        assert not any("Added 1 of 1" in m.text for m in slack.messages(DEPLOYS))
        (job,) = jobs(fake)
        assert "Complete" not in str(job.get("status"))

        bot = await start_bot(tmp_path, path)
        try:
            await slack.wait_until(
                lambda: any("Added 1 of 1" in m.text for m in slack.messages(DEPLOYS)), within=40
            )
        finally:
            assert await bot.stop() == 0
        assert len([m for m in slack.messages(DEPLOYS) if "Added 1 of 1" in m.text]) == 1
        assert len(jobs(fake)) == 1  # re-attached to the same Job, none started again
        (progress,) = [m for m in slack.messages(DEPLOYS) if m.text.startswith("🧾 Adding")]
        assert "✅" in progress.text and "added" in progress.text  # edited in place
        thread = [m.text for m in slack.messages(DEPLOYS, thread_ts=progress.ts)]
        assert any("re-attached" in t for t in thread)
        assert len([t for t in thread if "added to `alpha` by Job" in t]) == 1
        store = Store.open(tmp_path / "bot.db")
        try:
            record = store.validators.get("alpha", ADDRESSES[0].lower())
            assert record is not None and record.state == "added"
            rows = store.conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE destination = ?", (f"discord:{NOTICES}",)
            ).fetchone()
            assert rows[0] == 1  # one public notice
        finally:
            store.close()
        assert "Traceback" not in "".join(bot.log)


async def test_acceptance_three_operators_pass_a_fourth_fails_and_engineering_adds_them(
    tmp_path: Path,
) -> None:
    """As new users would: operators self-check in Discord, DevRel and engineering work
    in Slack, and the public notices appear in the Discord channel."""
    operators = [FakeUser(1_300_000_000_000_000_050 + i, f"operator-{i}") for i in range(4)]
    async with (
        KubeFake() as fake,
        AztecNodeFake() as node,
        DiscordFake() as discord,
        SlackFake() as slack,
        aiohttp.ClientSession() as http,
    ):
        fake.add_secret("l1-funder", {"private-key": "0xfunded"}, namespace=NAMESPACE)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        settings = {
            "add_job": ADD_JOB,
            "discord_channel": GENERAL,
            "discord_guild": GUILD_ID,
            "discord_role": APPRENTICE,
            "reference_rpc": node.url,
        }
        config = make_config(
            tmp_path,
            networks=network(**settings),
            kubernetes={"kubeconfig": str(kubeconfig)},
            chat={
                "slack": {
                    "bot_token": slack.bot_token,
                    "signing_secret": SECRET,
                    "api_url": slack.api_url,
                },
                "discord": {
                    "token": discord.token,
                    "api_url": discord.api_url,
                    "guilds": [GUILD_ID],
                },
            },
            roles={"admin": {}, "engineering": {"slack_users": [ALICE]}},
            permissions={"validator_add": ["engineering"]},
        )
        async with Bot(config) as bot:
            sb = SlackBot(bot, slack, http)
            store = bot.services.store
            block = node.proven
            for i, user in enumerate(operators):
                proof = (
                    node.expected_proof(block) if i < 3 else sibling_path("a-fork", block, block)
                )
                options = {"address": ADDRESSES[i], "block_number": block, "proof": proof}
                record = await discord.dispatch_interaction(
                    discord.slash_command("testnet operator start", options, user=user)
                )
                await discord.wait_until(
                    lambda r=record: r.original is not None and not r.original.is_loading, 10
                )
                assert record.original is not None
                if i < 3:
                    assert "passed the self-check" in record.original.content
                else:
                    assert "differs from the reference node's" in record.original.content
            await discord.wait_until(lambda: len(discord.role_changes) == 3, 10)
            assert {c.user_id for c in discord.role_changes} == {u.id for u in operators[:3]}
            assert [state_of(store, a) for a in ADDRESSES] == ["ready"] * 3 + [None]

            status, _, _ = await sb.command("validator add --all-ready", user=ALICE)
            assert status == 200
            ask = await sb.confirmation_message()
            assert all(a in ask.text for a in ADDRESSES[:3]) and ADDRESSES[3] not in ask.text
            status, _ = await sb.click(ask, user=ALICE)
            assert status == 200
            await slack.wait_until(lambda: any("Added 3 of 3" in t for t in sb.texts()), within=30)

            def public_notices() -> list[str]:
                return [
                    m.content for m in discord.messages(GENERAL) if "new validator" in m.content
                ]

            await discord.wait_until(lambda: len(public_notices()) == 3, 10)
            assert [ADDRESSES[i] in public_notices()[i] for i in range(3)] == [True] * 3
            (progress,) = [m for m in slack.messages(DEPLOYS) if m.text.startswith("🧾 Adding")]
            details = [m.text for m in slack.messages(DEPLOYS, thread_ts=progress.ts)]
            assert len([d for d in details if "added to `alpha` by Job" in d]) == 3

            # DevRel records a fourth operator by hand with Slack's /validator command;
            # someone without validator_add is refused
            for user in (BOB, ALICE):
                fields = slack.slash_command(
                    f"ready {ADDRESSES[3]} dave", command="/validator", user_id=user
                )
                request = signed_slash_command(fields, SECRET)
                async with http.post(
                    sb.events_url, data=request.body, headers=request.headers
                ) as r:
                    assert r.status == 200
                await wait_until(
                    lambda u=user: any(
                        e.actor == u and e.command == "validator ready"
                        for e in store.recent_audit(50)
                    ),
                    timeout=10,
                )
            assert state_of(store, ADDRESSES[3]) == "ready"
            await sb.command("validators", user=ALICE)
            await slack.wait_until(
                lambda: any("3/48 added, 1 ready" in t for t in sb.texts()), within=10
            )

            entries = [(e.actor, e.command, e.outcome) for e in reversed(store.recent_audit(100))]
            assert entries[:4] == [(str(u.id), "operator start", "ok") for u in operators[:3]] + [
                (str(operators[3].id), "operator start", "failed")
            ]
            per_address = [
                e for e in store.recent_audit(100) if e.detail.startswith("Job validator-add-")
            ]
            assert sorted(e.args.split()[0] for e in per_address) == sorted(ADDRESSES[:3])
            assert {(e.actor, e.command, e.outcome) for e in per_address} == {
                (ALICE, "validator add", "ok")
            }
            assert (ALICE, "validator add", "ok") in entries
            assert (BOB, "validator ready", "denied") in entries
            assert (ALICE, "validator ready", "ok") in entries
            assert (ALICE, "validators", "ok") in entries


def state_of(store: Store, address: str) -> str | None:
    record = store.validators.get("alpha", address.lower())
    return record.state if record else None
