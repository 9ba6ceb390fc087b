"""A seed-000 testnet whose pods log the runbook's spot-check lines, LoadBalancer
Services, and a small HTTP health endpoint: what the sanity tests check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.kube_api import KubeFake
from tests.integration.kube_harness import IMAGE, NAMESPACE

VALIDATOR_LINES = (
    "INFO sequencer Can propose block 12 at slot 40\n"
    "INFO archiver Downloaded L2 block 12 l2BlockSourceHash=0xabc\n"
)
PROVER_LINES = (
    "INFO prover-node Processed 1 new L2 blocks\nINFO prover-node Submitted proof for epoch 3\n"
)
BOT_LINES = "INFO bot Generated IVC proof for tx 0x01\n"
FINDNODE = "WARN discv5 Failed FINDNODE request to peer 16Uiu2 (timeout)"

SPOT_CHECKS: list[dict[str, Any]] = [
    {"name": "tx gossiping", "selector": "app=bot", "expect": "Generated IVC proof"},
    {"name": "peer discovery", "selector": "app=validator", "forbid": "Failed FINDNODE request"},
    {"name": "block proposal", "selector": "app=validator", "expect": "Can propose block"},
    {"name": "block processing", "selector": "app=validator", "expect": "l2BlockSourceHash"},
    {"name": "block proving", "selector": "app=prover", "expect": "Processed 1 new L2 blocks"},
    {"name": "epoch proving", "selector": "app=prover", "expect": "Submitted proof for epoch"},
]


HEALTHY_LINES = VALIDATOR_LINES + PROVER_LINES + BOT_LINES


def healthy_image_logs(fake: KubeFake) -> None:
    """Every pod running the network's image (including ones a deploy creates later)
    logs all the healthy spot-check lines, unless its log is set explicitly."""
    fake.cluster.image_logs = lambda image: (
        HEALTHY_LINES if image.startswith(IMAGE) else "fluent-bit ready\n"
    )


def log_spot_lines(fake: KubeFake, *, validators: int, provers: int = 2) -> None:
    """Give every pod of build_testnet the log lines a healthy network writes."""
    for i in range(validators):
        fake.set_logs(f"validator-{i}", VALIDATOR_LINES, namespace=NAMESPACE, container="aztec")
        fake.set_logs(
            f"validator-{i}", "fluent-bit ready\n", namespace=NAMESPACE, container="fluent-bit"
        )
    for pod in fake.pods(NAMESPACE, "app=prover")[:provers]:
        fake.set_logs(pod["metadata"]["name"], PROVER_LINES, namespace=NAMESPACE)
    for pod in fake.pods(NAMESPACE, "app=bot"):
        fake.set_logs(pod["metadata"]["name"], BOT_LINES, namespace=NAMESPACE)


def add_connection_services(fake: KubeFake, *, pending_udp: bool = False) -> None:
    """seed 000's ethereum-lb and boot-node-lb-{tcp,udp} LoadBalancers."""
    fake.add_service("ethereum-lb", namespace=NAMESPACE, ports=[(8545, "TCP", "rpc")])
    fake.add_service("boot-node-lb-tcp", namespace=NAMESPACE, ports=[(40400, "TCP", "p2p")])
    fake.add_service("boot-node-lb-udp", namespace=NAMESPACE, ports=[(40400, "UDP", "p2p")])
    fake.set_load_balancer_ingress("ethereum-lb", namespace=NAMESPACE, ip="34.1.2.3")
    fake.set_load_balancer_ingress(
        "boot-node-lb-tcp", namespace=NAMESPACE, hostname="boot.alpha.example.org"
    )
    if not pending_udp:
        fake.set_load_balancer_ingress("boot-node-lb-udp", namespace=NAMESPACE, ip="34.1.2.5")


CONNECTION_INFO = [
    {"name": "ETHEREUM_HOST", "service": "ethereum-lb", "port": 8545},
    {"name": "BOOT_NODE_URL", "service": "boot-node-lb-tcp", "port": 40400},
    {"name": "BOOT_NODE_URL", "service": "boot-node-lb-udp", "port": 40400, "protocol": "UDP"},
]


@dataclass
class HealthEndpoint:
    """``/health`` answers ``status`` with ``body``; ``/status`` JSON; ``/hang`` never answers."""

    status: int = 200
    body: str = "ok"
    json_body: dict[str, Any] = field(default_factory=lambda: {"sync": {"state": "synced"}})
    url: str = ""
    _runner: web.AppRunner | None = None
    _never: asyncio.Event = field(default_factory=asyncio.Event)

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(status=self.status, text=self.body)

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(self.json_body)

    async def _hang(self, request: web.Request) -> web.Response:
        await self._never.wait()
        return web.Response(text="late")

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[HealthEndpoint]:
        """Serve on 127.0.0.1 until the block ends."""
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/status", self._status)
        app.router.add_get("/hang", self._hang)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        try:
            yield self
        finally:
            self._never.set()
            await self._runner.cleanup()
