"""Kubernetes Jobs through integrations.kube: the real kubernetes-asyncio client against the fake.

A Job's outcome is decided by the test with a JobScript (exit code, log, run time); the
fake's Job controller retries, times out and reports the way Kubernetes does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from integrations.kube import Job, JobSpec, KubeClient, KubeError
from integrations.kube_models import SecretEnv
from tests.fakes.kube_api import KubeFake
from tests.fakes.kube_jobs import JobScript

ADDER = "localhost:5000/aztec/validator-adder:1"
JOBS = "/apis/batch/v1/namespaces/default/jobs"
NOISE = "\n".join(f"step {i}" for i in range(1, 31))


@pytest.fixture
async def fake() -> AsyncIterator[KubeFake]:
    async with KubeFake(ready_delay=0.01, job_backoff=0.01, job_time_scale=0.1) as server:
        server.add_secret("funder", {"private-key": "0xfeed"})
        yield server


@pytest.fixture
def kubeconfig(fake: KubeFake, tmp_path: Path) -> Path:
    return fake.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
async def kube(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_kubeconfig(kubeconfig) as client:
        yield client


def adder(address: str, **overrides: Any) -> JobSpec:
    """The Job that adds one validator, as onboarding would configure it."""
    fields: dict[str, Any] = {
        "name": f"add-validator-{address[2:8]}",
        "image": ADDER,
        "args": ("add-validator", "--address", address),
        "secret_env": (SecretEnv("FUNDER_KEY", "funder", "private-key"),),
        "labels": {"app": "validator-onboarding"},
    }
    fields.update(overrides)
    return JobSpec(**fields)


# ---------------------------------------------------------------- outcomes


async def test_a_job_that_succeeds_is_complete_and_its_log_readable(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.script_job("0xabc123", JobScript(logs="funding 0xabc123\nvalidator added", duration=0.05))
    created = await kube.create_job("default", adder("0xabc123"))
    assert (created.name, created.finished, created.uid != "") == (
        "add-validator-abc123",
        False,
        True,
    )

    job = await kube.watch_job("default", created.name, timeout=10)
    assert job.complete and job.failure is None and job.finished
    assert (job.succeeded, job.failed, job.active) == (1, 0, 0)
    assert job.started_at is not None and job.completed_at is not None
    assert await kube.job_logs("default", job.name) == "funding 0xabc123\nvalidator added\n"
    assert await kube.job_logs("default", job.name, tail=1) == "validator added\n"

    (pod,) = fake.job_pods(job.name)
    labels = pod["metadata"]["labels"]
    assert labels["job-name"] == labels["batch.kubernetes.io/job-name"] == job.name
    assert labels["controller-uid"] == job.uid and labels["app"] == "validator-onboarding"
    (owner,) = pod["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "Job",
        job.name,
        job.uid,
        True,
    )
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["add-validator", "--address", "0xabc123"]
    assert container["env"] == [
        {
            "name": "FUNDER_KEY",
            "valueFrom": {"secretKeyRef": {"name": "funder", "key": "private-key"}},
        }
    ]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["status"]["phase"] == "Succeeded"


async def test_a_failing_job_is_retried_backoff_limit_times_then_fails_with_its_log_tail(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.script_job(
        "0xbad000", JobScript(exit_code=1, logs=NOISE + "\nerror: not enough funds\nexit 1")
    )
    await kube.create_job("default", adder("0xbad000", backoff_limit=2))

    job = await kube.watch_job("default", "add-validator-bad000", timeout=10)
    assert not job.complete and job.finished
    assert job.failure_reason == "BackoffLimitExceeded"
    assert job.failure == "Job has reached the specified backoff limit"
    assert (job.failed, job.succeeded, job.active) == (3, 0, 0)  # the first run + 2 retries
    pods = fake.job_pods(job.name)
    assert len(pods) == 3 and {p["status"]["phase"] for p in pods} == {"Failed"}
    tail = await kube.job_logs("default", job.name, tail=2)
    assert tail == "error: not enough funds\nexit 1\n"
    assert "step 1\n" not in await kube.job_logs("default", job.name, tail=10)


async def test_a_retry_that_succeeds_completes_and_the_newest_pods_log_is_read(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.script_job(
        "0xf1a4e0",
        JobScript(exit_code=1, logs="rpc timeout"),
        JobScript(exit_code=0, logs="validator added"),
    )
    await kube.create_job("default", adder("0xf1a4e0", backoff_limit=1))
    job = await kube.watch_job("default", "add-validator-f1a4e0", timeout=10)
    assert job.complete and (job.failed, job.succeeded) == (1, 1)
    assert [p["status"]["phase"] for p in fake.job_pods(job.name)] == ["Failed", "Succeeded"]
    assert await kube.job_logs("default", job.name) == "validator added\n"


async def test_a_job_past_its_active_deadline_fails_and_its_pod_is_stopped(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.script_job("0xs10e00", JobScript(logs="waiting for L1", duration=60))
    await kube.create_job("default", adder("0xs10e00", active_deadline=2))  # 0.2 s in the fake
    job = await kube.watch_job("default", "add-validator-s10e00", timeout=10)
    assert job.finished and not job.complete
    assert job.failure_reason == "DeadlineExceeded"
    assert job.failure == "Job was active longer than specified deadline"
    assert fake.job_pods(job.name) == []  # Kubernetes deletes the running pod
    assert await kube.job_logs("default", job.name) == "no logs: the Job has no pods"


async def test_a_missing_secret_keeps_the_container_from_starting_until_it_exists(
    fake: KubeFake, kube: KubeClient
) -> None:
    spec = adder("0x5ec000", secret_env=(SecretEnv("FUNDER_KEY", "other-funder", "key"),))
    await kube.create_job("default", spec)
    await fake.wait_until(
        lambda: any(
            s["state"].get("waiting", {}).get("reason") == "CreateContainerConfigError"
            for p in fake.job_pods(spec.name)
            for s in p["status"]["containerStatuses"]
        )
    )
    waiting = await kube.watch_job("default", spec.name, timeout=0.3)
    assert not waiting.finished and waiting.active == 1
    assert await kube.job_logs("default", spec.name) == (
        'no logs: the container never started (CreateContainerConfigError: secret "other-funder" '
        "not found)"
    )

    fake.add_secret("other-funder", {"key": "0x1"})  # the kubelet retries and starts it
    done = await kube.watch_job("default", spec.name, timeout=10)
    assert done.complete


async def test_a_secret_without_the_key_is_reported_too(fake: KubeFake, kube: KubeClient) -> None:
    spec = adder("0x5ec111", secret_env=(SecretEnv("FUNDER_KEY", "funder", "mnemonic"),))
    await kube.create_job("default", spec)
    await fake.wait_until(
        lambda: (
            fake.job_pods(spec.name)[0]["status"]["containerStatuses"][0]["state"]
            .get("waiting", {})
            .get("reason")
            == "CreateContainerConfigError"
        )
    )
    assert "couldn't find key mnemonic in Secret default/funder" in await kube.job_logs(
        "default", spec.name
    )


# ---------------------------------------------------------------- following


async def test_a_dropped_watch_resumes_from_the_last_resource_version(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.script_job("0xd40900", JobScript(logs="done", duration=0.6))
    await kube.create_job("default", adder("0xd40900"))
    follow = asyncio.create_task(kube.watch_job("default", "add-validator-d40900", timeout=10))
    await fake.wait_until(lambda: fake.open_watches == 1)
    await fake.wait_until(lambda: fake.job("add-validator-d40900")["status"].get("ready") == 1)
    seen = int(fake.job("add-validator-d40900")["metadata"]["resourceVersion"])
    assert fake.drop_watches() == 1

    job = await follow
    assert job.complete
    first, second = fake.watch_requests(JOBS)
    assert first.query["fieldSelector"] == "metadata.name=add-validator-d40900"
    # resumed from the newest version it had seen (the list's or an event's), not from 0
    assert int(second.query["resourceVersion"]) >= max(seen, int(first.query["resourceVersion"]))


async def test_a_watch_whose_resource_version_expired_relists(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.script_job("0xe49000", JobScript(duration=0.6))
    await kube.create_job("default", adder("0xe49000"))
    follow = asyncio.create_task(kube.watch_job("default", "add-validator-e49000", timeout=10))
    await fake.wait_until(lambda: fake.open_watches == 1)
    fake.compact()  # the watch reopened from its last version now gets 410 Gone
    fake.drop_watches()
    job = await follow
    assert job.complete
    lists = [r for r in fake.requests if r.path == JOBS and "watch" not in r.query]
    assert len(lists) == 2  # the first list and the re-list after 410 Gone


async def test_reattaching_to_a_running_job_after_the_client_restarts(
    fake: KubeFake, kubeconfig: Path
) -> None:
    fake.script_job("0x4e0000", JobScript(logs="validator added", duration=0.8))
    async with KubeClient.from_kubeconfig(kubeconfig) as first:
        await first.create_job("default", adder("0x4e0000"))
        early = await first.watch_job("default", "add-validator-4e0000", timeout=0.1)
        assert not early.finished
    assert fake.job("add-validator-4e0000")["status"]["active"] == 1  # still running

    async with KubeClient.from_kubeconfig(kubeconfig) as second:
        job = await second.watch_job("default", "add-validator-4e0000", timeout=10)
        assert job.complete and job.uid == early.uid
        assert await second.job_logs("default", job.name) == "validator added\n"
        again = await second.watch_job("default", job.name, timeout=10)  # finished: at once
        assert again.complete
    assert fake.count("POST", JOBS) == 1  # never created twice


async def test_watching_a_missing_or_deleted_job_is_a_404(fake: KubeFake, kube: KubeClient) -> None:
    with pytest.raises(KubeError) as missing:
        await kube.watch_job("default", "nope", timeout=1)
    assert missing.value.status == 404 and "nope" in missing.value.message

    fake.script_job("0xde1000", JobScript(duration=30))
    await kube.create_job("default", adder("0xde1000"))
    follow = asyncio.create_task(kube.watch_job("default", "add-validator-de1000", timeout=10))
    await fake.wait_until(lambda: fake.open_watches == 1)
    assert await kube.delete_job("default", "add-validator-de1000")
    with pytest.raises(KubeError) as deleted:
        await follow
    assert deleted.value.status == 404 and "deleted" in deleted.value.message


# ---------------------------------------------------------------- deleting


async def test_delete_job_removes_the_job_and_its_pods(fake: KubeFake, kube: KubeClient) -> None:
    fake.script_job("0xde2000", JobScript(duration=30))
    await kube.create_job("default", adder("0xde2000"))
    await fake.wait_until(lambda: len(fake.job_pods("add-validator-de2000")) == 1)
    assert await kube.delete_job("default", "add-validator-de2000") is True
    await fake.wait_until(lambda: fake.job_pods("add-validator-de2000") == [])
    assert fake.cluster.get("jobs", "default", "add-validator-de2000") is None
    assert await kube.delete_job("default", "add-validator-de2000") is False
    (request,) = [r for r in fake.requests if r.method == "DELETE"][:1]
    assert request.path == f"{JOBS}/add-validator-de2000"


async def raw_delete(fake: KubeFake, name: str, body: dict[str, Any] | None) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.delete(
            f"{fake.url}{JOBS}/{name}",
            data=json.dumps(body) if body is not None else None,
            headers={"Authorization": f"Bearer {fake.token}"},
        ) as response,
    ):
        return response.status


@pytest.mark.parametrize(
    ("body", "pods_left", "owned"),
    [
        (None, 1, False),  # the REST API's default for batch/v1 Jobs: orphan the pods
        ({"propagationPolicy": "Orphan"}, 1, False),
        ({"propagationPolicy": "Background"}, 0, None),
        ({"propagationPolicy": "Foreground"}, 0, None),
    ],
)
async def test_deleting_a_job_propagates_as_asked(
    fake: KubeFake, kube: KubeClient, body: dict[str, Any] | None, pods_left: int, owned: bool
) -> None:
    fake.script_job("0xde3000", JobScript(duration=30))
    spec = adder("0xde3000")
    await kube.create_job("default", spec)
    await fake.wait_until(lambda: len(fake.job_pods(spec.name)) == 1)
    assert await raw_delete(fake, spec.name, body) == 200
    await fake.wait_until(lambda: fake.cluster.get("jobs", "default", spec.name) is None)
    await fake.wait_until(lambda: len(fake.job_pods(spec.name)) == pods_left)
    for pod in fake.job_pods(spec.name):
        assert bool(pod["metadata"]["ownerReferences"]) is owned


async def test_a_bad_propagation_policy_is_refused_and_deletes_nothing(
    fake: KubeFake, kube: KubeClient
) -> None:
    await kube.create_job("default", adder("0xde4000"))
    assert await raw_delete(fake, "add-validator-de4000", {"propagationPolicy": "Later"}) == 422
    assert fake.cluster.get("jobs", "default", "add-validator-de4000") is not None


async def test_a_finished_job_with_a_ttl_is_deleted_by_kubernetes(
    fake: KubeFake, kube: KubeClient
) -> None:
    await kube.create_job("default", adder("0x771000", ttl_after_finished=2))  # 0.2 s here
    job = await kube.watch_job("default", "add-validator-771000", timeout=10)
    assert job.complete
    await fake.wait_until(lambda: fake.cluster.get("jobs", "default", job.name) is None)
    await fake.wait_until(lambda: fake.job_pods(job.name) == [])


# ---------------------------------------------------------------- what the API refuses


def manifest(name: str = "add-x", **pod_spec: Any) -> dict[str, Any]:
    spec = {"restartPolicy": "Never", "containers": [{"name": "add", "image": ADDER}]}
    spec.update(pod_spec)
    return {"metadata": {"name": name}, "spec": {"template": {"spec": spec}}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"metadata": {"name": "add-x"}, "spec": {}}, "spec.template.spec.containers: Required"),
        (manifest(containers=[]), "spec.template.spec.containers: Required value"),
        (manifest(restartPolicy="Always"), 'restartPolicy: Unsupported value: "Always"'),
        (manifest(restartPolicy=None), 'restartPolicy: Unsupported value: "Always"'),
        (manifest("Add_X"), 'metadata.name: Invalid value: "Add_X"'),
        (manifest("a" * 64), "must be no more than 63 characters"),
        (manifest(containers=[{"name": "add"}]), "containers[0].image: Required value"),
        ({"metadata": {"name": "add-x"}, "spec": "run it"}, "containers: Required value"),
        (manifest(containers={"add": ADDER}), "containers: Invalid value: must be a list"),
        (manifest(containers=[{"name": "a", "image": ADDER, "args": "x"}]), "args: Invalid"),
        (manifest(containers=[{"name": "a", "image": ADDER, "env": [{}]}]), "env[].name"),
        ({"metadata": {"name": 5}, "spec": manifest()["spec"]}, "metadata.name: Invalid"),
        (
            {"metadata": {"name": "add-x", "labels": ["a"]}, "spec": manifest()["spec"]},
            "metadata.labels: Invalid value",
        ),
    ],
)
async def test_an_invalid_job_is_a_422_and_nothing_is_created(
    fake: KubeFake, kube: KubeClient, body: dict[str, Any], message: str
) -> None:
    with pytest.raises(KubeError) as refused:
        await kube.create_job("default", body)
    assert (refused.value.status, refused.value.reason) == (422, "Invalid")
    assert message in refused.value.message
    assert fake.cluster.items("jobs") == [] and fake.cluster.items("pods") == []


async def test_a_second_job_of_the_same_name_is_a_409(fake: KubeFake, kube: KubeClient) -> None:
    await kube.create_job("default", manifest())
    with pytest.raises(KubeError) as duplicate:
        await kube.create_job("default", manifest())
    assert (duplicate.value.status, duplicate.value.reason) == (409, "AlreadyExists")
    assert len(fake.cluster.items("jobs")) == 1


async def test_on_failure_restarts_the_container_in_its_pod_up_to_the_backoff_limit(
    fake: KubeFake, kube: KubeClient
) -> None:
    fake.script_job(ADDER, JobScript(exit_code=2, logs="boom"))
    body = manifest("add-onfailure", restartPolicy="OnFailure")
    body["spec"]["backoffLimit"] = 2
    created = await kube.create_job("default", body)
    assert created.finished is False
    await fake.wait_until(
        lambda: (
            fake.job_pods("add-onfailure")
            and fake.job_pods("add-onfailure")[0]["status"]["containerStatuses"][0]["restartCount"]
            >= 1
        )
    )
    assert len(fake.job_pods("add-onfailure")) == 1  # the same pod, restarted
    job = await kube.watch_job("default", "add-onfailure", timeout=10)
    assert job.failure_reason == "BackoffLimitExceeded" and job.failed == 1
    assert fake.job_pods("add-onfailure") == []  # the pod is stopped at the limit


def test_a_job_spec_refuses_what_kubernetes_would() -> None:
    for bad in (
        {"name": "Add_Validator"},
        {"name": "a" * 64},
        {"image": ""},
        {"backoff_limit": -1},
        {"active_deadline": 0},
        {"secret_env": (SecretEnv("1BAD", "funder", "k"),)},
        {"labels": {"app": "not valid!"}},
        {"env": {"FUNDER_KEY": "x"}},  # named twice (also from the Secret)
    ):
        with pytest.raises(ValueError):
            adder("0xabc123", **bad)
    good = adder("0xabc123", active_deadline=600, env={"NETWORK": "alpha"}).manifest()
    pod_spec = good["spec"]["template"]["spec"]
    assert good["spec"]["activeDeadlineSeconds"] == 600 and good["spec"]["backoffLimit"] == 0
    assert pod_spec["restartPolicy"] == "Never"
    assert pod_spec["containers"][0]["env"][0] == {"name": "NETWORK", "value": "alpha"}


async def test_a_job_spec_for_another_namespace_is_not_sent(
    fake: KubeFake, kube: KubeClient
) -> None:
    with pytest.raises(ValueError, match="alpha-testnet"):
        await kube.create_job("default", adder("0xabc123", namespace="alpha-testnet"))
    assert fake.count("POST", JOBS) == 0
    job: Job = await kube.create_job("default", adder("0xabc123", namespace="default"))
    assert job.namespace == "default"


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/json", b"{not json", 400),
        ("application/json", b"[1, 2]", 400),
        ("application/json", b'{"metadata": "add-x"}', 400),
        ("application/vnd.kubernetes.protobuf", b"k8s\x00\x0a\xff", 400),  # truncated
        ("application/vnd.kubernetes.protobuf", b"not protobuf", 400),
        ("application/yaml", b"metadata: {name: x}", 415),
    ],
)
async def test_an_unreadable_job_body_is_a_4xx_and_creates_nothing(
    fake: KubeFake, content_type: str, body: bytes, status: int
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fake.url}{JOBS}", data=body, headers={"Content-Type": content_type}
        ) as response,
    ):
        assert response.status == status
        answer = await response.json()
    assert answer["kind"] == "Status" and answer["code"] == status
    assert fake.cluster.items("jobs") == []


async def raw_patch(fake: KubeFake, name: str, patch: dict[str, Any]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.patch(
            f"{fake.url}{JOBS}/{name}",
            data=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        ) as response,
    ):
        return response.status


async def test_a_suspended_job_runs_nothing_until_resumed(fake: KubeFake, kube: KubeClient) -> None:
    body = manifest("add-later")
    body["spec"]["suspend"] = True
    await kube.create_job("default", body)
    await fake.wait_until(lambda: "status" in fake.job("add-later"))
    waiting = await kube.watch_job("default", "add-later", timeout=0.2)
    assert not waiting.finished and waiting.active == 0 and fake.job_pods("add-later") == []

    assert await raw_patch(fake, "add-later", {"spec": {"suspend": False}}) == 200
    job = await kube.watch_job("default", "add-later", timeout=10)
    assert job.complete and len(fake.job_pods("add-later")) == 1


async def test_a_jobs_pod_template_cannot_be_changed(fake: KubeFake, kube: KubeClient) -> None:
    await kube.create_job("default", manifest("add-fixed"))
    template = {"spec": {"containers": [{"name": "add", "image": "other:2"}]}}
    assert await raw_patch(fake, "add-fixed", {"spec": {"template": template}}) == 422
    assert fake.job("add-fixed")["spec"]["template"]["spec"]["containers"][0]["image"] == ADDER
