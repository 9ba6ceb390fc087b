"""Scheduled sanity: stored in SQLite, run by apscheduler, posting only when the
verdict changes, and carrying on after a restart."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from commands.sanity.schedules import SCHEDULER
from tests.fakes.kube_api import KubeFake
from tests.fakes.slack_api import ALICE, DEPLOYS
from tests.harness import ShellBot, make_config, wait_until
from tests.integration.kube_harness import NAMESPACE, build_testnet, network_config
from tests.integration.sanity_harness import FINDNODE, HEALTHY_LINES, healthy_image_logs
from tests.integration.slack_harness import SlackBot, slack_bot

SANITY = {
    "logs": [
        {"name": "peer discovery", "selector": "app=validator", "forbid": "Failed FINDNODE"},
        {"name": "block proposal", "selector": "app=validator", "expect": "Can propose block"},
    ],
    "min_interval": "50ms",
    "digest_every": "400ms",
}


def setup(kubeconfig: Path) -> dict[str, Any]:
    return {
        **network_config(kubeconfig, sanity=SANITY),
        "roles": {"admin": {"slack_users": [ALICE]}},
    }


def runs(sb: SlackBot | ShellBot, schedule_id: int = 1) -> list[Any]:
    store = sb.bot.services.store if isinstance(sb, SlackBot) else sb.store
    return store.sanity.results(source=f"schedule:{schedule_id}", limit=1000)


def sanity_posts(sb: SlackBot) -> list[str]:
    return [t for t in sb.texts(DEPLOYS) if "`alpha`" in t and "Schedule #" not in t]


async def test_scheduled_sanity_posts_on_change_only_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    async with KubeFake(ready_delay=0.005) as fake:
        build_testnet(fake, validators=2)
        healthy_image_logs(fake)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        async with slack_bot(tmp_path, **setup(kubeconfig)) as sb:
            await sb.command("schedule sanity alpha every 100ms", user=ALICE)
            await sb.slack.wait_until(
                lambda: any("Schedule #1: sanity of `alpha` every 0.1s" in t for t in sb.texts()),
                within=10,
            )
            await wait_until(lambda: len(runs(sb)) >= 3, what="three scheduled runs")
            await sb.slack.wait_until(lambda: bool(sanity_posts(sb)), within=10)
            assert all(r.verdict == "pass" for r in runs(sb))
            (first,) = sanity_posts(sb)  # three passing runs: one post, the first
            assert first.startswith("✅ Sanity of `alpha`")

            fake.set_logs("validator-1", HEALTHY_LINES + FINDNODE, namespace=NAMESPACE)
            await wait_until(
                lambda: sum(r.verdict == "fail" for r in runs(sb)) >= 3, what="failing runs"
            )
            await sb.slack.wait_until(lambda: len(sanity_posts(sb)) >= 2, within=10)
            assert len(sanity_posts(sb)) == 2  # the failure: one post, however many runs
            assert "❌ `alpha` went from ✅ pass to fail" in sanity_posts(sb)[1]
            before_restart = len(runs(sb))

        async with slack_bot(tmp_path, **setup(kubeconfig)) as sb:  # same database
            await wait_until(
                lambda: len(runs(sb)) >= before_restart + 3, what="runs after the restart"
            )
            assert sanity_posts(sb) == []  # still failing: nothing new to say
            fake.set_logs("validator-1", HEALTHY_LINES, namespace=NAMESPACE)
            await sb.slack.wait_until(lambda: bool(sanity_posts(sb)), within=10)
            (recovered,) = sanity_posts(sb)
            assert "✅ `alpha` went from ❌ fail to pass" in recovered
            await sb.command("unschedule 1", user=ALICE)
            await sb.slack.wait_until(
                lambda: any("Schedule #1 (sanity of `alpha`) stopped" in t for t in sb.texts()),
                within=10,
            )
            scheduler = sb.bot.services.need(SCHEDULER)
            assert scheduler.get_job("sanity-schedule:1") is None
            assert sb.bot.services.store.sanity.schedules() == []


async def test_a_shell_schedule_logs_its_posts_and_its_digest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="testnet_bot.schedules")
    async with KubeFake(ready_delay=0.005) as fake:
        build_testnet(fake, validators=2)
        healthy_image_logs(fake)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        config = make_config(tmp_path, **network_config(kubeconfig, sanity=SANITY))
        async with ShellBot(config) as bot:
            out = await bot.say("/testnet schedule sanity alpha every 100ms --digest")
            assert "reporting to the bot's log" in out and "daily digest" in out
            out = await bot.say("/testnet schedules")
            assert "1   alpha" in out and "0.1s" in out

            def posts() -> list[str]:
                return [
                    r.getMessage()
                    for r in caplog.records
                    if getattr(r, "event", "") == "scheduled_sanity_post"
                ]

            await wait_until(
                lambda: any("Sanity digest of `alpha`" in p for p in posts()), what="a digest"
            )
            digest = next(p for p in posts() if "Sanity digest" in p)
            assert "runs, ✅" in digest and "now ✅" in digest
            assert sum("Sanity of `alpha`" in p for p in posts()) == 1


async def test_bad_schedules_are_refused_and_change_nothing(tmp_path: Path) -> None:
    async with KubeFake() as fake:
        build_testnet(fake, validators=1)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        sanity = {**SANITY, "min_interval": "1m"}
        config = make_config(tmp_path, **network_config(kubeconfig, sanity=sanity))
        async with ShellBot(config) as bot:
            out = await bot.say("/testnet schedule sanity alpha every soon")
            assert "not an interval: 'every soon'" in out and "every 15 minutes" in out
            out = await bot.say("/testnet schedule sanity alpha every 10s")
            assert "`every 10s` is too often" in out and "sanity.min_interval" in out
            out = await bot.say("/testnet schedule sanity beta every 15m")
            assert "Unknown network `beta`" in out
            out = await bot.say("/testnet unschedule 7")
            assert "There is no schedule #7" in out
            out = await bot.say("/testnet schedules")
            assert "No sanity schedules" in out
            assert bot.store.sanity.schedules() == []
            assert bot.bot.services.need(SCHEDULER).get_jobs() == []
