"""The Job controller (and the kubelet's part for Job pods) behind the fake Kubernetes API.

It behaves the way the Kubernetes documentation describes batch/v1 Jobs (one completion,
``parallelism: 1``, the case the bot uses):

- a new Job is validated and defaulted the way the API server does it
  (:mod:`tests.fakes.kube_job_admission`);
- a Job created with ``suspend: true`` gets a ``Suspended`` condition and no pod until
  it is patched to ``suspend: false``; otherwise the controller sets ``status.startTime``
  and creates one pod ``<job>-<5 chars>`` owned
  by the Job (``ownerReferences``, labels ``job-name``, ``batch.kubernetes.io/job-name``,
  ``controller-uid``, ``batch.kubernetes.io/controller-uid``);
- the pod's fate comes from a :class:`JobScript` chosen by the test, by any of the
  container's command/args items or else by its image: exit code, log lines, how long it
  runs; a list of scripts gives one per attempt;
- ``restartPolicy: Never``: a failed pod stays (phase Failed) and a new pod is created
  after an exponential back-off, until ``status.failed`` exceeds ``backoffLimit``;
  ``OnFailure``: the container restarts inside the same pod and its restarts count
  against ``backoffLimit`` (the pod is deleted when the limit is reached);
- the Job ends with ``SuccessCriteriaMet`` then ``Complete`` (``completionTime`` set), or
  ``FailureTarget`` then ``Failed`` with reason ``BackoffLimitExceeded`` or, once
  ``activeDeadlineSeconds`` have passed since ``startTime``, ``DeadlineExceeded`` (its
  running pods are deleted); ``ttlSecondsAfterFinished`` deletes a finished Job;
- an ``env[].valueFrom.secretKeyRef`` naming a missing Secret (or key) leaves the
  container waiting with ``CreateContainerConfigError`` until the Secret appears;
- deleting a Job: ``Background`` removes it and then its pods, ``Foreground`` marks it
  (``deletionTimestamp``, finalizer ``foregroundDeletion``), removes its pods, then it;
  ``Orphan`` (what the REST API does for batch/v1 Jobs when no policy is given) leaves
  the pods, without their owner reference.

Durations (``activeDeadlineSeconds``, ``ttlSecondsAfterFinished``) are multiplied by
``time_scale``; the retry back-off is ``backoff`` seconds, doubling per failure (the
real controller starts at 10 s).
"""

from __future__ import annotations

import copy
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from tests.fakes.kube_controller import (
    FakeCluster,
    Obj,
    _image_id,
    _pod_conditions,
    _waiting_status,
    now_iso,
)
from tests.fakes.kube_job_admission import default_job

MAX_BACKOFF = 360.0
"""The Job controller's longest wait before a retry, in seconds (six minutes)."""


@dataclass(frozen=True)
class JobScript:
    """What one run of a Job's container does: its exit code, log and run time (seconds)."""

    exit_code: int = 0
    logs: str = ""
    duration: float = 0.0


