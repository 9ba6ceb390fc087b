"""``config check --live`` and ``/testnet info`` against a network shaped like the
public aztec-network chart: the shipped example finds everything it names; a broken
selector or Service is reported with its line and fails the check."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.config import ConnectionEntry
from bot.configfile import inspect_config
from bot.configlive import check_live
from commands.info import resolve_service
from integrations.kube import KubeClient
from tests.fakes.aztec_chart import load_aztec_network
from tests.fakes.kube_api import KubeFake
from tests.harness import ShellBot, make_config

EXAMPLE = Path(__file__).parents[2] / "deploy" / "examples" / "aztec.yaml"


def example_with_kubeconfig(tmp_path: Path, kubeconfig: Path, text: str | None = None) -> Path:
    """The shipped example, pointed at the fake's kubeconfig."""
    body = EXAMPLE.read_text(encoding="utf-8") if text is None else text
    path = tmp_path / "aztec.yaml"
    path.write_text(f"{body}\nkubernetes: {{kubeconfig: {kubeconfig}}}\n", encoding="utf-8")
    return path


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_example_passes_the_live_check_against_a_chart_shaped_network(
    tmp_path: Path,
) -> None:
    async with KubeFake() as fake:
        load_aztec_network(fake, release="alpha", namespace="alpha-testnet", version="0.61.0")
        config = example_with_kubeconfig(tmp_path, fake.write_kubeconfig(tmp_path / "kc"))
        code, out, err = await run_cli("config", "check", "--live", "--config", str(config))
    assert code == 0, out + err
    assert "FAIL" not in out
    assert (
        "ok   networks.alpha.workloads[3].selector: StatefulSet alpha-aztec-network-prover-node"
        in out
    )
    assert "Deployment alpha-aztec-network-prover-agent (2 pods)" in out
    assert "ETHEREUM_HOST: Service alpha-aztec-network-ethereum-lb (LoadBalancer) TCP 8545" in out
    assert "BOOT_NODE_URL: Service alpha-aztec-network-boot-node-lb-udp (LoadBalancer) UDP" in out
    assert "tags: the workloads run tag 0.61.0 (without a leading v)" in out
    assert "live check: everything configured was found" in out


async def test_a_selector_or_service_matching_nothing_fails_with_its_line(
    tmp_path: Path,
) -> None:
    broken = (
        EXAMPLE.read_text(encoding="utf-8")
        .replace(
            "{kind: Deployment, selector: app=prover-agent}",
            "{kind: Deployment, selector: app=prover}",
        )
        .replace("service_suffix: pxe-lb", "service_suffix: pxe-load-balancer")
    )
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if "app=prover}" in text)
    async with KubeFake() as fake:
        load_aztec_network(fake)
        config = example_with_kubeconfig(tmp_path, fake.write_kubeconfig(tmp_path / "kc"), broken)
        code, out, err = await run_cli("config", "check", "--live", "--config", str(config))
    assert code == 1, out + err
    assert (
        "FAIL networks.alpha.workloads[4].selector: no Deployment in namespace alpha-testnet "
        f"matches app=prover (line {line})"
    ) in out
    assert "FAIL networks.alpha.connection_info[3]: PXE_URL: no Service *-pxe-load-balancer" in out
    assert "2 problem(s)" in err
    # The rest is still checked and reported as found.
    assert "ok   networks.alpha.workloads[0].selector" in out


async def test_an_unreachable_cluster_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    async with KubeFake() as fake:
        kubeconfig = fake.write_kubeconfig(tmp_path / "kc")
    # The fake has stopped: nothing answers at its address any more.
    config = example_with_kubeconfig(tmp_path, kubeconfig)
    loaded = inspect_config(config, env={})
    (report,) = await check_live(loaded.config, loaded.line_of)
    (problem,) = report.problems
    assert problem.path == "networks.alpha"
    assert "cannot check" in problem.message and "Traceback" not in problem.message


