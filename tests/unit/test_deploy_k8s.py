"""deploy/k8s renders with kustomize, every object is a valid Kubernetes object (it
deserialises into its kubernetes-asyncio model and back without losing a field), and
the bot's pod is set up to run safely: one replica, its state on a volume, probes,
limits, a locked-down security context, tokens only from a Secret."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client

from tests.binaries import require_binary

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "k8s"
OVERLAY = BASE / "overlays" / "second-testnet"
TOKENS = {
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "GITHUB_TOKEN",
    "DISCORD_TOKEN",
    "ALERTMANAGER_TOKEN",
}
CUSTOM_RESOURCES = {("monitoring.coreos.com/v1", "ServiceMonitor")}
"""Objects of CRDs, which have no kubernetes-asyncio model (checked by hand below)."""


def render(path: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize path`` as a list of objects; AssertionError with kustomize's
    message if it does not render."""
    kubectl = require_binary("kubectl")
    done = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@dataclass
class _Response:
    """What ``ApiClient.deserialize`` reads: a body in ``data``, as the REST layer gives it."""

    data: str


async def round_trip(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` deserialised into its kubernetes-asyncio model and serialised again.

    Raises ValueError when a required field is missing or a value is not allowed; a
    field the model does not know (a typo) is absent from the result.
    """
    model = getattr(client, f"V1{obj['kind']}")
    async with client.ApiClient() as api:
        instance = api.deserialize(_Response(json.dumps(obj)), model.__name__)
        back: dict[str, Any] = api.sanitize_for_serialization(instance)
        return back


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return render(BASE)


@pytest.fixture(scope="module")
def overlay() -> list[dict[str, Any]]:
    return render(OVERLAY)


@pytest.mark.parametrize("which", ["base", "overlay"])
async def test_every_rendered_object_is_a_valid_kubernetes_object(
    which: str, request: pytest.FixtureRequest
) -> None:
    docs: list[dict[str, Any]] = request.getfixturevalue(which)
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ServiceAccount", "Service", "StatefulSet", "ConfigMap"} <= kinds
    assert {"Role", "RoleBinding"} <= kinds
    for obj in docs:
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_RESOURCES:
            continue
        assert await round_trip(obj) == obj, f"{obj['kind']} {obj['metadata']['name']}"


async def test_the_model_check_catches_a_typo_and_a_missing_required_field(
    base: list[dict[str, Any]],
) -> None:
    (sts,) = by_kind(base, "StatefulSet")
    typo = json.loads(json.dumps(sts))
    container = typo["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    assert await round_trip(typo) != typo
    missing = json.loads(json.dumps(sts))
    del missing["spec"]["selector"]
    with pytest.raises(ValueError, match="selector"):
        await round_trip(missing)


def test_the_bot_runs_as_one_pod_with_its_state_on_a_volume(base: list[dict[str, Any]]) -> None:
    (sts,) = by_kind(base, "StatefulSet")
    assert sts["metadata"]["namespace"] == "testnet-bot"
    assert sts["spec"]["replicas"] == 1
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/var/lib/testnet-bot"] == claim["metadata"]["name"]
    assert mounts["/etc/testnet-bot"] == "config"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    (config_map,) = by_kind(base, "ConfigMap")
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    assert Path(config["state"]["path"]).parent == Path("/var/lib/testnet-bot")
    assert config["http"] == {"host": "0.0.0.0", "port": 8080}
    assert container["ports"][0]["containerPort"] == 8080
    assert pod["serviceAccountName"] == by_kind(base, "ServiceAccount")[0]["metadata"]["name"]


def test_the_pod_has_probes_limits_and_a_locked_down_security_context(
    base: list[dict[str, Any]],
) -> None:
    (sts,) = by_kind(base, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for key in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][key]), key
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}


def test_tokens_come_only_from_the_secret_and_the_config_names_them(
    base: list[dict[str, Any]],
) -> None:
    (sts,) = by_kind(base, "StatefulSet")
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert set(env) == TOKENS
    for name, entry in env.items():
        assert "value" not in entry, f"{name} must come from the Secret"
        assert entry["valueFrom"]["secretKeyRef"]["key"] == name
    (config_map,) = by_kind(base, "ConfigMap")
    text = config_map["data"]["config.yaml"]
    named = {token for token in TOKENS if "${" + token + "}" in text}
    assert named == TOKENS - {"DISCORD_TOKEN"}, (
        "the example config uses Slack, GitHub, Alertmanager"
    )
    assert not by_kind(base, "Secret"), "secrets are created by the operator, never shipped"


def test_the_shipped_configs_are_valid_bot_configs(
    base: list[dict[str, Any]], overlay: list[dict[str, Any]], tmp_path: Path
) -> None:
    from bot.configfile import load_config

    env = {token: "x" for token in TOKENS}
    for docs, networks in ((base, {"alpha"}), (overlay, {"alpha", "beta"})):
        (config_map,) = by_kind(docs, "ConfigMap")
        path = tmp_path / f"{len(networks)}.yaml"
        path.write_text(config_map["data"]["config.yaml"])
        config, _ = load_config(path, env=env)
        assert set(config.networks) == networks
        roles = {d["metadata"]["namespace"] for d in by_kind(docs, "Role")}
        assert roles == {net.namespace for net in config.networks.values()}


def test_the_service_and_service_monitor_select_the_bot(overlay: list[dict[str, Any]]) -> None:
    (sts,) = by_kind(overlay, "StatefulSet")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    (service,) = by_kind(overlay, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    (monitor,) = by_kind(overlay, "ServiceMonitor")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_the_network_policy_lets_the_bot_reach_every_network_it_manages(
    overlay: list[dict[str, Any]],
) -> None:
    (policy,) = by_kind(overlay, "NetworkPolicy")
    reachable = {
        value
        for rule in policy["spec"]["egress"]
        for peer in rule.get("to", [])
        for expr in peer.get("namespaceSelector", {}).get("matchExpressions", [])
        for value in expr["values"]
    }
    assert {"alpha-testnet", "beta-testnet"} <= reachable
    assert {p["port"] for r in policy["spec"]["ingress"] for p in r["ports"]} == {8080}


async def test_the_state_pod_mounts_the_bots_volume_and_is_a_valid_pod(
    base: list[dict[str, Any]],
) -> None:
    tool = yaml.safe_load((BASE / "tools" / "state-pod.yaml").read_text())
    assert await round_trip(tool) == tool
    (sts,) = by_kind(base, "StatefulSet")
    claim = sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    (volume,) = tool["spec"]["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == f"{claim}-{sts['metadata']['name']}-0"
    assert tool["metadata"]["namespace"] == sts["metadata"]["namespace"]
    image = sts["spec"]["template"]["spec"]["containers"][0]["image"]
    assert tool["spec"]["containers"][0]["image"] == image
    assert tool["spec"]["securityContext"]["runAsUser"] == 10001
