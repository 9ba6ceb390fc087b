"""/testnet deploy, rollback, status and history against the Kubernetes fake, through
kubernetes-asyncio's real client and the shell adapter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.kube_api import KubeFake
from tests.harness import ShellBot, make_config, wait_until
from tests.integration.kube_harness import (
    IMAGE,
    NAMESPACE,
    OLD,
    SIDECAR,
    build_testnet,
    images,
    network_config,
    pod_images,
)

NEW = f"{IMAGE}:v0.62.0"
STS = f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets/validator"


@asynccontextmanager
async def running_testnet(
    tmp_path: Path, *, validators: int = 48, user: str | None = None, **net: Any
) -> AsyncIterator[tuple[ShellBot, KubeFake]]:
    async with KubeFake(ready_delay=0.005) as fake:
        build_testnet(fake, validators=validators)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        extra = net.pop("config", {})
        config = make_config(tmp_path, **network_config(kubeconfig, **net), **extra)
        async with ShellBot(config, user=user) as bot:
            yield bot, fake


def patches(fake: KubeFake) -> int:
    return sum(r.method == "PATCH" for r in fake.requests)


async def test_deploy_rolls_every_workload_and_records_the_release(tmp_path: Path) -> None:
    async with running_testnet(tmp_path) as (bot, fake):
        out = await bot.say("/testnet deploy v0.62.0", answer="y")
        assert "StatefulSet `validator` (48 pods)" in out  # the plan
        assert f"`{OLD}` → `{NEW}`" in out
        assert "✅ Deployed `v0.62.0` to `alpha`" in out
        assert images(fake, "StatefulSet", "validator") == {"aztec": NEW, "fluent-bit": SIDECAR}
        assert images(fake, "Deployment", "prover") == {"aztec": NEW}
        assert images(fake, "Deployment", "bot") == {"aztec": NEW}
        assert set(pod_images(fake, "validator").values()) == {NEW}
        (run,) = bot.store.recent_runs(kinds=["deploy"])
        assert run.state == "succeeded" and run.args["version"] == "v0.62.0"
        before = {s["name"]: s["before"] for s in run.args["steps"]}
        assert before["validator"] == {"aztec": OLD}
        status = await bot.say("/testnet status alpha")
        assert "last release `v0.62.0`" in status
        assert "StatefulSet/validator  v0.62.0    48/48" in status
        history = await bot.say("/testnet history")
        assert "v0.61.0 → v0.62.0" in history and "succeeded" in history


async def test_canary_updates_one_pod_first_and_a_bad_image_stops_there(tmp_path: Path) -> None:
    async with running_testnet(tmp_path, validators=6) as (bot, fake):
        fake.bad_images[NEW] = "CrashLoopBackOff"
        fake.set_logs("validator-5", "booting\npanic: bad genesis\n", namespace=NAMESPACE)
        bot.console.answers.put_nowait("y")  # approve the deploy
        out = await bot.say("/testnet deploy v0.62.0 --canary", answer="n")  # decline rollback
        assert "canary first" in out
        assert "❌ Deploy of `v0.62.0` to `alpha` failed" in out
        assert "validator-5" in out and "panic: bad genesis" in out
        pods = pod_images(fake, "validator")
        assert pods["validator-5"] == NEW
        assert all(image == OLD for name, image in pods.items() if name != "validator-5")
        assert images(fake, "Deployment", "prover") == {"aztec": OLD}
        assert "Not rolled back (declined)" in out


async def test_a_good_canary_is_held_then_the_rest_follows(tmp_path: Path) -> None:
    async with running_testnet(tmp_path, validators=4) as (bot, fake):
        out = await bot.say("/testnet deploy v0.62.0 --canary", answer="y")
        assert "canary `validator-3` held" in out
        assert "✅ Deployed" in out
        assert set(pod_images(fake, "validator").values()) == {NEW}
        sts = fake.workload("StatefulSet", "validator", NAMESPACE)
        assert sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == 0


async def test_a_crash_loop_is_reported_and_rollback_restores_the_recorded_images(
    tmp_path: Path,
) -> None:
    async with running_testnet(tmp_path, validators=3) as (bot, fake):
        fake.bad_images[NEW] = "CrashLoopBackOff"
        fake.set_logs("validator-2", "start\nFATAL: cannot open db\n", namespace=NAMESPACE)
        bot.console.answers.put_nowait("y")  # approve the deploy
        out = await bot.say("/testnet deploy v0.62.0", answer="y")  # and the rollback offer
        assert "CrashLoopBackOff" in out and "validator-2" in out
        assert "FATAL: cannot open db" in out
        assert "Roll `alpha` back to the images it ran before?" in out
        assert "✅ `alpha` is back on its previous images" in out
        assert images(fake, "StatefulSet", "validator") == {"aztec": OLD, "fluent-bit": SIDECAR}
        assert images(fake, "Deployment", "prover") == {"aztec": OLD}
        assert set(pod_images(fake, "validator").values()) == {OLD}
        (deploy,) = bot.store.recent_runs(kinds=["deploy"])
        assert deploy.state == "rolled_back"


async def test_auto_rollback_needs_no_answer(tmp_path: Path) -> None:
    async with running_testnet(tmp_path, validators=2, auto_rollback=True) as (bot, fake):
        fake.bad_images[NEW] = "ImagePullBackOff"
        out = await bot.say("/testnet deploy v0.62.0", answer="y")
        assert ("ImagePullBackOff" in out or "ErrImagePull" in out) and "auto_rollback" in out
        assert images(fake, "StatefulSet", "validator")["aztec"] == OLD


async def test_rollback_command_after_a_good_deploy_and_to_an_earlier_version(
    tmp_path: Path,
) -> None:
    async with running_testnet(tmp_path, validators=2) as (bot, fake):
        await bot.say("/testnet deploy v0.62.0", answer="y")
        await bot.say("/testnet deploy v0.63.0", answer="y")
        assert images(fake, "Deployment", "bot")["aztec"] == f"{IMAGE}:v0.63.0"
        out = await bot.say("/testnet rollback", answer="y")
        assert f"`{IMAGE}:v0.63.0` → `{NEW}`" in out
        assert images(fake, "Deployment", "bot")["aztec"] == NEW
        await bot.say("/testnet rollback --to v0.63.0", answer="y")
        assert images(fake, "Deployment", "bot")["aztec"] == f"{IMAGE}:v0.63.0"
        out = await bot.say("/testnet rollback --to v0.50.0")
        assert "`v0.50.0` was never deployed successfully" in out


@pytest.mark.parametrize(
    "version", ["v0.62", "0.62", "v0.62.0;rm -rf /", "'v0.62.0; rm -rf /'", "x" * 2048]
)
async def test_malformed_versions_are_refused_and_nothing_is_patched(
    tmp_path: Path, version: str
) -> None:
    async with running_testnet(tmp_path, validators=2) as (bot, fake):
        out = await bot.say(f"/testnet deploy {version}")
        assert "is not a release version" in out or "Unexpected argument" in out
        assert patches(fake) == 0
        assert bot.store.recent_runs() == []


async def test_a_locked_network_or_a_running_deploy_refuses_and_patches_nothing(
    tmp_path: Path,
) -> None:
    async with running_testnet(tmp_path, validators=2) as (bot, fake):
        await bot.say("/testnet lock alpha release freeze")
        out = await bot.say("/testnet deploy v0.62.0")
        assert "`alpha` is locked by operator" in out and "release freeze" in out
        await bot.say("/testnet unlock alpha", answer="y")
        bot.store.create_run(
            kind="deploy",
            network="alpha",
            args={"version": "v0.61.5"},
            owner="alice",
            exclusive=True,
        )
        out = await bot.say("/testnet deploy v0.62.0")
        assert "A deploy of `v0.61.5` by alice has been running on `alpha`" in out
        assert patches(fake) == 0


async def test_dry_run_patches_nothing_and_asks_nothing(tmp_path: Path) -> None:
    async with running_testnet(tmp_path, validators=2) as (bot, fake):
        out = await bot.say("/testnet deploy v0.62.0 --dry-run")
        assert "dry run: nothing was changed" in out and f"`{OLD}` → `{NEW}`" in out
        assert bot.console.prompts == []
        assert patches(fake) == 0


async def test_a_user_without_deploy_is_refused(tmp_path: Path) -> None:
    config = {
        "roles": {"admin": {"shell_users": ["alice"]}},
        "chat": {"shell": {"user": "alice", "roles": []}},
    }
    async with running_testnet(tmp_path, validators=2, user="mallory", config=config) as (
        bot,
        fake,
    ):
        out = await bot.say("/testnet deploy v0.62.0")
        assert "You need the `deploy` permission" in out
        assert patches(fake) == 0


async def test_a_dropped_watch_is_resumed_without_missing_the_end(tmp_path: Path) -> None:
    async with KubeFake(ready_delay=0.05) as fake:
        build_testnet(fake, validators=6)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        config = make_config(tmp_path, **network_config(kubeconfig))
        async with ShellBot(config) as bot:
            task = asyncio.ensure_future(bot.say("/testnet deploy v0.62.0", answer="y"))
            await wait_until(lambda: fake.open_watches >= 2, what="the rollout's watches")
            assert fake.drop_watches() >= 2
            out = await task
        assert "✅ Deployed `v0.62.0`" in out
        watches = fake.watch_requests(f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets")
        assert len(watches) >= 2
