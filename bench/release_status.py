"""The release checklist over 12 checks whose fakes each answer in 200 ms, next to the
same checks asked one after the other (the runbook's way of clicking through GitHub,
npm, Docker Hub and the docs).

The 12 checks: the release workflow run, the GitHub release (notes and assets), five
npm packages, four Docker images (registry token flow and manifest HEAD) and the docs
page, against the GitHub, npm, Docker registry and docs fakes on 127.0.0.1. Measured in
the same run:

- ``serial_checks_s``: every check alone, one after the other (their sum);
  both ways run warm (registry tokens fetched, connections open) after one checklist;
- ``slowest_check_s``: the slowest single check;
- ``checklist_s``: the bot's checklist (all at once), median of ``--repeat`` runs;
- ``ratio_checklist_over_slowest``: target ≤ 1.5.

Prints one JSON object per figure. Usage:
    python bench/release_status.py [--delay 0.2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import Bot
from commands.release.checklist import build_checklist
from commands.release.tools import RELEASE
from commands.versions import Version
from tests.fakes.github_api import slow
from tests.integration.release_harness import BRANCH, WORKFLOW, release_world

VERSION = Version.parse("v0.62.0")
PACKAGES = [f"@aztec/pkg-{i}" for i in range(5)]
IMAGES = [f"aztecprotocol/image-{i}" for i in range(4)]
ASSETS = ["barretenberg-x86_64-linux-gnu.tar.gz", "barretenberg.wasm.tar.gz"]


def emit(figure: str, value: float, **extra: Any) -> None:
    print(json.dumps({"figure": figure, "value": round(value, 4), **extra}), flush=True)


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def main(delay: float, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with release_world(Path(tmp)) as world:
            run = world.gh.add_workflow_run(
                workflow=WORKFLOW, branch=BRANCH, head_sha=world.remote.base
            )
            world.gh.move_run(run.id, "completed", "success")
            world.gh.add_release(BRANCH, assets=ASSETS, body="notes")
            for package in PACKAGES:
                world.npm.publish(package, VERSION.semver)
            for image in IMAGES:
                world.docker.add_image(image, VERSION.semver)
            world.gh.inject(slow(delay), times=1_000_000)
            world.npm.slow(delay)
            world.docker.delay = delay
            world.docs.delay = delay
            config = world.config(
                assets=ASSETS,
                npm_packages=PACKAGES,
                docker_images=IMAGES,
                check_timeout="30s",
                docker_registry={"url": world.docker.url, "timeout": "30s"},
            )
            async with Bot(config, serve_http=False, resume_runs=False) as bot:
                services = bot.services
                kit = services.need(RELEASE)
                docs = config.release.docs_url or ""
                checks: list[Callable[[], Awaitable[object]]] = [
                    lambda: kit.github.list_workflow_runs(workflow=WORKFLOW, branch=BRANCH),
                    lambda: kit.github.get_release_by_tag(BRANCH),
                    *(
                        (lambda p=p: kit.packages.has_version(p, VERSION.semver, timeout=30))
                        for p in PACKAGES
                    ),
                    *((lambda i=i: kit.images.tag_exists(i, VERSION.semver)) for i in IMAGES),
                    lambda: kit.pages.status(docs.format(semver=VERSION.semver), timeout=30),
                ]
                await build_checklist(services, kit, VERSION)  # warm: registry tokens, sockets
                singles = [await timed(check) for check in checks]
                walls = []
                green = True
                for _ in range(repeat):
                    started = time.perf_counter()
                    checklist = await build_checklist(services, kit, VERSION)
                    walls.append(time.perf_counter() - started)
                    green = green and checklist.green
            wall = statistics.median(walls)
            emit("serial_checks_s", sum(singles), checks=len(checks), delay_s=delay)
            emit("slowest_check_s", max(singles), checks=len(checks))
            emit("checklist_s", wall, checks=len(checks), repeat=repeat, green=green)
            emit(
                "ratio_checklist_over_slowest",
                wall / max(singles),
                target=1.5,
                met=wall <= 1.5 * max(singles),
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.2, help="each fake's latency (s)")
    parser.add_argument("--repeat", type=int, default=5, help="checklist runs (median)")
    args = parser.parse_args()
    asyncio.run(main(args.delay, args.repeat))
