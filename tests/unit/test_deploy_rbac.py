"""The bot's RBAC (deploy/k8s/rbac/rbac.yaml, rendered by kustomize): it grants every
Kubernetes call the bot makes, and nothing beyond the least-privilege list: namespaced
Roles only, in the network namespaces, bound to the bot's one service account."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_deploy_k8s import BASE, OVERLAY, render

ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "deploy" / "k8s" / "rbac" / "rbac.yaml"
# SDK method → (API group, resource, verb) of each call integrations/kube.py makes
CALLS = {
    "read_namespaced_stateful_set": ("apps", "statefulsets", "get"),
    "list_namespaced_stateful_set": ("apps", "statefulsets", "list"),
    "patch_namespaced_stateful_set": ("apps", "statefulsets", "patch"),
    "read_namespaced_deployment": ("apps", "deployments", "get"),
    "list_namespaced_deployment": ("apps", "deployments", "list"),
    "patch_namespaced_deployment": ("apps", "deployments", "patch"),
    "list_namespaced_pod": ("", "pods", "list"),
    "delete_namespaced_pod": ("", "pods", "delete"),
    "read_namespaced_pod_log": ("", "pods/log", "get"),
    "list_namespaced_event": ("", "events", "list"),
    "list_namespaced_service": ("", "services", "list"),
    "create_namespaced_job": ("batch", "jobs", "create"),
    "read_namespaced_job": ("batch", "jobs", "get"),
    "list_namespaced_job": ("batch", "jobs", "list"),
    "delete_namespaced_job": ("batch", "jobs", "delete"),
}
WATCHED = {("apps", "statefulsets"), ("apps", "deployments"), ("", "pods"), ("batch", "jobs")}
READ = ("get", "list", "watch")
ALLOWED: set[tuple[str, str, str]] = {
    *(
        (g, r, v)
        for g, r in (("apps", "statefulsets"), ("apps", "deployments"))
        for v in (*READ, "patch")
    ),
    *(("", r, v) for r in ("pods", "pods/log", "services", "events") for v in READ),
    ("", "pods", "delete"),
    *(("batch", "jobs", v) for v in ("create", "get", "list", "watch", "delete")),
}
"""Everything the bot may be granted in a network namespace, and no more."""
BOT_ACCOUNT = {"kind": "ServiceAccount", "name": "testnet-bot", "namespace": "testnet-bot"}


def grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """Every (API group, resource, verb) a Role's rules grant."""
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def violations(docs: list[dict[str, Any]]) -> list[str]:
    """What in ``docs`` goes beyond least privilege (empty: nothing)."""
    found: list[str] = []
    bot_namespace = BOT_ACCOUNT["namespace"]
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind in ("ClusterRole", "ClusterRoleBinding"):
            found.append(f"{kind} {name}: nothing cluster-wide")
        if kind == "Role":
            if doc["metadata"].get("namespace") in (None, bot_namespace):
                found.append(f"Role {name} must live in a network namespace")
            for rule in doc["rules"]:
                if "nonResourceURLs" in rule or "resourceNames" in rule:
                    found.append(f"Role {name}: unexpected rule {rule}")
                if "*" in str(rule):
                    found.append(f"Role {name}: wildcard in {rule}")
            found += [f"Role {name} grants {g!r} {r} {v}" for g, r, v in grants(doc) - ALLOWED]
        if kind == "RoleBinding":
            if doc["roleRef"]["kind"] != "Role":
                found.append(f"RoleBinding {name} binds a {doc['roleRef']['kind']}")
            if doc["subjects"] != [BOT_ACCOUNT]:
                found.append(f"RoleBinding {name} binds {doc['subjects']}")
    return found


def granted() -> set[tuple[str, str, str]]:
    docs = list(yaml.safe_load_all(RBAC.read_text()))
    (role,) = [d for d in docs if d["kind"] == "Role"]
    return grants(role)


def test_every_call_of_the_kubernetes_wrapper_is_granted() -> None:
    source = (ROOT / "integrations/kube.py").read_text()
    used = set(re.findall(r"\.((?:read|list|patch|create|delete)_namespaced_\w+)\(?", source))
    assert used <= set(CALLS), f"add these calls to CALLS and rbac.yaml: {used - set(CALLS)}"
    missing = {CALLS[m] for m in used} - granted()
    missing |= {(g, r, "watch") for g, r in WATCHED} - granted()
    assert not missing, f"{RBAC.relative_to(ROOT)} lacks {sorted(missing)}"


def test_the_rollback_may_delete_pods_and_onboarding_its_jobs_but_nothing_else() -> None:
    deletable = {(g, r) for g, r, verb in granted() if verb == "delete"}
    assert deletable == {("", "pods"), ("batch", "jobs")}


@pytest.mark.parametrize(
    ("path", "namespaces"),
    [(BASE, {"alpha-testnet"}), (OVERLAY, {"alpha-testnet", "beta-testnet"})],
)
def test_the_rendered_rbac_is_least_privilege(path: Path, namespaces: set[str]) -> None:
    docs = render(path)
    assert violations(docs) == []
    roles = [d for d in docs if d["kind"] == "Role"]
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]
    assert {r["metadata"]["namespace"] for r in roles} == namespaces
    assert {b["metadata"]["namespace"] for b in bindings} == namespaces
    assert all(grants(role) == granted() for role in roles)


@pytest.mark.parametrize(
    ("tamper", "complaint"),
    [
        (lambda docs: docs["Role"]["rules"][0]["verbs"].append("*"), "wildcard"),
        (lambda docs: docs["Role"]["rules"][1]["verbs"].append("create"), "'' pods create"),
        (
            lambda docs: docs["Role"]["rules"].append(
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
            ),
            "secrets get",
        ),
        (lambda docs: docs["Role"].update(kind="ClusterRole"), "cluster-wide"),
        (lambda docs: docs["RoleBinding"]["roleRef"].update(kind="ClusterRole"), "binds a"),
        (
            lambda docs: docs["Role"]["metadata"].update(namespace="testnet-bot"),
            "network namespace",
        ),
        (
            lambda docs: docs["RoleBinding"]["subjects"].append(
                {"kind": "Group", "name": "system:authenticated"}
            ),
            "binds",
        ),
    ],
)
def test_the_least_privilege_check_fails_on_anything_beyond_the_list(
    tamper: Any, complaint: str
) -> None:
    docs = render(BASE)
    rbac = copy.deepcopy({d["kind"]: d for d in docs if d["kind"] in ("Role", "RoleBinding")})
    tamper(rbac)
    found = violations(list(rbac.values()))
    assert any(complaint in line for line in found), found
