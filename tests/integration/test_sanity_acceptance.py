"""Issue 5's acceptance: ``testnet-bot exec "/testnet sanity alpha"`` with
deploy/examples/aztec.yaml pointed at the Kubernetes fake and a real Prometheus; and
``config check`` on the example and on broken sanity configs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.binaries import require_binary
from tests.fakes.aztec_chart import load_aztec_network
from tests.fakes.kube_api import KubeFake
from tests.fakes.promstack import MetricsEndpoint, start_prometheus
from tests.harness import wait_until
from tests.integration.sanity_harness import HealthEndpoint, healthy_image_logs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "examples" / "aztec.yaml"
BIN = [sys.executable, "-m", "bot.cli"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BIN, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_the_aztec_example_passes_config_check(tmp_path: Path) -> None:
    result = cli("config", "check", "--config", str(EXAMPLE), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OK (networks: alpha)" in result.stdout


def test_bad_sanity_config_is_refused_with_each_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        """
networks:
  alpha:
    namespace: alpha-testnet
    image: aztecprotocol/aztec
    sanity:
      logs:
        - {name: ok, selector: app=bot, expect: "Generated IVC proof"}
        - {name: broken, selector: app=validator, forbid: "Failed (FINDNODE"}
        - {name: both, selector: app=validator, expect: a, forbid: b}
      prometheus:
        url: "http://prometheus:9090"
        checks: [{name: height, query: "up", op: "=>", value: 0}]
      http: [{name: rpc, url: "not a url"}]
"""
    )
    result = cli("config", "check", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 3
    err = result.stderr
    assert "networks.alpha.sanity.logs[1].forbid: not a valid regex" in err
    assert "networks.alpha.sanity.logs[2]: give exactly one of expect or forbid" in err
    assert "networks.alpha.sanity.prometheus.checks[0].op: must be >, >=, <, <=, == or !=" in err
    assert "networks.alpha.sanity.http[0].url:" in err
    assert not (tmp_path / "var").exists()  # nothing was started or written


async def exec_sanity(tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *BIN,
        "exec",
        "--config",
        str(EXAMPLE),
        "/testnet sanity alpha",
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


def row(out: str, name: str) -> str:
    return next((line for line in out.splitlines() if f" {name} (" in line), "")


async def test_exec_sanity_with_the_example_prints_the_table_and_a_stall_turns_red(
    tmp_path: Path,
) -> None:
    binary = require_binary("prometheus")
    async with (
        KubeFake(ready_delay=0.005) as fake,
        MetricsEndpoint() as chain,
        HealthEndpoint().serving() as node,
    ):
        load_aztec_network(fake, validators=4)  # the chart the example follows
        healthy_image_logs(fake)
        chain.set("aztec_archiver_block_height", 1000, advance_per_scrape=1)
        chain.set("aztec_sequencer_tx_count", 0, advance_per_scrape=5)
        chain.set("aztec_peer_manager_peer_count", 12)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        async with start_prometheus(tmp_path, binary=binary, scrape_targets=[chain.target]) as prom:
            await prom.wait_for_target_up()
            env = {
                "KUBECONFIG": str(kubeconfig),
                "PROMETHEUS_URL": prom.url,
                "METRICS_WINDOW": "3s",
                "NODE_STATUS_URL": f"{node.url}/health",
            }
            last: list[str] = []

            async def block_production_is(icon: str) -> bool:
                _, out = await exec_sanity(tmp_path, env)
                last[:] = [out]
                return row(out, "block production").startswith(icon)

            await wait_until(
                lambda: block_production_is("✅"), timeout=30, what="a green block-production row"
            )
            code, out = await exec_sanity(tmp_path, env)
            assert code == 0, out
            assert "✅ Sanity of `alpha`: ✅ 11 passed, ❌ 0 failed, ⚠️ 0 errors" in out, out
            for name in ("tx gossiping", "peer discovery", "epoch proving", "tps", "peers"):
                assert row(out, name).startswith("✅"), (name, out)
            assert "check" in out and "observed" in out and "took" in out  # the header

            chain.stall("aztec_archiver_block_height")
            await wait_until(
                lambda: block_production_is("❌"), timeout=30, what="a red block-production row"
            )
            code, out = await exec_sanity(tmp_path, env)
            assert code == 1, out  # a failing sanity check fails the command
            assert "0 (needs > 0)" in row(out, "block production")
            assert out.startswith("❌ Sanity of `alpha`") or "❌ Sanity of `alpha`" in out
            assert row(out, "tps").startswith("✅")