class JobController:
    """Runs the Jobs of one :class:`FakeCluster` (attach it once; it hooks the cluster)."""

    def __init__(self, cluster: FakeCluster, *, backoff: float = 0.02, time_scale: float = 1.0):
        self.cluster = cluster
        self.backoff = backoff
        self.time_scale = time_scale
        self.scripts: dict[str, list[JobScript]] = {}
        """An image or a command/args item -> the script of each attempt (the last repeats)."""
        self._attempts: dict[str, int] = {}
        """Job uid -> runs started so far."""
        cluster.hooks.append(self._on_change)

    # ------------------------------------------------------------ test controls

    def script(self, key: str, *runs: JobScript) -> None:
        """Make containers with ``key`` as image or command/args item run ``runs`` in turn."""
        self.scripts[key] = list(runs) or [JobScript()]

    # ------------------------------------------------------------ admission

    def admit(self, job: Obj) -> None:
        """Apply the API server's defaults to a validated new Job (gives it its uid)."""
        default_job(job)

    # ------------------------------------------------------------ deletion

    def delete(self, namespace: str, name: str, policy: str) -> Obj | None:
        """Delete a Job with a propagation policy; returns the Job as it was answered."""
        job = self.cluster.get("jobs", namespace, name)
        if job is None:
            return None
        pods = self._pods(job)
        if policy == "Foreground":
            meta = job["metadata"]
            if "deletionTimestamp" not in meta:
                meta["deletionTimestamp"] = now_iso()
                meta["finalizers"] = [*meta.get("finalizers", []), "foregroundDeletion"]
                self.cluster._changed("jobs", job)
            answer = copy.deepcopy(job)
            for pod in pods:
                self.cluster.delete("pods", namespace, pod["metadata"]["name"])
            uid = meta["uid"]
            self._when_pods_gone(namespace, name, uid)
            return answer
        removed = self.cluster._remove(namespace, name, job["metadata"]["uid"], "jobs")
        if policy == "Orphan":
            for pod in pods:
                pod["metadata"]["ownerReferences"] = []
                self.cluster._changed("pods", pod)
        else:
            names = [p["metadata"]["name"] for p in pods]

            def collect() -> None:  # the garbage collector, just after the Job is gone
                for pod in names:
                    self.cluster.delete("pods", namespace, pod)

            self.cluster.later(0, collect)
        return removed

    def _when_pods_gone(self, namespace: str, name: str, uid: str) -> None:
        job = self.cluster.get("jobs", namespace, name)
        if job is None or job["metadata"]["uid"] != uid:
            return
        if self._pods(job):
            self.cluster.later(0.01, lambda: self._when_pods_gone(namespace, name, uid))
            return
        self.cluster._remove(namespace, name, uid, "jobs")

    # ------------------------------------------------------------ controller

    def _on_change(self, resource: str, obj: Obj) -> None:
        if resource == "jobs" and self._stored(obj):
            suspended = _suspended(obj)
            if obj["spec"].get("suspend"):
                if "status" not in obj:
                    self._suspend(obj)
            elif "status" not in obj or suspended:
                self._start(obj)
        elif resource == "secrets" and self._stored(obj):
            namespace = obj["metadata"]["namespace"]
            for pod in self.cluster.items("pods", namespace):
                if _waiting_reason(pod) == "CreateContainerConfigError":
                    self._run(namespace, pod["metadata"]["name"], pod["metadata"]["uid"])

    def _stored(self, obj: Obj) -> bool:
        meta = obj["metadata"]
        kind = "jobs" if obj.get("kind") == "Job" else "secrets"
        return self.cluster.get(kind, meta["namespace"], meta["name"]) is obj

    def _pods(self, job: Obj) -> list[Obj]:
        uid = job["metadata"]["uid"]
        return [
            pod
            for pod in self.cluster.items("pods", job["metadata"]["namespace"])
            if any(r.get("uid") == uid for r in pod["metadata"].get("ownerReferences") or ())
        ]

    def _current(self, namespace: str, name: str, uid: str) -> Obj | None:
        job = self.cluster.get("jobs", namespace, name)
        if job is None or job["metadata"]["uid"] != uid or _finished(job):
            return None
        return job

    def _suspend(self, job: Obj) -> None:
        stamp = now_iso()
        job["status"] = {
            "conditions": [
                {
                    "type": "Suspended",
                    "status": "True",
                    "lastProbeTime": stamp,
                    "lastTransitionTime": stamp,
                    "reason": "JobSuspended",
                    "message": "Job suspended",
                }
            ]
        }
        self.cluster._changed("jobs", job)

    def _start(self, job: Obj) -> None:
        meta = job["metadata"]
        job["status"] = {"startTime": now_iso(), "active": 0, "ready": 0, "terminating": 0}
        self.cluster._changed("jobs", job)
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        self._create_pod(job)
        deadline = job["spec"].get("activeDeadlineSeconds")
        if deadline is not None:
            self.cluster.later(
                deadline * self.time_scale, lambda: self._deadline(namespace, name, uid)
            )

    def _create_pod(self, job: Obj) -> None:
        meta, template = job["metadata"], job["spec"]["template"]
        suffix = "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        spec = copy.deepcopy(template["spec"])
        spec.setdefault("nodeName", "fake-node-1")
        pod: Obj = {
            "metadata": {
                "name": f"{meta['name']}-{suffix}",
                "generateName": f"{meta['name']}-",
                "namespace": meta["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": dict(template["metadata"].get("annotations") or {}),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
            "status": {
                "phase": "Pending",
                "conditions": _pod_conditions(ready=False),
                "hostIP": "10.0.0.1",
                "qosClass": "BestEffort",
                "startTime": now_iso(),
                "containerStatuses": [
                    _waiting_status(c, "ContainerCreating", "") for c in spec["containers"]
                ],
            },
        }
        self.cluster.put("pods", pod)
        self.cluster.record_event(
            job,
            "SuccessfulCreate",
            f"Created pod: {pod['metadata']['name']}",
            component="job-controller",
        )
        job["status"]["active"] = job["status"].get("active", 0) + 1
        self.cluster._changed("jobs", job)
        namespace, name, pod_uid = (
            meta["namespace"],
            pod["metadata"]["name"],
            pod["metadata"]["uid"],
        )
        self.cluster.later(self.cluster.ready_delay, lambda: self._run(namespace, name, pod_uid))

    def _script(self, job_uid: str, container: Obj) -> JobScript:
        keys = [
            *(container.get("command") or ()),
            *(container.get("args") or ()),
            container["image"],
        ]
        attempt = self._attempts.get(job_uid, 1) - 1
        for key in keys:
            runs = self.scripts.get(str(key))
            if runs:
                return runs[min(attempt, len(runs) - 1)]
        return JobScript()

    def _missing_secret(self, namespace: str, container: Obj) -> str | None:
        for env in container.get("env") or ():
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if not ref or ref.get("optional"):
                continue
            secret = self.cluster.get("secrets", namespace, ref.get("name", ""))
            if secret is None:
                return f'secret "{ref.get("name")}" not found'
            if ref.get("key") not in (secret.get("data") or {}):
                return f"couldn't find key {ref.get('key')} in Secret {namespace}/{ref.get('name')}"
        return None

    def _run(self, namespace: str, name: str, uid: str) -> None:
        """The kubelet starts the pod's containers (or cannot, for a missing Secret)."""
        pod = self.cluster._live_pod(namespace, name, uid)
        if pod is None or _waiting_reason(pod) not in (
            "ContainerCreating",
            "CreateContainerConfigError",
        ):
            return
        job = self._owner_job(pod)
        statuses, scripts, problem = [], [], None
        for container in pod["spec"]["containers"]:
            problem = self._missing_secret(namespace, container)
            if problem is not None:
                break
        if problem is not None:
            pod["status"]["containerStatuses"] = [
                _waiting_status(c, "CreateContainerConfigError", problem)
                for c in pod["spec"]["containers"]
            ]
            self.cluster._changed("pods", pod)
            self.cluster.record_event(pod, "Failed", f"Error: {problem}", type_="Warning")
            return
        job_uid = job["metadata"]["uid"] if job is not None else ""
        self._attempts[job_uid] = self._attempts.get(job_uid, 0) + 1
        for container in pod["spec"]["containers"]:
            script = self._script(job_uid, container)
            scripts.append(script)
            statuses.append(_started(container, restarts=_restarts(pod, container["name"])))
            if script.logs:
                self.cluster.add_log(
                    name, script.logs, namespace=namespace, container=container["name"]
                )
            self.cluster.record_event(pod, "Started", f"Started container {container['name']}")
        pod["status"].update(
            phase="Running",
            podIP=f"10.2.{len(self.cluster.objects['pods']) % 250}.{int(uid[:2], 16) % 250}",
            conditions=_pod_conditions(ready=True),
            containerStatuses=statuses,
        )
        self.cluster._changed("pods", pod)
        if job is not None and not _finished(job):
            job["status"]["ready"] = 1
            self.cluster._changed("jobs", job)
        duration = max(s.duration for s in scripts)
        codes = [s.exit_code for s in scripts]
        self.cluster.later(duration, lambda: self._exit(namespace, name, uid, codes))

    def _owner_job(self, pod: Obj) -> Obj | None:
        for ref in pod["metadata"].get("ownerReferences") or ():
            if ref.get("kind") == "Job":
                job = self.cluster.get("jobs", pod["metadata"]["namespace"], ref["name"])
                if job is not None and job["metadata"]["uid"] == ref.get("uid"):
                    return job
        return None

    def _exit(self, namespace: str, name: str, uid: str, codes: Sequence[int]) -> None:
        """The containers exit with ``codes``; the Job controller counts the outcome."""
        pod = self.cluster._live_pod(namespace, name, uid)
        if pod is None or pod["status"].get("phase") != "Running":
            return
        failed = any(codes)
        stamp = now_iso()
        on_failure = pod["spec"].get("restartPolicy") == "OnFailure"
        statuses = []
        for container, status, code in zip(
            pod["spec"]["containers"], pod["status"]["containerStatuses"], codes, strict=True
        ):
            terminated = {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": status["state"]["running"]["startedAt"],
                "finishedAt": stamp,
                "containerID": status["containerID"],
            }
            done = {**status, "ready": False, "started": False, "state": {"terminated": terminated}}
            if on_failure and failed:
                done = {
                    **status,
                    "ready": False,
                    "started": False,
                    "restartCount": status["restartCount"] + 1,
                    "state": {
                        "waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": f"back-off restarting failed container={container['name']}",
                        }
                    },
                    "lastState": {"terminated": terminated},
                }
            statuses.append(done)
        pod["status"]["containerStatuses"] = statuses
        pod["status"]["conditions"] = _pod_conditions(ready=False)
        if not (on_failure and failed):
            pod["status"]["phase"] = "Failed" if failed else "Succeeded"
        self.cluster._changed("pods", pod)
        job = self._owner_job(pod)
        if job is None or _finished(job):
            return
        status, spec = job["status"], job["spec"]
        status["ready"] = 0
        if not failed:
            status["active"] = 0
            status["succeeded"] = status.get("succeeded", 0) + 1
            self._finish(job, complete=True)
            return
        if on_failure:
            restarts = max(s["restartCount"] for s in statuses)
            if restarts > spec["backoffLimit"]:
                status["active"] = 0
                status["failed"] = status.get("failed", 0) + 1
                self.cluster.delete("pods", namespace, name)
                self._finish(job, reason="BackoffLimitExceeded")
                return
            self.cluster._changed("jobs", job)
            self.cluster.later(self._delay(restarts), lambda: self._restart(namespace, name, uid))
            return
        status["active"] = 0
        status["failed"] = status.get("failed", 0) + 1
        if status["failed"] > spec["backoffLimit"]:
            self._finish(job, reason="BackoffLimitExceeded")
            return
        self.cluster._changed("jobs", job)
        job_ns, job_name, job_uid = namespace, job["metadata"]["name"], job["metadata"]["uid"]
        self.cluster.later(
            self._delay(status["failed"]), lambda: self._retry(job_ns, job_name, job_uid)
        )

    def _delay(self, failures: int) -> float:
        return float(min(self.backoff * 2 ** max(failures - 1, 0), MAX_BACKOFF))

    def _retry(self, namespace: str, name: str, uid: str) -> None:
        job = self._current(namespace, name, uid)
        if job is not None and "deletionTimestamp" not in job["metadata"]:
            self._create_pod(job)

    def _restart(self, namespace: str, name: str, uid: str) -> None:
        pod = self.cluster._live_pod(namespace, name, uid)
        if pod is None or _waiting_reason(pod) != "CrashLoopBackOff":
            return
        for status in pod["status"]["containerStatuses"]:
            status["state"] = {"waiting": {"reason": "ContainerCreating"}}
        self._run(namespace, name, uid)

    def _deadline(self, namespace: str, name: str, uid: str) -> None:
        job = self._current(namespace, name, uid)
        if job is None:
            return
        for pod in self._pods(job):
            if pod["status"].get("phase") in ("Pending", "Running"):
                self.cluster.delete("pods", namespace, pod["metadata"]["name"])
                job["status"]["failed"] = job["status"].get("failed", 0) + 1
        job["status"].update(active=0, ready=0)
        self._finish(job, reason="DeadlineExceeded")

    def _finish(self, job: Obj, *, complete: bool = False, reason: str = "") -> None:
        stamp, status = now_iso(), job["status"]

        def condition(type_: str, why: str, message: str) -> Obj:
            return {
                "type": type_,
                "status": "True",
                "lastProbeTime": stamp,
                "lastTransitionTime": stamp,
                "reason": why,
                "message": message,
            }

        if complete:
            status["completionTime"] = stamp
            message = "Reached expected number of succeeded pods"
            status["conditions"] = [
                condition("SuccessCriteriaMet", "CompletionsReached", message),
                condition("Complete", "CompletionsReached", message),
            ]
        else:
            message = {
                "BackoffLimitExceeded": "Job has reached the specified backoff limit",
                "DeadlineExceeded": "Job was active longer than specified deadline",
            }[reason]
            status["conditions"] = [
                condition("FailureTarget", reason, message),
                condition("Failed", reason, message),
            ]
            self.cluster.record_event(
                job, reason, message, type_="Warning", component="job-controller"
            )
        self.cluster._changed("jobs", job)
        if complete:
            self.cluster.record_event(job, "Completed", "Job completed", component="job-controller")
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is not None:
            meta = job["metadata"]
            namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]

            def expire() -> None:
                current = self.cluster.get("jobs", namespace, name)
                if current is not None and current["metadata"]["uid"] == uid:
                    self.delete(namespace, name, "Background")

            self.cluster.later(ttl * self.time_scale, expire)


def _finished(job: Obj) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or ()
    )


def _suspended(job: Obj) -> bool:
    return any(
        c.get("type") == "Suspended" and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or ()
    )


def _waiting_reason(pod: Obj) -> str | None:
    for status in pod["status"].get("containerStatuses") or ():
        waiting = status.get("state", {}).get("waiting")
        if waiting:
            return str(waiting.get("reason"))
    return None


def _restarts(pod: Obj, container: str) -> int:
    for status in pod["status"].get("containerStatuses") or ():
        if status["name"] == container:
            return int(status.get("restartCount", 0))
    return 0


def _started(container: Obj, *, restarts: int) -> Obj:
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": _image_id(container["image"]),
        "containerID": f"containerd://{uuid.uuid4().hex}",
        "ready": True,
        "started": True,
        "restartCount": restarts,
        "state": {"running": {"startedAt": now_iso()}},
    }
