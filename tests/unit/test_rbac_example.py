"""deploy/kubernetes/rbac.yaml grants every Kubernetes call the bot makes, and no more."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
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


def granted() -> set[tuple[str, str, str]]:
    docs = list(yaml.safe_load_all((ROOT / "deploy/kubernetes/rbac.yaml").read_text()))
    (role,) = [d for d in docs if d["kind"] == "Role"]
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_every_call_of_the_kubernetes_wrapper_is_granted() -> None:
    source = (ROOT / "integrations/kube.py").read_text()
    used = set(re.findall(r"\.((?:read|list|patch|create|delete)_namespaced_\w+)\(?", source))
    assert used <= set(CALLS), f"add these calls to CALLS and rbac.yaml: {used - set(CALLS)}"
    missing = {CALLS[m] for m in used} - granted()
    missing |= {(g, r, "watch") for g, r in WATCHED} - granted()
    assert not missing, f"deploy/kubernetes/rbac.yaml lacks {sorted(missing)}"


def test_only_pods_and_jobs_may_be_deleted() -> None:
    """The rollback deletes stuck pods, validator onboarding a Job it gives up on."""
    deletable = {(g, r) for g, r, verb in granted() if verb == "delete"}
    assert deletable == {("", "pods"), ("batch", "jobs")}
