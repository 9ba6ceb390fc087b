"""/testnet sanity against the Kubernetes fake, the real Prometheus binary and a real
HTTP endpoint: every kind of check passing, failing and erroring."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.binaries import require_binary
from tests.fakes.kube_api import KubeFake
from tests.fakes.promstack import MetricsEndpoint, free_port, start_prometheus
from tests.harness import ShellBot, make_config, wait_until
from tests.integration.kube_harness import NAMESPACE, build_testnet, network_config
from tests.integration.sanity_harness import (
    FINDNODE,
    SPOT_CHECKS,
    HealthEndpoint,
    log_spot_lines,
)

BAD = "aztecprotocol/aztec:v0.0.0-broken"


@asynccontextmanager
async def sanity_testnet(
    tmp_path: Path, sanity: dict[str, Any], *, validators: int = 3
) -> AsyncIterator[tuple[ShellBot, KubeFake]]:
    async with KubeFake(ready_delay=0.005) as fake:
        build_testnet(fake, validators=validators)
        log_spot_lines(fake, validators=validators)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        config = make_config(tmp_path, **network_config(kubeconfig, sanity=sanity))
        async with ShellBot(config) as bot:
            yield bot, fake


def row(out: str, name: str) -> str:
    """The table row of check ``name``."""
    return next(line for line in out.splitlines() if f" {name} (" in line or f" {name} " in line)


async def test_every_kind_passes_then_fails_with_what_it_saw(tmp_path: Path) -> None:
    binary = require_binary("prometheus")
    async with (
        MetricsEndpoint() as chain,
        HealthEndpoint().serving() as health,
    ):
        chain.set("block_height", 100, advance_per_scrape=1)
        chain.set("peer_count", 8)
        async with start_prometheus(tmp_path, binary=binary, scrape_targets=[chain.target]) as prom:
            await prom.wait_for_target_up()
            sanity = {
                "timeout": "10s",
                "pods": {"max_restarts": 3},
                "logs": SPOT_CHECKS,
                "prometheus": {
                    "url": prom.url,
                    "checks": [
                        {
                            "name": "block production",
                            "query": "increase(block_height[3s])",
                            "op": ">",
                            "value": 0,
                        },
                        {"name": "peers", "query": "min(peer_count)", "op": ">=", "value": 3},
                    ],
                },
                "http": [
                    {"name": "health", "url": f"{health.url}/health", "body_contains": "ok"},
                    {
                        "name": "sync",
                        "url": f"{health.url}/status",
                        "json_field": "sync.state",
                        "json_equals": "synced",
                    },
                ],
            }
            async with sanity_testnet(tmp_path, sanity) as (bot, fake):

                async def block_production(status: str) -> bool:
                    return row(
                        await bot.say("/testnet sanity alpha"), "block production"
                    ).startswith(status)

                await wait_until(
                    lambda: block_production("✅"), timeout=20, what="two samples of the height"
                )
                out = await bot.say("/testnet sanity alpha")
                assert "✅ Sanity of `alpha`: ✅ 11 passed, ❌ 0 failed, ⚠️ 0 errors" in out
                assert "✅  pods" in out and "6/6 Ready" in row(out, "pods")
                assert "`validator-0`: INFO sequencer Can propose block 12" in row(
                    out, "block proposal"
                )
                assert "not in 3 pods" in row(out, "peer discovery")
                assert row(out, "peers").startswith("✅") and "8 (>= 3)" in row(out, "peers")
                assert "HTTP 200, body has 'ok'" in row(out, "health")
                assert "sync.state=synced" in row(out, "sync")

                fake.add_logs("validator-1", FINDNODE, namespace=NAMESPACE, container="aztec")
                for pod in fake.pods(NAMESPACE, "app=prover"):
                    fake.set_logs(pod["metadata"]["name"], "INFO idle\n", namespace=NAMESPACE)
                chain.stall("block_height")
                chain.set("peer_count", 1)
                health.status, health.body = 503, "syncing"
                health.json_body = {"sync": {"state": "behind"}}
                await wait_until(
                    lambda: block_production("❌"), timeout=20, what="the stall to show"
                )
                out = await bot.say("/testnet sanity alpha")
                assert out.startswith("❌ Sanity of `alpha`")
                peer = row(out, "peer discovery")
                assert peer.startswith("❌") and "`validator-1`: " + FINDNODE in peer
                assert row(out, "block proving").startswith("❌")
                assert "0/2 pods (need 1)" in row(out, "block proving")
                assert "0 (needs > 0)" in row(out, "block production")
                assert "1 (needs >= 3)" in row(out, "peers")
                assert "HTTP 503 (expected 200)" in row(out, "health")
                assert "sync.state=behind (expected synced)" in row(out, "sync")
                assert row(out, "tx gossiping").startswith("✅")  # untouched checks still pass
                stored = bot.store.sanity.results(network="alpha")
                assert stored[0].verdict == "fail" and stored[0].source == "command:operator"
                assert {r["status"] for r in stored[0].results} == {"pass", "fail"}


async def test_checks_that_cannot_run_are_errors_not_failures(tmp_path: Path) -> None:
    async with HealthEndpoint().serving() as health:
        sanity = {
            "timeout": "1s",
            "prometheus": {
                "url": f"http://127.0.0.1:{free_port()}",
                "checks": [{"name": "block production", "query": "up", "op": ">", "value": 0}],
            },
            "http": [
                {"name": "slow rpc", "url": f"{health.url}/hang"},
                {"name": "gone rpc", "url": f"http://127.0.0.1:{free_port()}/health"},
            ],
            "logs": [{"name": "broken logs", "selector": "app=broken", "forbid": "panic"}],
        }
        async with sanity_testnet(tmp_path, sanity, validators=1) as (bot, fake):
            fake.bad_images[BAD] = "ImagePullBackOff"
            fake.add_deployment(
                "broken",
                namespace=NAMESPACE,
                containers={"aztec": BAD},
                labels={"app": "broken"},
                ready=False,
            )
            await wait_until(
                lambda: any(
                    s["state"].get("waiting", {}).get("reason")
                    in ("ErrImagePull", "ImagePullBackOff")
                    for p in fake.pods(NAMESPACE, "app=broken")
                    for s in p["status"].get("containerStatuses", [])
                ),
                what="the broken pod to fail pulling",
            )
            out = await bot.say("/testnet sanity")
            assert out.startswith("⚠️ Sanity of `alpha`: ✅ 0 passed, ❌ 0 failed, ⚠️ 4 errors")
            assert "cannot reach Prometheus" in row(out, "block production")
            assert "did not answer within 1s" in row(out, "slow rpc")
            assert "cannot reach" in row(out, "gone rpc")
            assert "cannot read 1 pod logs" in row(out, "broken logs")
            details = out.split("↳", 1)[1]  # the thread holds what the table shortened
            assert "is waiting to start" in details and "broken logs" in details
            assert bot.store.sanity.results()[0].verdict == "error"


async def test_pod_health_and_min_pods(tmp_path: Path) -> None:
    sanity = {
        "pods": {"max_restarts": 3},
        "logs": [
            {
                "name": "all validators propose",
                "selector": "app=validator",
                "expect": "Can propose block",
                "min_pods": 3,
            },
        ],
    }
    async with sanity_testnet(tmp_path, sanity) as (bot, fake):
        fake.set_logs("validator-2", "INFO booting\n", namespace=NAMESPACE, container="aztec")
        fake.bad_images[BAD] = "CrashLoopBackOff"
        fake.add_deployment(
            "crasher",
            namespace=NAMESPACE,
            containers={"aztec": BAD},
            labels={"app": "crasher"},
            ready=False,
        )
        await wait_until(lambda: bool(fake.pods(NAMESPACE, "app=crasher")), what="the crasher pod")

        async def crash_looping() -> bool:
            return "CrashLoopBackOff" in row(await bot.say("/testnet sanity"), "pods")

        await wait_until(crash_looping, what="the crash loop to be reported")
        out = await bot.say("/testnet sanity")
        assert row(out, "pods").startswith("❌") and "crasher-" in row(out, "pods")
        proposal = row(out, "all validators propose")
        assert proposal.startswith("❌") and "2/3 pods (need 3)" in proposal
        assert "none in validator-2" in proposal


async def test_a_network_without_checks_is_told_how_to_add_them(tmp_path: Path) -> None:
    async with sanity_testnet(tmp_path, {}) as (bot, _):
        out = await bot.say("/testnet sanity alpha")
        assert "`alpha` has no sanity checks configured" in out
        assert "networks.alpha.sanity" in out
        out = await bot.say("/testnet sanity beta")
        assert "Unknown network `beta`" in out
        assert bot.store.sanity.results() == []
