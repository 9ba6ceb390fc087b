"""The Kubernetes fake speaks the API faithfully: to the real kubectl and to plain HTTP.

kubectl: get, logs, set image, merge/JSON patches, rollout status. Plain HTTP: the
watch spellings, resuming from a resourceVersion, 410 Gone, strategic-merge lists.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.binaries import require_binary
from tests.fakes.kube_api import KubeFake

NODE = "localhost:5000/aztec/node"
SIDECAR = "fluent/fluent-bit:3.1"


@dataclass(frozen=True)
class Ran:
    """What one kubectl run printed and returned."""

    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Kubectl:
    """Runs the real kubectl against the fake's kubeconfig."""

    binary: str
    kubeconfig: Path

    async def __call__(self, *args: str, timeout: float = 30.0) -> Ran:
        process = await asyncio.create_subprocess_exec(
            self.binary,
            "--kubeconfig",
            str(self.kubeconfig),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(timeout):
                out, err = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        assert process.returncode is not None
        return Ran(process.returncode, out.decode(), err.decode())


@pytest.fixture
async def fake() -> AsyncIterator[KubeFake]:
    async with KubeFake(ready_delay=0.01, crash_interval=0.01) as server:
        server.add_statefulset(
            "validator", replicas=4, containers={"main": f"{NODE}:1", "sidecar": SIDECAR}
        )
        server.add_deployment("prover", replicas=2, containers={"main": f"{NODE}:1"})
        yield server


@pytest.fixture
def kubectl(fake: KubeFake, tmp_path: Path) -> Kubectl:
    """kubectl pointed at the fake (skips outside CI when kubectl is not installed)."""
    return Kubectl(require_binary("kubectl"), fake.write_kubeconfig(tmp_path / "kubeconfig"))


@pytest.mark.binary("kubectl")
async def test_get_pods_lists_every_pod_with_readiness(fake: KubeFake, kubectl: Kubectl) -> None:
    ran = await kubectl("get", "pods")
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert {f"validator-{i}" for i in range(4)} <= rows.keys()
    assert rows["validator-0"][1:3] == ["2/2", "Running"]
    assert sum(name.startswith("prover-") for name in rows) == 2

    ran = await kubectl("get", "pods", "-l", "app=validator", "-o", "json")
    assert ran.returncode == 0, ran.stderr
    items = json.loads(ran.stdout)["items"]
    assert sorted(p["metadata"]["name"] for p in items) == [f"validator-{i}" for i in range(4)]


@pytest.mark.binary("kubectl")
async def test_logs_tail_and_default_container(fake: KubeFake, kubectl: Kubectl) -> None:
    fake.set_logs("validator-0", "one\ntwo\nthree", container="main")
    ran = await kubectl("logs", "validator-0", "-c", "main", "--tail=2")
    assert (ran.returncode, ran.stdout) == (0, "two\nthree\n"), ran.stderr
    ran = await kubectl("logs", "validator-0")
    assert ran.returncode == 0 and ran.stdout == "one\ntwo\nthree\n"
    assert 'Defaulted container "main"' in ran.stderr
    ran = await kubectl("logs", "validator-9")
    assert ran.returncode != 0 and "not found" in ran.stderr


@pytest.mark.binary("kubectl")
async def test_rollout_status_completes_after_an_image_change(
    fake: KubeFake, kubectl: Kubectl
) -> None:
    ran = await kubectl("set", "image", "statefulset/validator", f"main={NODE}:2")
    assert ran.returncode == 0, ran.stderr
    patches = [r for r in fake.requests if r.method == "PATCH"]
    assert [p.content_type for p in patches] == ["application/strategic-merge-patch+json"]

    ran = await kubectl("rollout", "status", "statefulset/validator", "--timeout=30s")
    assert ran.returncode == 0, ran.stderr
    assert (
        "roll out complete: 4 new pods have been updated" in ran.stdout
    )  # partition defaults to 0
    images = {
        tuple(c["image"] for c in p["spec"]["containers"])
        for p in fake.pods(selector="app=validator")
    }
    assert images == {(f"{NODE}:2", SIDECAR)}  # kubectl's strategic merge kept the sidecar

    ran = await kubectl("set", "image", "deployment/prover", f"main={NODE}:2")
    assert ran.returncode == 0, ran.stderr
    ran = await kubectl("rollout", "status", "deployment/prover", "--timeout=30s")
    assert ran.returncode == 0, ran.stderr
    assert 'deployment "prover" successfully rolled out' in ran.stdout


@pytest.mark.binary("kubectl")
async def test_rollout_status_times_out_on_a_crash_looping_image(
    fake: KubeFake, kubectl: Kubectl
) -> None:
    fake.bad_images[f"{NODE}:bad"] = "CrashLoopBackOff"
    ran = await kubectl("set", "image", "statefulset/validator", f"main={NODE}:bad")
    assert ran.returncode == 0, ran.stderr
    ran = await kubectl("rollout", "status", "statefulset/validator", "--timeout=1s")
    assert ran.returncode != 0
    assert "timed out" in ran.stderr
    ran = await kubectl("get", "pod", "validator-3")
    assert "CrashLoopBackOff" in ran.stdout


@pytest.mark.binary("kubectl")
async def test_merge_and_json_patches_from_kubectl(fake: KubeFake, kubectl: Kubectl) -> None:
    ran = await kubectl(
        "patch",
        "statefulset",
        "validator",
        "--type=merge",
        "-p",
        '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":3}}}}',
    )
    assert ran.returncode == 0, ran.stderr
    sts = fake.workload("StatefulSet", "validator")
    assert sts["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 3},
    }

    op = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": f"{NODE}:3"}]
    ran = await kubectl("patch", "statefulset", "validator", "--type=json", "-p", json.dumps(op))
    assert ran.returncode == 0, ran.stderr
    ran = await kubectl("rollout", "status", "statefulset/validator", "--timeout=30s")
    assert ran.returncode == 0, ran.stderr
    assert "partitioned roll out complete: 1 new pods" in ran.stdout
    images = {
        p["metadata"]["name"]: p["spec"]["containers"][0]["image"]
        for p in fake.pods(selector="app=validator")
    }
    assert images == {
        "validator-0": f"{NODE}:1",
        "validator-1": f"{NODE}:1",
        "validator-2": f"{NODE}:1",
        "validator-3": f"{NODE}:3",
    }

    bad = [{"op": "test", "path": "/spec/replicas", "value": 99}]
    ran = await kubectl("patch", "statefulset", "validator", "--type=json", "-p", json.dumps(bad))
    assert ran.returncode != 0 and "test operation" in ran.stderr


# ---------------------------------------------------------------- plain HTTP


async def read_events(response: aiohttp.ClientResponse, count: int) -> list[dict[str, object]]:
    """The next ``count`` watch events of a streaming response."""
    events = []
    async with asyncio.timeout(5):
        while len(events) < count:
            line = await response.content.readline()
            assert line, "watch ended early"
            events.append(json.loads(line))
    return events


@pytest.mark.parametrize("spelling", ["true", "True", "1"])
async def test_watch_accepts_every_spelling_and_resumes_from_a_version(
    fake: KubeFake, spelling: str
) -> None:
    pods = f"{fake.url}/api/v1/namespaces/default/pods"
    async with aiohttp.ClientSession() as http:
        async with http.get(pods, params={"labelSelector": "app=validator"}) as listed:
            body = await listed.json()
        version = body["metadata"]["resourceVersion"]
        assert len(body["items"]) == 4
        query = {
            "watch": spelling,
            "resourceVersion": version,
            "labelSelector": "app=validator,statefulset.kubernetes.io/pod-name in (validator-3)",
        }
        async with http.get(pods, params=query) as watch:
            assert watch.status == 200
            sts = fake.workload("StatefulSet", "validator")
            sts["spec"]["template"]["spec"]["containers"][0]["image"] = f"{NODE}:2"
            fake.cluster.put("statefulsets", sts)  # the controller replaces validator-3 first
            events = await read_events(watch, 2)
            assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
                ("DELETED", "validator-3"),
                ("ADDED", "validator-3"),
            ]
            versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
            assert int(version) < versions[0] < versions[1]
        fake.compact()
        async with http.get(pods, params={"watch": spelling, "resourceVersion": version}) as stale:
            (error,) = await read_events(stale, 1)
        assert error["type"] == "ERROR" and error["object"]["code"] == 410
        assert error["object"]["reason"] == "Expired"


