"""integrations.kube driving the real kubernetes-asyncio client against the Kubernetes fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from integrations.kube import KubeClient, KubeError, RolloutProgress, RolloutWatch
from integrations.kube_models import ContainerImage, same_repository, split_image
from tests.fakes.kube_api import KubeFake

NODE = "localhost:5000/aztec/node"
SIDECAR = "fluent/fluent-bit:3.1"
PROVER = "localhost:5000/aztec/node"


@pytest.fixture
async def fake() -> AsyncIterator[KubeFake]:
    async with KubeFake(ready_delay=0.01, crash_interval=0.01) as server:
        yield server


@pytest.fixture
async def kube(fake: KubeFake, tmp_path: Path) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_kubeconfig(fake.write_kubeconfig(tmp_path / "kubeconfig")) as client:
        yield client


async def follow(watch: RolloutWatch) -> list[RolloutProgress]:
    """Every snapshot of a rollout until it ends (the watch closes itself then)."""
    async with watch:
        return [progress async for progress in watch]


def main_images(fake: KubeFake, selector: str) -> dict[str, str]:
    return {
        p["metadata"]["name"]: p["spec"]["containers"][0]["image"]
        for p in fake.pods(selector=selector)
    }


def deleted_pods(fake: KubeFake, prefix: str = "validator-") -> list[str]:
    """Names of the pods deleted so far, in order."""
    return [
        e.object["metadata"]["name"]
        for e in fake.cluster.history
        if e.resource == "pods"
        and e.type == "DELETED"
        and e.object["metadata"]["name"].startswith(prefix)
    ]


# ---------------------------------------------------------------- image references


@pytest.mark.parametrize(
    ("image", "repository", "tag", "digest"),
    [
        ("nginx", "nginx", None, None),
        ("nginx:1.27", "nginx", "1.27", None),
        ("localhost:5000/x/y:tag", "localhost:5000/x/y", "tag", None),
        ("localhost:5000/x/y", "localhost:5000/x/y", None, None),
        ("r.io/a/b@sha256:" + "a" * 64, "r.io/a/b", None, "sha256:" + "a" * 64),
        ("r.io:443/a/b:v1@sha256:" + "b" * 64, "r.io:443/a/b", "v1", "sha256:" + "b" * 64),
    ],
)
def test_image_references_split_with_ports_and_digests(
    image: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = ContainerImage("main", image)
    assert (ref.repository, ref.tag, ref.digest) == (repository, tag, digest)
    assert split_image(image) == (repository, tag, digest)


def test_repository_match_ignores_docker_hub_spellings_but_not_other_registries() -> None:
    assert same_repository("docker.io/library/nginx:1", "nginx")
    assert same_repository("docker.io/aztecprotocol/aztec:0.1", "aztecprotocol/aztec")
    assert not same_repository("localhost:5000/aztec/node:1", "aztec/node")
    assert not same_repository("aztec/node-extra:1", "aztec/node")


# ---------------------------------------------------------------- rollouts


async def test_set_image_changes_only_main_containers_and_rollout_completes(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.add_statefulset(
        "validator", replicas=48, containers={"main": f"{NODE}:1", "sidecar": SIDECAR}
    )
    fake.add_deployment(
        "prover", replicas=3, containers={"main": f"{PROVER}:1", "sidecar": SIDECAR}
    )

    changes = await kube.set_image("default", "StatefulSet", "validator", NODE, "2")

    assert changes == {"main": (f"{NODE}:1", f"{NODE}:2")}
    assert fake.count("PATCH", "/apis/apps/v1/namespaces/default/statefulsets/validator") == 1
    template = fake.workload("StatefulSet", "validator")["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in template] == [
        ("main", f"{NODE}:2"),
        ("sidecar", SIDECAR),
    ]

    snapshots = await follow(kube.watch_rollout("default", "StatefulSet", "validator", timeout=30))

    assert snapshots[-1].done and snapshots[-1].failure is None
    assert not any(s.done for s in snapshots[:-1])
    assert [s.updated for s in snapshots] == sorted(s.updated for s in snapshots)
    assert (snapshots[-1].desired, snapshots[-1].updated, snapshots[-1].ready) == (48, 48, 48)
    pods = fake.pods(selector="app=validator")
    assert len(pods) == 48
    assert {tuple(c["image"] for c in p["spec"]["containers"]) for p in pods} == {
        (f"{NODE}:2", SIDECAR)
    }
    # Highest ordinal first, one at a time.
    assert deleted_pods(fake) == [f"validator-{i}" for i in range(47, -1, -1)]
    # The prover Deployment was not touched by the StatefulSet's image change.
    assert set(main_images(fake, "app=prover").values()) == {f"{PROVER}:1"}

    changes = await kube.set_image("default", "Deployment", "prover", PROVER, "2")
    assert changes == {"main": (f"{PROVER}:1", f"{PROVER}:2")}
    snapshots = await follow(kube.watch_rollout("default", "Deployment", "prover", timeout=30))
    assert snapshots[-1].done, snapshots[-1]
    workload = await kube.get_workload("default", "Deployment", "prover")
    assert (workload.replicas, workload.updated_replicas, workload.available) == (3, 3, 3)
    assert [c.image for c in workload.containers] == [f"{PROVER}:2", SIDECAR]
    prover_pods = await kube.list_pods("default", {"app": "prover"})
    assert len(prover_pods) == 3
    assert all(p.images == (f"{PROVER}:2", SIDECAR) and p.ready for p in prover_pods)
    assert all(p.owner and p.owner.startswith("ReplicaSet/prover-") for p in prover_pods)


async def test_setting_the_same_tag_sends_no_patch_and_rollout_is_done_at_once(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.add_statefulset("validator", replicas=2, containers={"main": f"{NODE}:1"})
    changes = await kube.set_image("default", "StatefulSet", "validator", NODE, "1")
    assert changes == {"main": (f"{NODE}:1", f"{NODE}:1")}
    assert fake.count("PATCH", "/apis/apps/v1/namespaces/default/statefulsets/validator") == 0
    snapshots = await follow(kube.watch_rollout("default", "StatefulSet", "validator", timeout=5))
    assert len(snapshots) == 1 and snapshots[0].done


async def test_partition_updates_only_ordinals_at_or_above_it(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.add_statefulset(
        "validator", replicas=4, containers={"main": f"{NODE}:1", "sidecar": SIDECAR}
    )
    workload = await kube.set_partition("default", "validator", 3)
    assert workload.partition == 3

    await kube.set_image("default", "StatefulSet", "validator", NODE, "2")
    snapshots = await follow(kube.watch_rollout("default", "StatefulSet", "validator", timeout=30))

    assert snapshots[-1].done and "partitioned" in snapshots[-1].message
    assert main_images(fake, "app=validator") == {
        "validator-0": f"{NODE}:1",
        "validator-1": f"{NODE}:1",
        "validator-2": f"{NODE}:1",
        "validator-3": f"{NODE}:2",
    }
    await kube.set_partition("default", "validator", 0)
    snapshots = await follow(kube.watch_rollout("default", "StatefulSet", "validator", timeout=30))
    assert snapshots[-1].done
    assert set(main_images(fake, "app=validator").values()) == {f"{NODE}:2"}
    assert deleted_pods(fake) == ["validator-3", "validator-2", "validator-1", "validator-0"]


async def test_crash_looping_image_fails_naming_the_pod_and_set_images_restores(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.add_statefulset(
        "validator", replicas=5, containers={"main": f"{NODE}:1", "sidecar": SIDECAR}
    )
    fake.bad_images[f"{NODE}:bad"] = "CrashLoopBackOff"
    before = {
        c.name: c.image for c in (await kube.get_workload("default", "sts", "validator")).containers
    }

    await kube.set_image("default", "StatefulSet", "validator", NODE, "bad")
    snapshots = await follow(kube.watch_rollout("default", "StatefulSet", "validator", timeout=30))

    final = snapshots[-1]
    assert not final.done
    assert final.failure is not None and "CrashLoopBackOff" in final.failure
    assert "validator-4" in final.failure
    assert final.failing_pods == ("validator-4",)
    # The controller stopped at the broken pod: the other four still run the old image.
    assert [
        i for n, i in sorted(main_images(fake, "app=validator").items()) if n != "validator-4"
    ] == [f"{NODE}:1"] * 4
    pods = {p.name: p for p in await kube.list_pods("default", "app=validator")}
    assert (
        pods["validator-4"].waiting_reason == "CrashLoopBackOff" and not pods["validator-4"].ready
    )
    assert pods["validator-4"].restarts >= 1
    events = await kube.list_events("default", involved_name="validator-4")
    assert any(e.reason == "BackOff" and e.type == "Warning" for e in events)
    assert all(e.involved_name == "validator-4" for e in events)

    restored = await kube.set_images("default", "StatefulSet", "validator", before)
    assert restored == {"main": (f"{NODE}:bad", f"{NODE}:1"), "sidecar": (SIDECAR, SIDECAR)}
    # OrderedReady: the restored template alone does not replace the broken pod ...
    async with kube.watch_rollout("default", "StatefulSet", "validator", timeout=30) as watch:
        first = await anext(watch)
    assert not first.done and first.stuck_pods == ("validator-4",)
    assert main_images(fake, "app=validator")["validator-4"] == f"{NODE}:bad"
    # ... deleting it does (the docs' forced rollback): recreated from the restored template
    stuck = pods["validator-4"]
    assert await kube.delete_pod("default", "validator-4", uid=stuck.uid)
    snapshots = await follow(kube.watch_rollout("default", "StatefulSet", "validator", timeout=30))
    assert snapshots[-1].done, snapshots[-1]
    assert set(main_images(fake, "app=validator").values()) == {f"{NODE}:1"}
    # the uid precondition: that incarnation is gone, so a second delete deletes nothing
    assert not await kube.delete_pod("default", "validator-4", uid=stuck.uid)
    assert main_images(fake, "app=validator")["validator-4"] == f"{NODE}:1"


async def test_image_pull_failure_of_a_deployment_is_reported(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.add_deployment("prover", replicas=3, containers={"main": f"{PROVER}:1"})
    fake.bad_images[f"{PROVER}:missing"] = "ImagePullBackOff"

    await kube.set_image("default", "Deployment", "prover", PROVER, "missing")
    snapshots = await follow(kube.watch_rollout("default", "Deployment", "prover", timeout=30))

    final = snapshots[-1]
    assert final.failure is not None
    assert "ErrImagePull" in final.failure or "ImagePullBackOff" in final.failure
    assert len(final.failing_pods) == 1 and final.failing_pods[0].startswith("prover-")
    assert final.failing_pods[0] in str(final.failure)
    # Surge one at a time: the three old pods still serve.
    assert sorted(main_images(fake, "app=prover").values()) == [f"{PROVER}:1"] * 3 + [
        f"{PROVER}:missing"
    ]


async def test_progress_deadline_exceeded_is_a_failure(tmp_path: Path) -> None:
    async with KubeFake(ready_delay=0.01, progress_deadline_scale=0.02) as fake:
        fake.add_deployment(
            "prover", replicas=2, containers={"main": f"{PROVER}:1"}, progress_deadline_seconds=10
        )
        fake.bad_images[f"{PROVER}:slow"] = "ContainerCreating"
        async with KubeClient.from_kubeconfig(fake.write_kubeconfig(tmp_path / "kc")) as kube:
            await kube.set_image("default", "Deployment", "prover", PROVER, "slow")
            snapshots = await follow(
                kube.watch_rollout("default", "Deployment", "prover", timeout=30)
            )
    assert snapshots[-1].failure is not None
    assert "exceeded its progress deadline" in snapshots[-1].failure
    assert snapshots[-1].failing_pods == ()


async def test_rollout_watch_times_out_with_a_failure(fake: KubeFake, kube: KubeClient) -> None:
    fake.add_statefulset("validator", replicas=2, containers={"main": f"{NODE}:1"})
    fake.bad_images[f"{NODE}:slow"] = "ContainerCreating"
    await kube.set_image("default", "StatefulSet", "validator", NODE, "slow")
    snapshots = await follow(kube.watch_rollout("default", "StatefulSet", "validator", timeout=0.3))
    assert snapshots[-1].failure is not None and snapshots[-1].failure.startswith(
        "timed out after 0.3s"
    )
    assert not snapshots[-1].done


async def test_dropped_watches_resume_from_last_resource_version(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.add_statefulset(
        "validator", replicas=10, containers={"main": f"{NODE}:1", "sidecar": SIDECAR}
    )
    await kube.set_image("default", "StatefulSet", "validator", NODE, "2")
    snapshots: list[RolloutProgress] = []
    dropped = 0
    async with kube.watch_rollout("default", "StatefulSet", "validator", timeout=30) as watch:
        async for progress in watch:
            snapshots.append(progress)
            # both watches must be open (the first snapshot can come before they are)
            if progress.updated >= 3 and not dropped and fake.open_watches == 2:
                dropped = fake.drop_watches()
    assert dropped == 2
    assert snapshots[-1].done
    assert watch.reconnects >= 2 and watch.relists == 0
    pod_watches = fake.watch_requests("/api/v1/namespaces/default/pods")
    assert len(pod_watches) >= 2
    resumed = pod_watches[1].query["resourceVersion"]
    assert int(resumed) > int(pod_watches[0].query["resourceVersion"])


async def test_expired_resource_version_is_relisted(fake: KubeFake, kube: KubeClient) -> None:
    fake.add_statefulset("validator", replicas=6, containers={"main": f"{NODE}:1"})
    await kube.set_image("default", "StatefulSet", "validator", NODE, "2")
    fake.pause()
    async with kube.watch_rollout("default", "StatefulSet", "validator", timeout=30) as watch:
        first = await anext(watch)
        assert not first.done
        # In one step: the watches end, both the workload and a pod change, and the history
        # is compacted past the last version the client saw: resuming gets 410 Gone.
        fake.drop_watches()
        sts = fake.workload("StatefulSet", "validator")
        sts["metadata"].setdefault("annotations", {})["touched"] = "yes"
        fake.cluster.put("statefulsets", sts)
        pod = fake.pods(selector="app=validator")[0]
        pod["metadata"]["annotations"]["touched"] = "yes"
        fake.cluster.put("pods", pod)
        fake.compact()
        fake.resume()
        snapshots = [progress async for progress in watch]
    assert snapshots[-1].done
    assert watch.relists >= 1


async def test_leaving_a_rollout_watch_early_closes_its_watches(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.add_statefulset("validator", replicas=3, containers={"main": f"{NODE}:1"})
    await kube.set_image("default", "StatefulSet", "validator", NODE, "2")
    async with kube.watch_rollout("default", "StatefulSet", "validator", timeout=30) as watch:
        async for progress in watch:
            assert not progress.done
            await fake.wait_until(lambda: fake.open_watches == 2)
            break
    # Both watch requests are gone once the server notices the closed connections.
    await fake.wait_until(lambda: fake.open_watches == 0, timeout=2.0)
    assert len(fake.watch_requests("/api/v1/namespaces/default/pods")) == 1


# ---------------------------------------------------------------- reads


async def test_list_workloads_and_pods_report_status(fake: KubeFake, kube: KubeClient) -> None:
    fake.add_statefulset(
        "validator",
        replicas=3,
        containers={"main": f"{NODE}:1", "sidecar": SIDECAR},
        labels={"app": "validator", "net": "alpha"},
    )
    fake.add_deployment(
        "prover",
        replicas=2,
        containers={"main": f"{PROVER}:1"},
        labels={"app": "prover", "net": "alpha"},
    )
    fake.add_deployment(
        "other", replicas=1, containers={"main": "x:1"}, labels={"app": "other", "net": "beta"}
    )

    workloads = await kube.list_workloads("default", "net=alpha")
    assert [(w.kind, w.name) for w in workloads] == [
        ("StatefulSet", "validator"),
        ("Deployment", "prover"),
    ]
    validator = workloads[0]
    assert validator.selector == {"app": "validator", "net": "alpha"}
    assert (validator.replicas, validator.ready_replicas, validator.partition) == (3, 3, 0)
    assert validator.containers[1] == ContainerImage("sidecar", SIDECAR)
    assert validator.generation == validator.observed_generation == 1
    assert validator.resource_version
    assert await kube.list_workloads("default", {"net": "gamma"}) == []

    pods = await kube.list_pods("default", "app=validator")
    assert [p.name for p in pods] == ["validator-0", "validator-1", "validator-2"]
    pod = pods[0]
    assert (pod.phase, pod.ready, pod.restarts, pod.waiting_reason) == ("Running", True, 0, None)
    assert pod.images == (f"{NODE}:1", SIDECAR)
    assert pod.owner == "StatefulSet/validator"
    assert pod.created_at is not None and pod.created_at.tzinfo is not None
    assert pod.labels["app"] == "validator"


async def test_pod_logs_tail_since_and_container(fake: KubeFake, kube: KubeClient) -> None:
    fake.add_statefulset(
        "validator", replicas=1, containers={"main": f"{NODE}:1", "sidecar": SIDECAR}
    )
    old = datetime.now(UTC) - timedelta(hours=1)
    fake.set_logs("validator-0", "boot\nold line", container="main", at=old)
    fake.add_logs("validator-0", "Generated IVC proof\nnew line", container="main")
    fake.set_logs("validator-0", "sidecar says hi", container="sidecar")

    full = await kube.pod_logs("default", "validator-0", container="main")
    assert full == "boot\nold line\nGenerated IVC proof\nnew line\n"
    assert (
        await kube.pod_logs("default", "validator-0", container="main", tail_lines=1)
        == "new line\n"
    )
    recent = await kube.pod_logs("default", "validator-0", container="main", since_seconds=60)
    assert recent == "Generated IVC proof\nnew line\n"
    assert await kube.pod_logs("default", "validator-0", container="sidecar") == "sidecar says hi\n"

    with pytest.raises(KubeError) as ambiguous:
        await kube.pod_logs("default", "validator-0")
    assert ambiguous.value.status == 400
    assert "container name must be specified" in ambiguous.value.message
    with pytest.raises(KubeError) as missing:
        await kube.pod_logs("default", "validator-9", container="main")
    assert missing.value.status == 404


async def test_a_json_log_line_comes_back_as_written(fake: KubeFake, kube: KubeClient) -> None:
    fake.add_statefulset("validator", replicas=1, containers={"main": f"{NODE}:1"})
    line = '{"level":"info","msg":"Can propose block 12","slot":40}'
    fake.set_logs("validator-0", line, container="main")
    assert await kube.pod_logs("default", "validator-0", container="main") == line + "\n"
    fake.add_logs("validator-0", "plain text", container="main")  # two lines: not one JSON
    assert await kube.pod_logs("default", "validator-0", container="main") == (
        line + "\nplain text\n"
    )


async def test_services_pending_then_with_ingress(fake: KubeFake, kube: KubeClient) -> None:
    fake.add_service("ethereum-lb", ports=[(8545, "TCP", "rpc")])
    fake.add_service("boot-node-lb-tcp", ports=[(40400, "TCP", "p2p")])
    fake.add_service("internal", type_="ClusterIP")

    services = await kube.list_services("default", ["ethereum-lb", "boot-node-lb-tcp"])
    assert [s.name for s in services] == ["boot-node-lb-tcp", "ethereum-lb"]
    assert all(s.pending and s.external_addresses == () for s in services)
    assert services[1].port_named("rpc") is not None and services[1].port_named("rpc").port == 8545

    fake.set_load_balancer_ingress("ethereum-lb", ip="34.1.2.3")
    fake.set_load_balancer_ingress("boot-node-lb-tcp", hostname="lb.example.com")
    by_name = {s.name: s for s in await kube.list_services("default")}
    assert by_name["ethereum-lb"].external_addresses == ("34.1.2.3",)
    assert by_name["boot-node-lb-tcp"].external_addresses == ("lb.example.com",)
    assert not by_name["ethereum-lb"].pending
    assert by_name["internal"].type == "ClusterIP" and not by_name["internal"].pending


async def test_jobs_create_and_complete(fake: KubeFake, kube: KubeClient) -> None:
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "add-validator-1"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "add", "image": f"{NODE}:1", "args": ["add-validator", "0xabc"]}
                    ],
                }
            },
        },
    }
    job = await kube.create_job("default", manifest)
    assert (job.name, job.complete) == ("add-validator-1", False)
    await fake.wait_until(
        lambda: fake.cluster.get("jobs", "default", "add-validator-1")["status"].get("succeeded")
    )
    done = await kube.get_job("default", "add-validator-1")
    assert done.complete and done.succeeded == 1 and done.failure is None

    with pytest.raises(KubeError) as duplicate:
        await kube.create_job("default", manifest)
    assert duplicate.value.status == 409
    with pytest.raises(KubeError) as missing:
        await kube.get_job("default", "nope")
    assert missing.value.status == 404


# ---------------------------------------------------------------- errors


async def test_missing_workload_gives_a_clear_error(fake: KubeFake, kube: KubeClient) -> None:
    with pytest.raises(KubeError) as info:
        await kube.get_workload("default", "StatefulSet", "nope")
    assert info.value.status == 404
    assert info.value.message == "StatefulSet nope not found in namespace default"
    with pytest.raises(KubeError, match="Deployment nope not found"):
        await kube.set_image("default", "Deployment", "nope", NODE, "2")
    with pytest.raises(KubeError, match="StatefulSet nope not found"):
        await follow(kube.watch_rollout("default", "StatefulSet", "nope", timeout=5))
    with pytest.raises(ValueError, match="unsupported workload kind"):
        await kube.get_workload("default", "DaemonSet", "x")


async def test_bad_requests_change_nothing(fake: KubeFake, kube: KubeClient) -> None:
    fake.add_statefulset(
        "validator", replicas=1, containers={"main": f"{NODE}:1", "sidecar": SIDECAR}
    )
    with pytest.raises(
        KubeError, match=r"no container .* runs other/repo .*main=localhost:5000/aztec/node:1"
    ):
        await kube.set_image("default", "StatefulSet", "validator", "other/repo", "2")
    with pytest.raises(KubeError, match="no container named ghost"):
        await kube.set_images(
            "default", "StatefulSet", "validator", {"main": f"{NODE}:2", "ghost": "x:1"}
        )
    with pytest.raises(ValueError, match="not a valid image tag"):
        await kube.set_image("default", "StatefulSet", "validator", NODE, "v1;rm -rf /")
    with pytest.raises(ValueError):
        await kube.set_partition("default", "validator", -1)
    assert fake.count("PATCH", "/apis/apps/v1/namespaces/default/statefulsets/validator") == 0


async def test_wrong_token_and_bad_kubeconfig_raise_kube_errors(
    fake: KubeFake, tmp_path: Path
) -> None:
    path = fake.write_kubeconfig(tmp_path / "kc")
    path.write_text(path.read_text().replace(fake.token, "wrong-token"))
    async with KubeClient.from_kubeconfig(path) as kube:
        with pytest.raises(KubeError) as info:
            await kube.list_pods("default")
    assert info.value.status == 401
    with pytest.raises(KubeError, match="cannot load kubeconfig"):
        async with KubeClient.from_kubeconfig(path, context="no-such-context"):
            pass
    with pytest.raises(KubeError, match="cannot load kubeconfig"):
        async with KubeClient.from_kubeconfig(tmp_path / "absent"):
            pass
    with pytest.raises(KubeError, match="cannot load in-cluster config"):
        async with KubeClient.in_cluster():  # no service account mounted here
            pass


async def test_a_named_context_is_used(fake: KubeFake, tmp_path: Path) -> None:
    fake.add_statefulset("validator", replicas=1, containers={"main": f"{NODE}:1"})
    async with KubeClient.from_kubeconfig(
        fake.write_kubeconfig(tmp_path / "kc"), context="fake"
    ) as kube:
        assert [w.name for w in await kube.list_workloads("default")] == ["validator"]


async def test_the_client_sends_its_token(fake: KubeFake, kube: KubeClient) -> None:
    await kube.list_pods("default")
    assert fake.requests[-1].authorization == f"Bearer {fake.token}"
