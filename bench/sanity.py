"""A full sanity check over a 60-pod network, next to the runbook's manual way.

The network (48 validators with a log sidecar, provers and tx bots) lives on the
Kubernetes fake, served from its own thread; every pod has ``--lines`` log lines.
Measured in the same run against the same server:

- ``bot_sanity_s``: the bot's full sanity check (pods + seed 000's six log spot
  checks), median of ``--repeat`` runs;
- ``kubectl_grep_loop_s``: the runbook's way, a serial loop of
  ``kubectl logs <pod> | grep -c <pattern>`` for every check and matching pod;
- ``ratio_loop_over_bot``: how many times faster the bot is. Target: under 2 s and
  at least 10x.

Prints one JSON object per figure. Usage:
    python bench/sanity.py [--validators 48] [--provers 8] [--bots 4] [--lines 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import Bot
from bot.config import BotConfig
from commands.sanity.commands import run_sanity
from tests.fakes.kube_api import KubeFake

NAMESPACE = "alpha-testnet"
IMAGE = "aztecprotocol/aztec:v0.61.0"
CHECKS: list[dict[str, Any]] = [
    {"name": "tx gossiping", "selector": "app=bot", "expect": "Generated IVC proof"},
    {"name": "peer discovery", "selector": "app=validator", "forbid": "Failed FINDNODE request"},
    {"name": "block proposal", "selector": "app=validator", "expect": "Can propose block"},
    {"name": "block processing", "selector": "app=validator", "expect": "l2BlockSourceHash"},
    {"name": "block proving", "selector": "app=prover", "expect": "Processed 1 new L2 blocks"},
    {"name": "epoch proving", "selector": "app=prover", "expect": "Submitted proof for epoch"},
]
SPOT = {
    "validator": ("Can propose block 7", "l2BlockSourceHash=0xabc"),
    "prover": ("Processed 1 new L2 blocks", "Submitted proof for epoch 3"),
    "bot": ("Generated IVC proof for tx 0x01",),
}


def pod_log(app: str, lines: int) -> str:
    """``lines`` lines of chatter with the app's spot-check lines sprinkled in."""
    spot = SPOT[app]
    out = []
    for i in range(lines):
        if i % 50 == 25:
            out.append(
                f"2026-11-22T10:{i // 60 % 60:02d}:{i % 60:02d}Z INFO {spot[i // 50 % len(spot)]}"
            )
        else:
            out.append(
                f"2026-11-22T10:{i // 60 % 60:02d}:{i % 60:02d}Z INFO {app} slot={i} "
                f"processed attestations from peer 16Uiu2HAm{i:08d} in {i % 97}ms"
            )
    return "\n".join(out) + "\n"


