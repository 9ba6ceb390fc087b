"""The post-deploy gate: after the rollout the deploy observes the sanity checks, and
their verdict is the deploy's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.fakes.kube_api import KubeFake
from tests.harness import ShellBot, make_config, wait_until
from tests.integration.kube_harness import IMAGE, NAMESPACE, OLD, build_testnet, network_config
from tests.integration.kube_harness import images as workload_images
from tests.integration.sanity_harness import (
    FINDNODE,
    HEALTHY_LINES,
    SPOT_CHECKS,
    healthy_image_logs,
)

NEW = f"{IMAGE}:v0.62.0"


@asynccontextmanager
async def gated_testnet(
    tmp_path: Path, *, observe: str, **net: Any
) -> AsyncIterator[tuple[ShellBot, KubeFake]]:
    async with KubeFake(ready_delay=0.005) as fake:
        build_testnet(fake, validators=3)
        healthy_image_logs(fake)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        overrides = {
            "sanity": {"pods": {"max_restarts": 3}, "logs": SPOT_CHECKS},
            "gate": {"observe": observe, "interval": "100ms"},
            **net,
        }
        config = make_config(tmp_path, **network_config(kubeconfig, **overrides))
        async with ShellBot(config) as bot:
            yield bot, fake


def gate_results(bot: ShellBot) -> list[Any]:
    return [r for r in bot.store.sanity.results(limit=500) if r.source.startswith("gate:")]


async def test_findnode_failures_during_the_observe_window_fail_the_deploy_and_offer_rollback(
    tmp_path: Path,
) -> None:
    async with gated_testnet(tmp_path, observe="60s") as (bot, fake):
        bot.console.answers.put_nowait("y")  # approve the deploy
        task = asyncio.ensure_future(bot.say("/testnet deploy v0.62.0", answer="y"))  # rollback
        await wait_until(
            lambda: len(gate_results(bot)) >= 2, timeout=30, what="two passing gate checks"
        )
        assert all(r.verdict == "pass" for r in gate_results(bot))
        (run,) = bot.store.recent_runs(kinds=["deploy"])
        assert run.state == "running" and run.step.startswith("post-deploy gate")
        fake.set_logs(
            "validator-2", HEALTHY_LINES + FINDNODE, namespace=NAMESPACE, container="aztec"
        )
        out = await asyncio.wait_for(task, timeout=30)
        assert "🩺 post-deploy gate: check" in out
        assert "❌ post-deploy gate, check" in out and FINDNODE in out
        assert "❌ Deploy of `v0.62.0` to `alpha` failed at gate `sanity`" in out
        assert "peer discovery (logs): `validator-2`: " + FINDNODE in out
        assert "Roll `alpha` back to the images it ran before?" in out
        assert "✅ `alpha` is back on its previous images" in out
        assert workload_images(fake, "Deployment", "prover") == {"aztec": OLD}
        (run,) = bot.store.recent_runs(kinds=["deploy"])
        assert run.state == "rolled_back"
        assert gate_results(bot)[0].verdict == "fail"


async def test_a_quiet_observe_window_passes_the_gate_and_the_deploy(tmp_path: Path) -> None:
    async with gated_testnet(tmp_path, observe="500ms") as (bot, fake):
        out = await bot.say("/testnet deploy v0.62.0", answer="y")
        assert "✅ post-deploy gate passed" in out
        assert "✅ Deployed `v0.62.0` to `alpha`" in out
        assert workload_images(fake, "Deployment", "bot") == {"aztec": NEW}
        results = gate_results(bot)
        assert len(results) >= 2 and all(r.verdict == "pass" for r in results)
        (run,) = bot.store.recent_runs(kinds=["deploy"])
        assert run.state == "succeeded"


async def test_a_failing_gate_rolls_back_by_itself_with_auto_rollback(tmp_path: Path) -> None:
    async with gated_testnet(tmp_path, observe="10s", auto_rollback=True) as (bot, fake):
        fake.set_logs(
            "validator-0", HEALTHY_LINES + FINDNODE, namespace=NAMESPACE, container="aztec"
        )
        out = await bot.say("/testnet deploy v0.62.0", answer="y")
        assert "failed at gate `sanity`" in out and "auto_rollback" in out
        assert workload_images(fake, "Deployment", "bot") == {"aztec": OLD}
