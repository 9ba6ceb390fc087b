"""As the issue's acceptance says: ``testnet-bot exec --yes "/testnet deploy v0.62.0"``
against a kubeconfig pointing at the fake rolls the network and prints the summary;
``/testnet rollback`` then restores the previous images."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import yaml

from tests.fakes.kube_api import KubeFake
from tests.integration.kube_harness import (
    IMAGE,
    OLD,
    SIDECAR,
    build_testnet,
    images,
    network_config,
)

BIN = [sys.executable, "-m", "bot.cli"]


async def exec_bot(cwd: Path, config: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *BIN,
        "exec",
        "--config",
        str(config),
        *args,
        cwd=cwd,
        env=dict(os.environ),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_exec_deploy_then_rollback(tmp_path: Path) -> None:
    async with KubeFake(ready_delay=0.005) as fake:
        build_testnet(fake, validators=48)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        config = tmp_path / "bot.yaml"
        config.write_text(yaml.safe_dump(network_config(kubeconfig)))

        code, out = await exec_bot(tmp_path, config, "/testnet deploy v0.62.0")
        assert code == 1 and "re-run with --yes" in out
        assert images(fake, "Deployment", "bot") == {"aztec": OLD}

        code, out = await exec_bot(tmp_path, config, "--yes", "/testnet deploy v0.62.0")
        assert code == 0, out
        assert "✅ Deployed `v0.62.0` to `alpha`" in out and "3 workloads, 51 pods" in out
        new = f"{IMAGE}:v0.62.0"
        assert images(fake, "StatefulSet", "validator") == {"aztec": new, "fluent-bit": SIDECAR}

        code, out = await exec_bot(tmp_path, config, "--yes", "/testnet rollback")
        assert code == 0, out
        assert "back on its previous images" in out
        assert images(fake, "StatefulSet", "validator") == {"aztec": OLD, "fluent-bit": SIDECAR}
        assert images(fake, "Deployment", "prover") == {"aztec": OLD}

        code, out = await exec_bot(tmp_path, config, "/testnet history")
        assert code == 0 and "rollback" in out and "deploy" in out


async def test_exec_of_a_failing_deploy_exits_non_zero(tmp_path: Path) -> None:
    async with KubeFake(ready_delay=0.005) as fake:
        build_testnet(fake, validators=2)
        fake.bad_images[f"{IMAGE}:v0.62.0"] = "CrashLoopBackOff"
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        config = tmp_path / "bot.yaml"
        config.write_text(yaml.safe_dump(network_config(kubeconfig, auto_rollback=True)))
        code, out = await exec_bot(tmp_path, config, "--yes", "/testnet deploy v0.62.0")
        assert code == 1, out
        assert "❌ Deploy of `v0.62.0`" in out and "back on its previous images" in out
        assert images(fake, "Deployment", "bot") == {"aztec": OLD}