async def test_strategic_merge_patch_merges_containers_by_name(fake: KubeFake) -> None:
    url = f"{fake.url}/apis/apps/v1/namespaces/default/statefulsets/validator"
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "sidecar", "image": "fluent/fluent-bit:4"},
                        {"name": "extra", "image": "busybox"},
                    ]
                }
            }
        }
    }
    headers = {"Content-Type": "application/strategic-merge-patch+json"}
    async with aiohttp.ClientSession() as http:
        async with http.patch(url, data=json.dumps(patch), headers=headers) as response:
            assert response.status == 200
            body = await response.json()
        containers = [
            (c["name"], c["image"]) for c in body["spec"]["template"]["spec"]["containers"]
        ]
        assert containers == [
            ("main", f"{NODE}:1"),
            ("sidecar", "fluent/fluent-bit:4"),
            ("extra", "busybox"),
        ]
        assert body["metadata"]["generation"] == 2

        delete = {
            "spec": {"template": {"spec": {"containers": [{"name": "extra", "$patch": "delete"}]}}}
        }
        async with http.patch(url, data=json.dumps(delete), headers=headers) as response:
            body = await response.json()
        assert [c["name"] for c in body["spec"]["template"]["spec"]["containers"]] == [
            "main",
            "sidecar",
        ]

        merge_type = {"Content-Type": "application/merge-patch+json"}
        invalid = {"spec": {"template": {"spec": {"containers": [{"name": "only"}]}}}}
        async with http.patch(url, data=json.dumps(invalid), headers=merge_type) as response:
            assert response.status == 422
            assert "containers[0].image: Required value" in (await response.json())["message"]
        merge = {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "b:1"}]}}}}
        async with http.patch(url, data=json.dumps(merge), headers=merge_type) as response:
            body = await response.json()
        # RFC 7386 replaces lists wholesale.
        assert [c["name"] for c in body["spec"]["template"]["spec"]["containers"]] == ["only"]

        async with http.patch(
            url, data="{}", headers={"Content-Type": "application/json"}
        ) as response:
            assert response.status == 415
        async with http.get(url, headers={"Authorization": "Bearer wrong"}) as response:
            assert response.status == 401
            assert (await response.json())["reason"] == "Unauthorized"
        async with http.get(url.replace("validator", "ghost")) as response:
            assert response.status == 404
            assert (await response.json())["message"] == 'statefulsets.apps "ghost" not found'


@pytest.mark.binary("kubectl")
async def test_kubectl_delete_pod_and_the_statefulset_recreates_it(
    fake: KubeFake, kubectl: Kubectl
) -> None:
    before = fake.cluster.get("pods", "default", "validator-3")
    assert before is not None
    uid = before["metadata"]["uid"]
    ran = await kubectl("delete", "pod", "validator-3", "--timeout=20s")
    assert ran.returncode == 0, ran.stderr
    assert 'pod "validator-3" deleted' in ran.stdout
    await fake.wait_until(
        lambda: (
            (pod := fake.cluster.get("pods", "default", "validator-3")) is not None
            and pod["metadata"]["uid"] != uid
        )
    )
    assert fake.deletes()[0] == "/api/v1/namespaces/default/pods/validator-3"
    ran = await kubectl("delete", "pod", "no-such-pod")
    assert ran.returncode != 0 and 'pods "no-such-pod" not found' in ran.stderr
