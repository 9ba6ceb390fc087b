"""How fast the bot notices a finished rollout, next to ``kubectl rollout status``.

A 48-pod StatefulSet on the Kubernetes fake (in this process, pods Ready 10 ms after
they start). In the same run:

1. the bot (in-process, shell adapter) deploys a new image and we time from the
   moment the last pod turned Ready (the fake records it) to the moment the bot's
   success message is printed;
2. ``kubectl rollout status`` is started, the image is changed again, and we time
   from the last pod Ready to kubectl exiting.

Prints one JSON object per tool and one with the comparison.
Usage: python bench/rollout.py [--replicas 48] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import Bot
from bot.config import BotConfig
from integrations.chat.shell import BufferConsole, ShellSession
from integrations.kube import KubeClient
from tests.fakes.kube_api import KubeFake

NS = "bench"
IMAGE = "aztecprotocol/aztec"


class TimedConsole(BufferConsole):
    """Records when the bot printed its success message."""

    def __init__(self) -> None:
        super().__init__()
        self.success_at: float | None = None

    def write(self, text: str) -> None:
        if self.success_at is None and text.startswith("✅ Deployed"):
            self.success_at = time.monotonic()
        super().write(text)


def last_ready(fake: KubeFake, replicas: int) -> float:
    return max(fake.cluster.ready_at[(NS, f"validator-{i}")] for i in range(replicas))


async def bot_run(
    fake: KubeFake, kubeconfig: Path, tmp: Path, version: str, replicas: int
) -> float:
    config = BotConfig.model_validate(
        {
            "state": {"path": str(tmp / f"bot-{version}.db")},
            "kubernetes": {"kubeconfig": str(kubeconfig)},
            "networks": {
                "alpha": {
                    "namespace": NS,
                    "image": IMAGE,
                    "workloads": [{"kind": "StatefulSet", "selector": "app=validator"}],
                    "registry": {"check": False},  # this measures the rollout alone
                }
            },
        }
    )
    console = TimedConsole()
    async with Bot(config, serve_http=False) as bot:
        session = ShellSession(
            bot.dispatcher, bot.services.outbox, console, user="operator", assume_yes=True
        )
        outcome = await session.say(f"/testnet deploy {version}")
        if not outcome.success or console.success_at is None:
            raise RuntimeError("deploy failed:\n" + console.text)
    return console.success_at - last_ready(fake, replicas)


async def kubectl_run(
    fake: KubeFake, kubeconfig: Path, kubectl: str, version: str, replicas: int
) -> float:
    async with KubeClient.from_kubeconfig(kubeconfig) as kube:
        watcher = await asyncio.create_subprocess_exec(
            kubectl,
            "--kubeconfig",
            str(kubeconfig),
            "-n",
            NS,
            "rollout",
            "status",
            "statefulset/validator",
            "--timeout=120s",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(0.5)  # let kubectl open its watch before the change
        await kube.set_image(NS, "StatefulSet", "validator", IMAGE, version)
        await watcher.wait()
        exited = time.monotonic()
        if watcher.returncode != 0:
            err = await watcher.stderr.read() if watcher.stderr else b""
            raise RuntimeError(f"kubectl failed: {err.decode()}")
    return exited - last_ready(fake, replicas)


async def main(replicas: int, repeat: int) -> None:
    kubectl = shutil.which("kubectl")
    bot_ms: list[float] = []
    kubectl_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        async with KubeFake(ready_delay=0.01) as fake:
            fake.add_statefulset(
                "validator",
                namespace=NS,
                replicas=replicas,
                containers={"aztec": f"{IMAGE}:v0.0.1", "sidecar": "fluent/fluent-bit:2.1"},
                labels={"app": "validator"},
            )
            kubeconfig = fake.write_kubeconfig(tmp / "kubeconfig")
            for i in range(repeat):
                bot_ms.append(1000 * await bot_run(fake, kubeconfig, tmp, f"v1.0.{i}", replicas))
                if kubectl is not None:
                    kubectl_ms.append(
                        1000 * await kubectl_run(fake, kubeconfig, kubectl, f"v2.0.{i}", replicas)
                    )
    figures = {"bot": bot_ms, "kubectl_rollout_status": kubectl_ms}
    for tool, values in figures.items():
        if values:
            print(
                json.dumps(
                    {
                        "bench": "rollout",
                        "tool": tool,
                        "replicas": replicas,
                        "runs": len(values),
                        "last_ready_to_done_ms_median": round(statistics.median(values), 1),
                        "last_ready_to_done_ms_max": round(max(values), 1),
                    }
                )
            )
    comparison: dict[str, object] = {"bench": "rollout", "figure": "comparison"}
    if kubectl_ms:
        comparison["bot_minus_kubectl_ms_median"] = round(
            statistics.median(bot_ms) - statistics.median(kubectl_ms), 1
        )
        comparison["bot_not_later_than_kubectl"] = statistics.median(bot_ms) <= statistics.median(
            kubectl_ms
        )
    else:
        comparison["kubectl"] = "not found on PATH"
    comparison["bot_under_1s"] = max(bot_ms) < 1000
    print(json.dumps(comparison))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.replicas, args.repeat))
