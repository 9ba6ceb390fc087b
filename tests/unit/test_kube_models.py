"""What the Kubernetes layer reads from API objects for rollbacks and failure reports:
stuck StatefulSet pods, containers that never started, images that could not be pulled."""

from __future__ import annotations

from typing import Any

from integrations.kube_models import pod_from_json, rollout_progress, workload_from_json

UPDATE = "validator-aaa"
OLD = "validator-bbb"


def sts(*, partition: int = 0, generation: int = 2, observed: int = 2) -> dict[str, Any]:
    return {
        "metadata": {"name": "validator", "namespace": "ns", "generation": generation},
        "spec": {
            "replicas": 3,
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"rollingUpdate": {"partition": partition}},
            "template": {"spec": {"containers": [{"name": "aztec", "image": "a:1"}]}},
        },
        "status": {
            "observedGeneration": observed,
            "readyReplicas": 2,
            "currentRevision": UPDATE,
            "updateRevision": UPDATE,
        },
    }


def pod(
    ordinal: int,
    revision: str,
    *,
    ready: bool,
    waiting: str | None = None,
    deleting: bool = False,
    restarts: int = 0,
    last_terminated: bool = False,
) -> dict[str, Any]:
    state: dict[str, Any] = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    status: dict[str, Any] = {
        "name": "aztec",
        "image": "a:2",
        "ready": ready,
        "restartCount": restarts,
        "state": state,
    }
    if last_terminated:
        status["lastState"] = {"terminated": {"exitCode": 1}}
    meta: dict[str, Any] = {
        "name": f"validator-{ordinal}",
        "uid": f"uid-{ordinal}",
        "labels": {"controller-revision-hash": revision},
        "ownerReferences": [{"kind": "StatefulSet", "name": "validator", "controller": True}],
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "aztec", "image": "a:2"}]},
        "status": {
            "phase": "Running" if not waiting else "Pending",
            "conditions": [{"type": "Ready", "status": str(ready)}],
            "containerStatuses": [status],
        },
    }


def test_a_pod_on_another_revision_that_is_not_ready_is_stuck() -> None:
    pods = [
        pod(0, UPDATE, ready=True),
        pod(1, OLD, ready=True),  # Ready: the controller replaces it itself
        pod(2, OLD, ready=False, waiting="ImagePullBackOff"),
    ]
    progress = rollout_progress(
        workload_from_json("StatefulSet", sts()), [pod_from_json(p) for p in pods]
    )
    assert progress.stuck_pods == ("validator-2",)


def test_below_the_partition_terminating_or_unobserved_pods_are_not_stuck() -> None:
    broken = pod_from_json(pod(1, OLD, ready=False, waiting="CrashLoopBackOff"))
    leaving = pod_from_json(pod(2, OLD, ready=False, deleting=True))
    assert leaving.terminating
    below = rollout_progress(workload_from_json("StatefulSet", sts(partition=2)), [broken])
    assert below.stuck_pods == ()
    unobserved = rollout_progress(workload_from_json("StatefulSet", sts(observed=1)), [broken])
    assert unobserved.stuck_pods == ()
    assert rollout_progress(workload_from_json("StatefulSet", sts()), [leaving]).stuck_pods == ()
    assert rollout_progress(workload_from_json("StatefulSet", sts()), [broken]).stuck_pods == (
        "validator-1",
    )


def test_a_container_that_never_started_and_its_unpulled_image() -> None:
    pulling = pod_from_json(pod(0, UPDATE, ready=False, waiting="ErrImagePull"))
    assert pulling.container("aztec") is not None
    assert not pulling.containers[0].started
    assert pulling.unpulled_images == ("a:2",)
    assert pulling.uid == "uid-0" and pulling.container_images == {"aztec": "a:2"}

    crashing = pod_from_json(
        pod(0, UPDATE, ready=False, waiting="CrashLoopBackOff", restarts=3, last_terminated=True)
    )
    assert crashing.containers[0].started and crashing.unpulled_images == ()
    assert pod_from_json(pod(0, UPDATE, ready=True)).containers[0].started
