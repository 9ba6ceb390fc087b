"""The fake's Jobs as the real kubectl sees them: create job, get jobs, logs job/NAME, delete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.binaries import require_binary
from tests.fakes.kube_api import KubeFake
from tests.fakes.kube_jobs import JobScript
from tests.integration.test_kube_fake_kubectl import Kubectl

ADDER = "localhost:5000/aztec/validator-adder:1"


@pytest.fixture
async def fake() -> AsyncIterator[KubeFake]:
    async with KubeFake(ready_delay=0.01, job_backoff=0.01) as server:
        yield server


@pytest.fixture
def kubectl(fake: KubeFake, tmp_path: Path) -> Kubectl:
    """kubectl pointed at the fake (skips outside CI when kubectl is not installed)."""
    return Kubectl(require_binary("kubectl"), fake.write_kubeconfig(tmp_path / "kubeconfig"))


def finished(fake: KubeFake, name: str) -> bool:
    conditions = (fake.job(name).get("status") or {}).get("conditions") or ()
    return any(c["type"] in ("Complete", "Failed") for c in conditions)


@pytest.mark.binary("kubectl")
async def test_create_get_and_logs_of_a_job(fake: KubeFake, kubectl: Kubectl) -> None:
    fake.script_job("0xabc", JobScript(logs="funding 0xabc\nvalidator added"))
    fake.script_job("0xbad", JobScript(exit_code=1, logs="error: not enough funds"))

    ran = await kubectl("create", "job", "add-abc", f"--image={ADDER}", "--", "add", "0xabc")
    assert ran.returncode == 0, ran.stderr
    assert "job.batch/add-abc created" in ran.stdout
    ran = await kubectl("create", "job", "add-bad", f"--image={ADDER}", "--", "add", "0xbad")
    assert ran.returncode == 0, ran.stderr
    await fake.wait_until(lambda: finished(fake, "add-abc") and finished(fake, "add-bad"))
    assert fake.job("add-abc")["spec"]["template"]["spec"]["restartPolicy"] == "Never"

    ran = await kubectl("get", "jobs")
    assert ran.returncode == 0, ran.stderr
    header, *rows = ran.stdout.splitlines()
    assert header.split()[:4] == ["NAME", "STATUS", "COMPLETIONS", "DURATION"]
    by_name = {row.split()[0]: row.split() for row in rows}
    assert by_name["add-abc"][1:3] == ["Complete", "1/1"]
    assert by_name["add-bad"][1:3] == ["Failed", "0/1"]  # backoffLimit 6 by default: 7 pods
    assert len(fake.job_pods("add-bad")) == 7

    ran = await kubectl("logs", "job/add-abc")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "funding 0xabc\nvalidator added\n"
    ran = await kubectl("logs", "job/add-bad")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "error: not enough funds\n"

    ran = await kubectl("logs", "job/nope")
    assert ran.returncode != 0
    assert 'jobs.batch "nope" not found' in ran.stderr


@pytest.mark.binary("kubectl")
async def test_kubectl_sees_refusals_and_deletes_a_running_job_with_its_pods(
    fake: KubeFake, kubectl: Kubectl
) -> None:
    ran = await kubectl("create", "job", "Bad_Name", f"--image={ADDER}")
    assert ran.returncode != 0
    assert "metadata.name: Invalid value" in ran.stderr
    assert fake.cluster.items("jobs") == []

    fake.script_job("0xslow", JobScript(duration=30))
    ran = await kubectl("create", "job", "add-slow", f"--image={ADDER}", "--", "add", "0xslow")
    assert ran.returncode == 0, ran.stderr
    ran = await kubectl("create", "job", "add-slow", f"--image={ADDER}")
    assert ran.returncode != 0
    assert 'jobs.batch "add-slow" already exists' in ran.stderr
    await fake.wait_until(lambda: len(fake.job_pods("add-slow")) == 1)
    ran = await kubectl("get", "jobs", "add-slow")
    assert ran.returncode == 0 and "Running" in ran.stdout, ran.stderr

    ran = await kubectl("delete", "job", "add-slow")  # kubectl asks for Background
    assert ran.returncode == 0, ran.stderr
    await fake.wait_until(lambda: fake.job_pods("add-slow") == [])
    assert fake.cluster.get("jobs", "default", "add-slow") is None