async def test_services_are_found_by_suffix_selector_or_name_and_ambiguity_is_named(
    tmp_path: Path,
) -> None:
    async with KubeFake() as fake:
        chart = load_aztec_network(fake, release="beta", namespace="beta")
        async with KubeClient.from_kubeconfig(fake.write_kubeconfig(tmp_path / "kc")) as kube:
            services = await kube.list_services("beta")

    def find(**entry: object) -> str:
        match = resolve_service(ConnectionEntry.model_validate({"name": "X", **entry}), services)
        return match.service.name if match.service else match.problem

    assert find(service_suffix="ethereum-lb", port=8545) == chart.name("ethereum-lb")
    assert find(service=chart.name("pxe-lb"), port=8081) == chart.name("pxe-lb")
    assert find(service="pxe-lb", port=8081) == "no Service pxe-lb"  # exact means exact
    # The chart's prover-node Service carries app=prover-node; the LBs only the chart's.
    assert find(service_selector="app=prover-node", port=8080) == chart.name("prover-node")
    # Both boot-node LBs share labels: the port's protocol decides.
    selector = "app.kubernetes.io/instance=beta"
    assert find(service_suffix="boot-node-lb-udp", port=40400, protocol="UDP") == chart.name(
        "boot-node-lb-udp"
    )
    assert find(service_selector=selector, port=9999).startswith(
        "4 Services match ("
    )  # the LoadBalancers
    assert find(service_selector="app=nothing", port=1) == "no Service labelled app=nothing"
    # A short suffix fits both LoadBalancers ending in -lb: the port decides, else ambiguous.
    assert find(service_suffix="lb", port=8545) == chart.name("ethereum-lb")
    assert find(service_suffix="lb", port=9999) == (
        f"2 Services match (`{chart.name('ethereum-lb')}`, `{chart.name('pxe-lb')}`): "
        "name one with `service:`"
    )


async def test_info_reads_a_chart_shaped_network_by_suffix(tmp_path: Path) -> None:
    async with KubeFake() as fake:
        load_aztec_network(fake, external={"ethereum-lb": "34.1.2.3"})
        net = {
            "namespace": "alpha-testnet",
            "image": "aztecprotocol/aztec",
            "workloads": [{"kind": "StatefulSet", "selector": "app=validator"}],
            "connection_info": [
                {"name": "ETHEREUM_HOST", "service_suffix": "ethereum-lb", "port": 8545},
                {"name": "BOOT_NODE_URL", "service_suffix": "boot-node-lb-tcp", "port": 40400},
                {"name": "FAUCET", "service_suffix": "faucet-lb", "port": 8085},
            ],
            "info": {"image_name": "AZTEC_IMAGE"},
        }
        overrides = {
            "networks": {"alpha": net},
            "kubernetes": {"kubeconfig": str(fake.write_kubeconfig(tmp_path / "kc"))},
        }
        async with ShellBot(make_config(tmp_path, **overrides)) as bot:
            out = await bot.say("/testnet info alpha")
    assert "AZTEC_IMAGE    aztecprotocol/aztec:0.61.0" in out
    assert "ETHEREUM_HOST  34.1.2.3:8545" in out
    assert "(`alpha-aztec-network-boot-node-lb-tcp` has no external address yet)" in out
    assert "FAUCET         ?  (no Service *-faucet-lb)" in out


async def test_sections_with_no_effect_are_warned_about_by_check_and_at_start_up(
    tmp_path: Path,
) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text(
        f"chat:\n  discord: {{token: t}}\nstate: {{path: {tmp_path / 'bot.db'}}}\n",
        encoding="utf-8",
    )
    code, out, err = await run_cli("config", "check", "--config", str(config))
    assert code == 0, err
    assert "warning: chat.discord.guilds: is empty" in out
    code, out, err = await run_cli("exec", "--config", str(config), "/testnet help")
    assert code == 0, err
    assert "chat.discord.guilds: is empty" in err
    # Without the section: no warning.
    config.write_text(f"state: {{path: {tmp_path / 'bot.db'}}}\n", encoding="utf-8")
    code, out, err = await run_cli("config", "check", "--config", str(config))
    assert code == 0 and "warning" not in out