class FakeInThread:
    """The Kubernetes fake on its own event loop, so serving it does not share the
    bot's loop (as a real API server would not)."""

    def __init__(self, validators: int, provers: int, bots: int, lines: int) -> None:
        self.sizes = (validators, provers, bots, lines)
        self.ready = threading.Event()
        self.fake: KubeFake | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.pods: dict[str, list[str]] = {}

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        validators, provers, bots, lines = self.sizes
        async with KubeFake(ready_delay=0.001) as fake:
            fake.add_statefulset(
                "validator",
                namespace=NAMESPACE,
                replicas=validators,
                containers={"aztec": IMAGE, "fluent-bit": "fluent/fluent-bit:2.1"},
                labels={"app": "validator"},
            )
            for app, replicas in (("prover", provers), ("bot", bots)):
                fake.add_deployment(
                    app,
                    namespace=NAMESPACE,
                    replicas=replicas,
                    containers={"aztec": IMAGE},
                    labels={"app": app},
                )
            for app in SPOT:
                text = pod_log(app, lines)
                names = [p["metadata"]["name"] for p in fake.pods(NAMESPACE, f"app={app}")]
                self.pods[app] = names
                for name in names:
                    fake.set_logs(name, text, namespace=NAMESPACE, container="aztec")
            self.fake = fake
            self.ready.set()
            await self._stop.wait()

    def __enter__(self) -> FakeInThread:
        self._thread.start()
        if not self.ready.wait(60):
            raise RuntimeError("the Kubernetes fake did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def kubectl_loop(kubectl: str, kubeconfig: Path, pods: dict[str, list[str]], lines: int) -> int:
    """The runbook's way: one ``kubectl logs | grep -c`` per check and pod, in series."""
    runs = 0
    for check in CHECKS:
        app = check["selector"].split("=")[1]
        pattern = check.get("expect") or check["forbid"]
        for pod in pods[app]:
            command = (
                f"{shlex.quote(kubectl)} --kubeconfig {shlex.quote(str(kubeconfig))} "
                f"-n {NAMESPACE} logs {pod} -c aztec --tail={lines} "
                f"| grep -c {shlex.quote(pattern)}"
            )
            subprocess.run(["bash", "-c", command], capture_output=True, check=False)
            runs += 1
    return runs


async def bot_runs(config: BotConfig, repeat: int) -> tuple[list[float], str]:
    """Wall time of the bot's full sanity check, ``repeat`` times (after one warm-up)."""
    net = config.networks["alpha"]
    times = []
    async with Bot(config, serve_http=False, resume_runs=False) as bot:
        report = await run_sanity(bot.services, "alpha", net)  # warm-up: opens the client
        for _ in range(repeat):
            t0 = time.perf_counter()
            report = await run_sanity(bot.services, "alpha", net)
            times.append(time.perf_counter() - t0)
    return times, report.verdict


def main(args: argparse.Namespace) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("bench/sanity.py needs kubectl on PATH for its baseline")
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeInThread(args.validators, args.provers, args.bots, args.lines) as server,
    ):
        assert server.fake is not None
        kubeconfig = server.fake.write_kubeconfig(Path(tmp) / "kubeconfig")
        config = BotConfig.model_validate(
            {
                "state": {"path": str(Path(tmp) / "bench.db")},
                "kubernetes": {"kubeconfig": str(kubeconfig)},
                "networks": {
                    "alpha": {
                        "namespace": NAMESPACE,
                        "image": "aztecprotocol/aztec",
                        "sanity": {
                            "pods": {"max_restarts": 3},
                            "logs": [{**c, "tail_lines": args.lines} for c in CHECKS],
                        },
                    }
                },
            }
        )
        times, verdict = asyncio.run(bot_runs(config, args.repeat))
        t0 = time.perf_counter()
        runs = kubectl_loop(kubectl, kubeconfig, server.pods, args.lines)
        loop_s = time.perf_counter() - t0
    pods = args.validators + args.provers + args.bots
    bot_s = statistics.median(times)
    shape = {"pods": pods, "lines_per_pod": args.lines, "log_checks": len(CHECKS)}
    print(
        json.dumps(
            {
                "bench": "sanity",
                "figure": "bot_sanity_s",
                **shape,
                "median": round(bot_s, 3),
                "min": round(min(times), 3),
                "max": round(max(times), 3),
                "repeat": args.repeat,
                "verdict": verdict,
            }
        )
    )
    print(
        json.dumps(
            {
                "bench": "sanity",
                "figure": "kubectl_grep_loop_s",
                **shape,
                "value": round(loop_s, 3),
                "kubectl_runs": runs,
            }
        )
    )
    print(
        json.dumps(
            {
                "bench": "sanity",
                "figure": "ratio_loop_over_bot",
                "value": round(loop_s / bot_s, 1),
                "target_bot_s": 2.0,
                "target_ratio": 10,
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--validators", type=int, default=48)
    parser.add_argument("--provers", type=int, default=8)
    parser.add_argument("--bots", type=int, default=4)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    main(parser.parse_args())
