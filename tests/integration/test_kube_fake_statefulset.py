"""The Kubernetes fake's StatefulSet controller behaves as the Kubernetes docs describe:
``OrderedReady`` waits on a pod that is not Running and Ready (so a broken pod
blocks a reverted template until it is deleted: the "forced rollback"), ``Parallel``
does not, and a deleted pod comes back from its partition's revision. Driven through
kubernetes-asyncio's real client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integrations.kube import KubeClient, KubeError
from tests.fakes.kube_api import KubeFake

OLD = "aztecprotocol/aztec:0.61.0"
BAD = "aztecprotocol/aztec:0.62.0"
GOOD = "aztecprotocol/aztec:0.62.1"


@pytest.fixture
async def fake() -> AsyncIterator[KubeFake]:
    async with KubeFake(ready_delay=0.01, crash_interval=0.01) as server:
        yield server


@pytest.fixture
async def kube(fake: KubeFake, tmp_path: Path) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_kubeconfig(fake.write_kubeconfig(tmp_path / "kubeconfig")) as client:
        yield client


def pod(fake: KubeFake, name: str) -> dict[str, str]:
    """Image, uid, phase and readiness of one stored pod."""
    stored = fake.cluster.get("pods", "default", name)
    assert stored is not None, f"no pod {name}"
    ready = any(
        c["type"] == "Ready" and c["status"] == "True" for c in stored["status"]["conditions"]
    )
    return {
        "image": stored["spec"]["containers"][0]["image"],
        "uid": stored["metadata"]["uid"],
        "ready": str(ready),
    }


async def broken_canary(fake: KubeFake, kube: KubeClient, policy: str, failure: str) -> str:
    """Three Ready pods on OLD, a canary (partition 2) on BAD that fails; its uid."""
    fake.add_statefulset(
        "validator", replicas=3, containers={"aztec": OLD}, pod_management_policy=policy
    )
    fake.bad_images[BAD] = failure
    await kube.set_partition("default", "validator", 2)
    await kube.set_images("default", "StatefulSet", "validator", {"aztec": BAD})
    await fake.wait_until(
        lambda: (
            pod(fake, "validator-2")["image"] == BAD
            and fake.pods(selector="app=validator")[2]["status"]["containerStatuses"][0]["state"]
            .get("waiting", {})
            .get("reason")
            in ("CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff")
        )
    )
    assert [pod(fake, f"validator-{n}")["image"] for n in range(3)] == [OLD, OLD, BAD]
    return pod(fake, "validator-2")["uid"]


@pytest.mark.parametrize("failure", ["CrashLoopBackOff", "ImagePullBackOff"])
async def test_ordered_ready_keeps_a_broken_pod_after_the_template_is_restored(
    fake: KubeFake, kube: KubeClient, failure: str
) -> None:
    uid = await broken_canary(fake, kube, "OrderedReady", failure)
    await kube.set_images("default", "StatefulSet", "validator", {"aztec": OLD})
    await kube.set_partition("default", "validator", 0)
    # every change above reconciled synchronously: the controller waits on the broken pod
    assert pod(fake, "validator-2") == {"image": BAD, "uid": uid, "ready": "False"}
    workload = await kube.get_workload("default", "StatefulSet", "validator")
    assert workload.ready_replicas == 2 and workload.pod_management_policy == "OrderedReady"

    assert await kube.delete_pod("default", "validator-2", uid=uid)
    await fake.wait_until(lambda: pod(fake, "validator-2")["ready"] == "True")
    recreated = pod(fake, "validator-2")
    assert recreated["image"] == OLD and recreated["uid"] != uid
    assert fake.deletes() == ["/api/v1/namespaces/default/pods/validator-2"]


async def test_parallel_replaces_the_broken_pod_by_itself(fake: KubeFake, kube: KubeClient) -> None:
    uid = await broken_canary(fake, kube, "Parallel", "CrashLoopBackOff")
    await kube.set_images("default", "StatefulSet", "validator", {"aztec": OLD})
    await fake.wait_until(lambda: pod(fake, "validator-2")["ready"] == "True")
    assert pod(fake, "validator-2")["image"] == OLD and pod(fake, "validator-2")["uid"] != uid
    assert fake.deletes() == []


async def test_ordered_ready_creates_one_pod_at_a_time_parallel_all_at_once(
    fake: KubeFake,
) -> None:
    fake.add_statefulset("ordered", replicas=4, containers={"aztec": OLD}, ready=False)
    fake.add_statefulset(
        "burst",
        replicas=4,
        containers={"aztec": OLD},
        ready=False,
        pod_management_policy="Parallel",
    )
    assert [p["metadata"]["name"] for p in fake.pods(selector="app=ordered")] == ["ordered-0"]
    assert len(fake.pods(selector="app=burst")) == 4
    await fake.wait_until(lambda: len(fake.pods(selector="app=ordered")) == 4)


async def test_ordered_ready_creates_nothing_behind_a_broken_pod(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.bad_images[BAD] = "CrashLoopBackOff"
    fake.add_statefulset("validator", replicas=3, containers={"aztec": BAD}, ready=False)
    await fake.wait_until(lambda: pod(fake, "validator-0")["image"] == BAD)
    await fake.wait_until(
        lambda: fake.cluster.get("pods", "default", "validator-0")["status"]["phase"] == "Running"
    )
    assert [p["metadata"]["name"] for p in fake.pods(selector="app=validator")] == ["validator-0"]


async def test_a_deleted_pod_comes_back_from_its_partitions_revision(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.add_statefulset("validator", replicas=3, containers={"aztec": OLD})
    await kube.set_partition("default", "validator", 2)
    await kube.set_images("default", "StatefulSet", "validator", {"aztec": GOOD})
    await fake.wait_until(
        lambda: (
            (pod(fake, "validator-2")["image"], pod(fake, "validator-2")["ready"]) == (GOOD, "True")
        )
    )
    assert [pod(fake, f"validator-{n}")["image"] for n in range(3)] == [OLD, OLD, GOOD]

    below = pod(fake, "validator-0")["uid"]
    assert await kube.delete_pod("default", "validator-0", uid=below)
    await fake.wait_until(lambda: pod(fake, "validator-0")["ready"] == "True")
    assert pod(fake, "validator-0")["image"] == OLD  # below the partition: current revision
    assert pod(fake, "validator-0")["uid"] != below

    above = pod(fake, "validator-2")["uid"]
    assert await kube.delete_pod("default", "validator-2", uid=above)
    await fake.wait_until(lambda: pod(fake, "validator-2")["ready"] == "True")
    assert pod(fake, "validator-2")["image"] == GOOD  # at the partition: update revision


async def test_delete_checks_the_uid_precondition_and_rbac(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.add_statefulset("validator", replicas=1, containers={"aztec": OLD})
    before = pod(fake, "validator-0")
    assert not await kube.delete_pod("default", "validator-0", uid="not-this-incarnation")
    assert pod(fake, "validator-0") == before  # 409: nothing deleted
    assert not await kube.delete_pod("default", "no-such-pod")  # 404: already gone

    fake.forbidden.add(("delete", "pods"))
    with pytest.raises(KubeError) as refused:
        await kube.delete_pod("default", "validator-0", uid=before["uid"])
    assert refused.value.status == 403 and "cannot delete resource" in refused.value.message
    assert pod(fake, "validator-0") == before


async def test_a_deleted_pod_stays_terminating_and_ordered_ready_waits_for_it(
    tmp_path: Path,
) -> None:
    async with KubeFake(ready_delay=0.01, termination_delay=0.3) as fake:
        fake.add_statefulset("validator", replicas=2, containers={"aztec": OLD})
        async with KubeClient.from_kubeconfig(fake.write_kubeconfig(tmp_path / "k")) as kube:
            uid = pod(fake, "validator-1")["uid"]
            assert await kube.delete_pod("default", "validator-1", uid=uid)
            (terminating,) = [
                p for p in await kube.list_pods("default", "app=validator") if p.terminating
            ]
            assert terminating.name == "validator-1" and terminating.uid == uid
            assert await kube.delete_pod("default", "validator-1", uid=uid)  # still there
            await fake.wait_until(lambda: pod(fake, "validator-1")["uid"] != uid, timeout=5)
            await fake.wait_until(lambda: pod(fake, "validator-1")["ready"] == "True")
