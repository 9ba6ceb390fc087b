"""A testnet on the Kubernetes fake, shaped like seed 000's: validators, provers, bots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakes.kube_api import KubeFake

NAMESPACE = "alpha-testnet"
IMAGE = "aztecprotocol/aztec"
OLD = f"{IMAGE}:v0.61.0"
SIDECAR = "fluent/fluent-bit:2.1"


def build_testnet(
    fake: KubeFake, *, validators: int = 48, pod_management_policy: str = "OrderedReady"
) -> None:
    """A validator StatefulSet with a log sidecar, a prover and a bot Deployment."""
    fake.add_statefulset(
        "validator",
        namespace=NAMESPACE,
        replicas=validators,
        containers={"aztec": OLD, "fluent-bit": SIDECAR},
        labels={"app": "validator"},
        pod_management_policy=pod_management_policy,
    )
    fake.add_deployment(
        "prover",
        namespace=NAMESPACE,
        replicas=2,
        containers={"aztec": OLD},
        labels={"app": "prover"},
    )
    fake.add_deployment(
        "bot", namespace=NAMESPACE, replicas=1, containers={"aztec": OLD}, labels={"app": "bot"}
    )


def network_config(kubeconfig: Path, **overrides: Any) -> dict[str, Any]:
    """Config overrides for a bot managing that testnet as network ``alpha``."""
    network = {
        "namespace": NAMESPACE,
        "image": IMAGE,
        "workloads": [
            {"kind": "StatefulSet", "selector": "app=validator", "canary": True},
            {"kind": "Deployment", "selector": "app=prover"},
            {"kind": "Deployment", "selector": "app=bot"},
        ],
        "canary_hold": "100ms",
        "progress_deadline": "60s",
        # Tests that exercise the registry check point this at a DockerRegistryFake.
        "registry": {"check": False},
        **overrides,
    }
    return {"networks": {"alpha": network}, "kubernetes": {"kubeconfig": str(kubeconfig)}}


def images(fake: KubeFake, kind: str, name: str) -> dict[str, str]:
    """Container → image of a workload's pod template, as stored in the fake."""
    spec = fake.workload(kind, name, NAMESPACE)["spec"]["template"]["spec"]
    return {c["name"]: c["image"] for c in spec["containers"]}


def pod_images(fake: KubeFake, app: str) -> dict[str, str]:
    """Pod → image of its aztec container."""
    return {
        p["metadata"]["name"]: next(
            c["image"] for c in p["spec"]["containers"] if c["name"] == "aztec"
        )
        for p in fake.pods(NAMESPACE, f"app={app}")
    }
