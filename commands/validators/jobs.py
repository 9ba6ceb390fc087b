"""Running a configured validator command as a Kubernetes Job for one address, and
re-attaching to one that a previous bot process started."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import NetworkConfig, ValidatorJob
from bot.context import Services
from bot.errors import CommandError
from commands.common import kube_for
from integrations.eth_address import Address
from integrations.kube_models import Job, JobSpec, KubeError, SecretEnv

if TYPE_CHECKING:
    from integrations.kube import KubeClient

WATCH_GRACE = 30.0
"""Seconds the bot keeps watching past the Job's own deadline (Kubernetes stops it)."""
CHECK_EVERY = 2.0
"""Seconds between looks at whether the Job's container could start at all."""
CANNOT_START = ("ConfigError", "ErrImage", "ImagePullBackOff", "InvalidImageName")
"""Waiting reasons that never resolve by themselves (a missing Secret, a bad image)."""


@dataclass(frozen=True)
class JobOutcome:
    """How a validator Job ended: ``ok``, else ``reason`` and its log tail."""

    ok: bool
    reason: str = ""
    log_tail: str = ""


def job_name(kind: str, run_id: str, address: Address) -> str:
    """A Job name unique to the run and the address (a valid DNS label)."""
    return f"validator-{kind}-{address.key[2:10]}-{run_id[:8]}".lower()


def job_spec(name: str, job: ValidatorJob, address: Address, run_id: str) -> JobSpec:
    """The Job running ``job`` for ``address``; ValueError for what Kubernetes would refuse."""
    text = address.checksum
    return JobSpec(
        name=name,
        image=job.image,
        command=tuple(c.format(address=text) for c in job.command),
        args=tuple(a.format(address=text) for a in job.args),
        env=dict(job.env),
        secret_env=tuple(SecretEnv(e.name, e.secret, e.key) for e in job.secret_env),
        active_deadline=max(1, int(job.timeout)),
        backoff_limit=0,
        labels={"app.kubernetes.io/managed-by": "testnet-bot", "testnet-bot/run": run_id[:12]},
        container="validator",
    )


def job_namespace(net: NetworkConfig, job: ValidatorJob) -> str:
    """Where the Job runs: its own namespace, or the network's."""
    return job.namespace or net.namespace


async def run_job(
    services: Services,
    net: NetworkConfig,
    job: ValidatorJob,
    name: str,
    address: Address,
    run_id: str,
) -> JobOutcome:
    """Create the Job (or find the one created before a restart) and follow it to its
    end; a Job Kubernetes refuses or that fails is an outcome, not an exception."""
    namespace = job_namespace(net, job)
    try:
        spec = job_spec(name, job, address, run_id)
    except ValueError as exc:
        return JobOutcome(False, f"the configured Job is not valid: {exc}")
    try:
        kube = await kube_for(services, net)
        await _create_once(kube, namespace, spec)
        done, stuck = await _follow(kube, namespace, name, job.timeout + WATCH_GRACE)
    except KubeError as exc:
        return JobOutcome(False, f"Kubernetes refused: {exc.message}")
    except CommandError as exc:  # no Kubernetes access configured
        return JobOutcome(False, exc.message)
    if stuck is not None:
        await kube.delete_job(namespace, name)
        return JobOutcome(False, f"the Job's container cannot start: {stuck}")
    if done.complete:
        return JobOutcome(True)
    if not done.finished:
        reason = f"the Job did not finish within {job.timeout:g}s"
    else:
        reason = f"the Job failed ({done.failure_reason}: {done.failure})"
    try:
        tail = await kube.job_logs(namespace, name, tail=job.log_tail)
    except KubeError as exc:
        tail = f"(its log cannot be read: {exc.message})"
    return JobOutcome(False, reason, tail)


async def _follow(
    kube: KubeClient, namespace: str, name: str, timeout: float
) -> tuple[Job, str | None]:
    """Watch the Job to its end (or ``timeout``); stop early, with the reason, when its
    container is stuck on something that will not fix itself."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        job = await kube.watch_job(namespace, name, timeout=max(0.0, min(CHECK_EVERY, remaining)))
        if job.finished or loop.time() >= deadline:
            return job, None
        logs = await kube.job_logs(namespace, name, tail=1)
        if logs.startswith("no logs: the container never started") and any(
            r in logs for r in CANNOT_START
        ):
            return job, logs.removeprefix("no logs: the container never started").strip(" ()")


async def _create_once(kube: KubeClient, namespace: str, spec: JobSpec) -> None:
    """Create the Job unless it exists already (a resumed run re-attaches to it)."""
    try:
        await kube.get_job(namespace, spec.name)
        return
    except KubeError as exc:
        if exc.status != 404:
            raise
    try:
        await kube.create_job(namespace, spec)
    except KubeError as exc:
        if exc.status != 409:  # created meanwhile: follow that one
            raise
