"""The state and the controllers behind the fake Kubernetes API server.

:class:`FakeCluster` keeps objects as the JSON dicts the API serves, numbers every change
with one global, monotonically increasing ``resourceVersion``, keeps a bounded history
of watch events (older versions answer 410 Gone) and runs small controllers the way
kube-controller-manager and the kubelet would:

- a StatefulSet owns pods ``<name>-0 .. <name>-N-1``; a new pod template replaces them
  one at a time, highest ordinal first, only ordinals ``>= partition``, the next only
  once the previous replacement is Ready; with ``podManagementPolicy: OrderedReady``
  (the default) a pod that is not Running and Ready blocks every creation, update and
  scale-down, so a broken pod stays until someone deletes it (the docs' "forced
  rollback"); with ``Parallel`` it blocks nothing; a deleted pod is recreated from the
  current revision below the partition and from the update revision at or above it;
- a Deployment owns pods ``<name>-<template hash>-<suffix>``; a new template surges one
  new pod at a time and removes an old pod once the new one is Ready; the
  ``Progressing`` condition turns ``ProgressDeadlineExceeded`` when no progress is made
  for ``progressDeadlineSeconds`` (times ``progress_deadline_scale``);
- a pod turns Ready ``ready_delay`` seconds after creation, unless its image is in
  :attr:`FakeCluster.bad_images`: ``"CrashLoopBackOff"`` (restarts keep rising, never
  Ready), ``"ImagePullBackOff"`` (``ErrImagePull``, then ``ImagePullBackOff``) or
  ``"ContainerCreating"`` (stays Pending for ever);
- Jobs are run by :class:`tests.fakes.kube_jobs.JobController`, which registers itself
  in :attr:`FakeCluster.hooks`.

Everything runs on the event loop with ``loop.call_later``; nothing here awaits, so a
change and the events it causes are applied atomically.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import json
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
ObjKey = tuple[str, str]  # (namespace, name)

WORKLOAD_RESOURCES = ("statefulsets", "deployments")
KIND_OF = {
    "pods": "Pod",
    "services": "Service",
    "events": "Event",
    "statefulsets": "StatefulSet",
    "deployments": "Deployment",
    "jobs": "Job",
    "secrets": "Secret",
}
API_VERSION_OF = {
    "pods": "v1",
    "services": "v1",
    "events": "v1",
    "statefulsets": "apps/v1",
    "deployments": "apps/v1",
    "jobs": "batch/v1",
    "secrets": "v1",
}
RESOURCE_OF_KIND = {kind: resource for resource, kind in KIND_OF.items()}
MAX_CRASH_REPEATS = 8


def now_iso(at: datetime | None = None) -> str:
    """The API's timestamp format: RFC 3339, UTC, whole seconds."""
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def template_hash(template: Obj) -> str:
    """A stable 10-character hash of a pod template (what revisions are named after)."""
    raw = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:10]


@dataclass(frozen=True)
class WatchEvent:
    """One change as a watch sends it: ``type`` is ADDED, MODIFIED or DELETED."""

    resource_version: int
    resource: str
    type: str
    object: Obj


@dataclass(eq=False)
class Subscription:
    """An open watch: the cluster puts every new event of ``resource`` on ``queue``.

    A ``None`` on the queue tells the stream to end (the server closing the watch).
    """

    resource: str
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)


@dataclass
class LogLine:
    """One line of a container's log and when it was written."""

    at: datetime
    text: str


@dataclass
class _DeploymentProgress:
    last_progress: float = 0.0
    exceeded: bool = False
    seen: tuple[int, int] = (-1, -1)  # (new pods, new pods Ready) when progress was last seen


class FakeCluster:
    """Objects, resource versions, watch history and controllers of the fake API."""

    def __init__(
        self,
        *,
        ready_delay: float = 0.02,
        crash_interval: float | None = None,
        history_limit: int = 10_000,
        progress_deadline_scale: float = 1.0,
        termination_delay: float = 0.0,
    ) -> None:
        self.ready_delay = ready_delay
        self.termination_delay = termination_delay
        """Seconds a pod deleted through the API stays Terminating (``deletionTimestamp``
        set) before it is gone; 0: at once. The controllers' own deletions are immediate."""
        self.crash_interval = crash_interval if crash_interval is not None else ready_delay * 2
        self.progress_deadline_scale = progress_deadline_scale
        self.bad_images: dict[str, str] = {}
        """image -> "CrashLoopBackOff" | "ImagePullBackOff" | "ContainerCreating"."""
        self.image_logs: Callable[[str], str] | None = None
        """If set, the log text of a container with no log of its own, from its image."""
        self.objects: dict[str, dict[ObjKey, Obj]] = {r: {} for r in KIND_OF}
        self.history: deque[WatchEvent] = deque(maxlen=history_limit)
        self.compacted_rv = 0
        """Watches from a resourceVersion below this one get 410 Gone."""
        self.subscriptions: set[Subscription] = set()
        self.logs: dict[tuple[str, str, str | None], list[LogLine]] = {}
        self.paused = False
        self._rv = 0
        self._timers: set[asyncio.TimerHandle] = set()
        self._deferred: list[Callable[[], None]] = []
        self._progress: dict[ObjKey, _DeploymentProgress] = {}
        self._event_names = itertools.count(1)
        self.ready_at: dict[tuple[str, str], float] = {}
        """(namespace, pod) -> ``time.monotonic()`` when the pod last turned Ready."""
        self._busy: set[tuple[str, str, str]] = set()
        self._dirty: set[tuple[str, str, str]] = set()
        self._revision_templates: dict[tuple[str, str], Obj] = {}
        self.hooks: list[Callable[[str, Obj], None]] = []
        """Further controllers: each is called with (resource, object) after every change."""
        """(namespace, StatefulSet revision name) -> the pod template of that revision."""

    # ------------------------------------------------------------ store and watch history

    @property
    def resource_version(self) -> int:
        """The newest resourceVersion handed out so far."""
        return self._rv

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        """The stored object (not a copy), or None."""
        return self.objects[resource].get((namespace, name))

    def items(self, resource: str, namespace: str | None = None) -> list[Obj]:
        """Objects of ``resource`` (all namespaces when ``namespace`` is None), by name."""
        found = [
            obj
            for (ns, _), obj in self.objects[resource].items()
            if namespace is None or ns == namespace
        ]
        return sorted(found, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))

    def put(self, resource: str, obj: Obj) -> Obj:
        """Create or replace ``obj``: new resourceVersion, a watch event, then reconcile."""
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        existed = key in self.objects[resource]
        obj.setdefault("kind", KIND_OF[resource])
        obj.setdefault("apiVersion", API_VERSION_OF[resource])
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_iso())
        if resource in WORKLOAD_RESOURCES or resource == "jobs":
            meta.setdefault("generation", 1)
        self.objects[resource][key] = obj
        self._record(resource, "MODIFIED" if existed else "ADDED", obj)
        self._after_change(resource, obj)
        return obj

    def delete(self, resource: str, namespace: str, name: str) -> Obj | None:
        """Remove an object (a DELETED event) and let its owner's controller react.

        A pod with :attr:`termination_delay` set is first marked Terminating (a
        MODIFIED event with ``deletionTimestamp``) and removed that much later; deleting
        a Terminating pod again changes nothing.
        """
        obj = self.objects[resource].get((namespace, name))
        if obj is None:
            return None
        if resource == "pods" and self.termination_delay > 0:
            meta = obj["metadata"]
            if "deletionTimestamp" not in meta:
                meta["deletionTimestamp"] = now_iso()
                meta["deletionGracePeriodSeconds"] = max(1, round(self.termination_delay))
                self._changed("pods", obj)
                self._after_change("pods", obj)
                uid = meta["uid"]
                self.later(self.termination_delay, lambda: self._remove(namespace, name, uid))
            return obj
        return self._remove(namespace, name, obj["metadata"]["uid"], resource)

    def _remove(self, namespace: str, name: str, uid: str, resource: str = "pods") -> Obj | None:
        obj = self.objects[resource].get((namespace, name))
        if obj is None or obj["metadata"]["uid"] != uid:
            return None
        del self.objects[resource][(namespace, name)]
        self._record(resource, "DELETED", obj)
        self._after_change(resource, obj)
        return obj

    def subscribe(self, resource: str) -> Subscription:
        """Start receiving new events of ``resource`` (call :meth:`unsubscribe` when done)."""
        sub = Subscription(resource)
        self.subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop feeding ``sub``."""
        self.subscriptions.discard(sub)

    def events_since(self, resource: str, resource_version: int) -> list[WatchEvent] | None:
        """History events of ``resource`` after ``resource_version``; None if compacted away."""
        if resource_version < self.compacted_rv:
            return None
        return [
            e
            for e in self.history
            if e.resource == resource and e.resource_version > resource_version
        ]

    def compact(self) -> None:
        """Forget the whole watch history: resuming any older watch now gets 410 Gone."""
        self.history.clear()
        self.compacted_rv = self._rv

    def drop_watches(self) -> int:
        """End every open watch stream the way an API server closing it would."""
        for sub in self.subscriptions:
            sub.queue.put_nowait(None)
        return len(self.subscriptions)

    def _record(self, resource: str, type_: str, obj: Obj) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        if len(self.history) == self.history.maxlen and self.history:
            self.compacted_rv = self.history[0].resource_version
        event = WatchEvent(self._rv, resource, type_, copy.deepcopy(obj))
        self.history.append(event)
        for sub in self.subscriptions:
            if sub.resource == resource:
                sub.queue.put_nowait(event)

    def _changed(self, resource: str, obj: Obj) -> None:
        """Record an in-place modification of a stored object."""
        self._record(resource, "MODIFIED", obj)

    # ------------------------------------------------------------ timers and pausing

    def later(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` after ``delay`` seconds (deferred while the controller is paused)."""
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(handle)
            if self.paused:
                self._deferred.append(action)
            else:
                action()

        handle = loop.call_later(max(delay, 0.0), fire)
        self._timers.add(handle)

    @property
    def deferred(self) -> int:
        """How many controller actions came due while paused and wait for :meth:`resume`."""
        return len(self._deferred)

    def pause(self) -> None:
        """Freeze the controllers and kubelet: nothing changes until :meth:`resume`."""
        self.paused = True

    def resume(self) -> None:
        """Apply everything that came due while paused, then reconcile every workload."""
        self.paused = False
        deferred, self._deferred = self._deferred, []
        for action in deferred:
            action()
        for resource in WORKLOAD_RESOURCES:
            for obj in list(self.objects[resource].values()):
                self._reconcile(resource, obj)

    def close(self) -> None:
        """Cancel every pending timer."""
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self._deferred.clear()

    def bring_up(self, resource: str, workload: Obj) -> Obj:
        """Store a new workload with all its pods created and Ready at once (test set-up)."""
        self.paused = True
        try:
            self.put(resource, workload)
        finally:
            self.paused = False
        for _ in range(workload["spec"].get("replicas", 1) + 1):
            self._reconcile(resource, workload)
            for pod in self.owned_pods(workload):
                meta = pod["metadata"]
                self._start_pod(meta["namespace"], meta["name"], meta["uid"])
        return workload

    # ------------------------------------------------------------ logs and events

    def add_log(
        self,
        pod: str,
        text: str,
        *,
        namespace: str = "default",
        container: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Append ``text`` (split into lines) to a pod's log (``container=None``: every one)."""
        stamp = at or datetime.now(UTC)
        lines = self.logs.setdefault((namespace, pod, container), [])
        lines.extend(LogLine(stamp, line) for line in text.splitlines())

    def log_lines(self, namespace: str, pod: Obj, container: str) -> list[LogLine]:
        """The log of one container: its own, else the pod's, else from its image."""
        name = pod["metadata"]["name"]
        for key in ((namespace, name, container), (namespace, name, None)):
            if key in self.logs:
                return self.logs[key]
        if self.image_logs is not None:
            image = next(
                (c["image"] for c in pod["spec"]["containers"] if c["name"] == container), ""
            )
            created = datetime.strptime(
                pod["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ"
            ).replace(tzinfo=UTC)
            return [LogLine(created, line) for line in self.image_logs(image).splitlines()]
        return []

    def record_event(
        self,
        involved: Obj,
        reason: str,
        message: str,
        *,
        type_: str = "Normal",
        component: str = "kubelet",
    ) -> None:
        """Record a core/v1 Event about ``involved``, counting repeats like the API does."""
        meta = involved["metadata"]
        namespace = meta["namespace"]
        for event in self.objects["events"].values():
            ref = event["involvedObject"]
            if (
                ref["uid"] == meta["uid"]
                and event["reason"] == reason
                and event["message"] == message
            ):
                event["count"] += 1
                event["lastTimestamp"] = now_iso()
                self._changed("events", event)
                return
        stamp = now_iso()
        event = {
            "metadata": {
                "name": f"{meta['name']}.{next(self._event_names):x}",
                "namespace": namespace,
            },
            "involvedObject": {
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": namespace,
                "uid": meta["uid"],
                "apiVersion": involved["apiVersion"],
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": component},
            "reportingComponent": component,
        }
        self.put("events", event)

    # ------------------------------------------------------------ controllers

    def _after_change(self, resource: str, obj: Obj) -> None:
        for hook in self.hooks:
            hook(resource, obj)
        if resource in WORKLOAD_RESOURCES:
            self._reconcile(resource, obj)
        elif resource == "pods":
            owner = _owner(obj)
            if owner is None:
                return
            owner_resource = RESOURCE_OF_KIND.get(owner[0])
            if owner_resource in WORKLOAD_RESOURCES:
                workload = self.get(owner_resource, obj["metadata"]["namespace"], owner[1])
                if workload is not None:
                    self._reconcile(owner_resource, workload)

    def _reconcile(self, resource: str, workload: Obj) -> None:
        if self.paused:
            return
        key = (workload["metadata"]["namespace"], workload["metadata"]["name"])
        busy = (resource, *key)
        if busy in self._busy:  # a change made by this very reconcile: run again after it
            self._dirty.add(busy)
            return
        self._busy.add(busy)
        try:
            while self.get(resource, *key) is workload:
                self._dirty.discard(busy)
                if resource == "statefulsets":
                    acted = self._reconcile_statefulset(workload)
                else:
                    acted = self._reconcile_deployment(workload)
                if not acted and busy not in self._dirty:
                    break
        finally:
            self._busy.discard(busy)

    def owned_pods(self, workload: Obj) -> list[Obj]:
        """The pods whose controller owner is ``workload`` (by uid)."""
        meta = workload["metadata"]
        return [
            pod
            for pod in self.items("pods", meta["namespace"])
            if any(
                ref.get("uid") == meta["uid"] and ref.get("controller")
                for ref in pod["metadata"].get("ownerReferences", ())
            )
        ]

    def _reconcile_statefulset(self, sts: Obj) -> bool:
        """One pass of the StatefulSet controller, as the Kubernetes docs describe it.

        Missing ordinals are created (ordinals below the partition from the current
        revision, the rest from the update revision). With ``podManagementPolicy:
        OrderedReady`` (the default) the controller stops at the first pod that is not
        Running and Ready: it creates nothing after it, and updates or scales down
        nothing while it stays so, even when the template was reverted (the docs'
        "forced rollback": such a pod must be deleted by hand). With ``Parallel`` it
        creates every missing pod at once and does not wait. A rolling update then
        replaces the highest ordinal >= partition that is not at the update revision,
        one at a time, waiting while the pod it last replaced is not Ready.
        """
        meta, spec = sts["metadata"], sts["spec"]
        name, namespace = meta["name"], meta["namespace"]
        replicas = spec.get("replicas", 1)
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        partition = ((strategy.get("rollingUpdate") or {}).get("partition") or 0) if rolling else 0
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        update_revision = f"{name}-{template_hash(spec['template'])}"
        self._revision_templates[(namespace, update_revision)] = copy.deepcopy(spec["template"])
        status = sts.get("status") or {}
        current_revision = status.get("currentRevision") or update_revision
        pods = {int(p["metadata"]["name"].rsplit("-", 1)[1]): p for p in self.owned_pods(sts)}

        def revision(pod: Obj) -> str:
            return str(pod["metadata"]["labels"].get("controller-revision-hash"))

        acted = self._statefulset_replicas(
            sts, pods, replicas, monotonic, partition, current_revision, update_revision
        )
        blocked = monotonic and (
            acted
            or any(
                _terminating(p) or not _pod_running_and_ready(p)
                for o, p in pods.items()
                if o < replicas
            )
        )
        if not blocked:
            condemned = sorted((o for o in pods if o >= replicas), reverse=True)
            for ordinal in condemned:
                self._delete_pod(sts, pods.pop(ordinal))
                acted = True
                if monotonic:
                    break
            if monotonic and condemned:
                blocked = True
        if not blocked and not acted and rolling:
            for ordinal in range(replicas - 1, partition - 1, -1):
                pod = pods.get(ordinal)
                if pod is None:
                    break
                if revision(pod) != update_revision and not _terminating(pod):
                    self._delete_pod(sts, pods.pop(ordinal))
                    acted = True
                    break
                if not _pod_ready(pod):
                    break  # wait for the pod it replaced last

        live = [p for o, p in pods.items() if o < replicas]
        ready = sum(_pod_ready(p) for p in live)
        updated = sum(revision(p) == update_revision for p in live)
        if updated == replicas and ready == replicas and len(live) == replicas:
            current_revision = update_revision  # the rolling update is complete
        new_status = {
            "observedGeneration": meta["generation"],
            "replicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": sum(revision(p) == current_revision for p in live),
            "updatedReplicas": updated,
            "currentRevision": current_revision,
            "updateRevision": update_revision,
            "collisionCount": 0,
        }
        if new_status != status:
            sts["status"] = new_status
            self._changed("statefulsets", sts)
        return acted

    def _statefulset_replicas(
        self,
        sts: Obj,
        pods: dict[int, Obj],
        replicas: int,
        monotonic: bool,
        partition: int,
        current_revision: str,
        update_revision: str,
    ) -> bool:
        """Create missing ordinals; OrderedReady creates one only when every lower
        ordinal is Running and Ready. True when a pod was created."""
        namespace, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        acted = False
        for ordinal in range(replicas):
            pod = pods.get(ordinal)
            if pod is None:
                revision = current_revision if ordinal < partition else update_revision
                template = self._revision_templates.get((namespace, revision))
                pods[ordinal] = self._create_pod(sts, f"{name}-{ordinal}", revision, template)
                acted = True
                if monotonic:
                    return True
            elif monotonic and (_terminating(pod) or not _pod_running_and_ready(pod)):
                return acted
        return acted

    def _reconcile_deployment(self, dep: Obj) -> bool:
        meta, spec = dep["metadata"], dep["spec"]
        key = (meta["namespace"], meta["name"])
        replicas = spec.get("replicas", 1)
        new_hash = template_hash(spec["template"])
        pods = self.owned_pods(dep)
        new = [p for p in pods if p["metadata"]["labels"].get("pod-template-hash") == new_hash]
        old = [p for p in pods if p not in new]
        new_ready = [p for p in new if _pod_ready(p)]
        progress = self._progress.setdefault(key, _DeploymentProgress())
        status = dep.get("status") or {}
        if status.get("observedGeneration") != meta["generation"]:
            self._mark_progress(dep, progress)
        acted = True
        if len(new) > replicas:
            doomed = sorted(new, key=lambda p: (_pod_ready(p), p["metadata"]["name"]))[0]
            self._delete_pod(dep, doomed)
            new.remove(doomed)
        elif old and len(old) + len(new_ready) > replicas:
            doomed = sorted(old, key=lambda p: (_pod_ready(p), p["metadata"]["name"]))[0]
            self._delete_pod(dep, doomed)
            old.remove(doomed)
        elif len(new) < replicas and not old:
            for _ in range(replicas - len(new)):
                new.append(self._create_deployment_pod(dep, new_hash))
        elif len(new) < replicas and len(new_ready) == len(new) and len(old) + len(new) <= replicas:
            new.append(self._create_deployment_pod(dep, new_hash))
        else:
            acted = False
        if (len(new), len(new_ready)) != progress.seen:
            progress.seen = (len(new), len(new_ready))
            self._mark_progress(dep, progress)
        self._update_deployment_status(dep, old + new, new, progress)
        return acted

    def _mark_progress(self, dep: Obj, progress: _DeploymentProgress) -> None:
        loop = asyncio.get_running_loop()
        progress.last_progress = loop.time()
        progress.exceeded = False
        deadline = dep["spec"].get("progressDeadlineSeconds", 600) * self.progress_deadline_scale
        key = (dep["metadata"]["namespace"], dep["metadata"]["name"])

        def check() -> None:
            current = self.get("deployments", *key)
            if current is None or progress.exceeded:
                return
            if loop.time() - progress.last_progress + 1e-6 < deadline:
                return
            if self._deployment_complete(current):
                return
            progress.exceeded = True
            pods = self.owned_pods(current)
            new_hash = template_hash(current["spec"]["template"])
            new = [p for p in pods if p["metadata"]["labels"].get("pod-template-hash") == new_hash]
            self._update_deployment_status(current, pods, new, progress)

        self.later(deadline, check)

    @staticmethod
    def _deployment_complete(dep: Obj) -> bool:
        status, replicas = dep.get("status") or {}, dep["spec"].get("replicas", 1)
        return (
            status.get("updatedReplicas") == replicas
            and status.get("availableReplicas") == replicas
            and status.get("replicas") == replicas
        )

    def _update_deployment_status(
        self, dep: Obj, pods: list[Obj], new: list[Obj], progress: _DeploymentProgress
    ) -> None:
        meta, replicas = dep["metadata"], dep["spec"].get("replicas", 1)
        old_status = dep.get("status") or {}
        ready = sum(_pod_ready(p) for p in pods)
        new_hash = template_hash(dep["spec"]["template"])
        rs_name = f"{meta['name']}-{new_hash}"
        complete = len(new) == replicas and ready == replicas and len(pods) == replicas
        if complete:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif progress.exceeded:
            progressing = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        available = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        if ready < replicas - max(replicas // 4, 0):
            available = (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        conditions = []
        previous = {c["type"]: c for c in old_status.get("conditions", ())}
        for type_, (cstatus, reason, message) in (
            ("Available", available),
            ("Progressing", progressing),
        ):
            before = previous.get(type_)
            same = before is not None and (before["status"], before["reason"]) == (cstatus, reason)
            stamp = now_iso()
            conditions.append(
                {
                    "type": type_,
                    "status": cstatus,
                    "reason": reason,
                    "message": message,
                    "lastUpdateTime": before["lastUpdateTime"] if same and before else stamp,
                    "lastTransitionTime": before["lastTransitionTime"]
                    if same and before
                    else stamp,
                }
            )
        new_status = {
            "observedGeneration": meta["generation"],
            "replicas": len(pods),
            "updatedReplicas": len(new),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": conditions,
        }
        if len(pods) - ready:
            new_status["unavailableReplicas"] = len(pods) - ready
        if new_status != old_status:
            dep["status"] = new_status
            self._changed("deployments", dep)

    # ------------------------------------------------------------ pods (the kubelet part)

    def _create_deployment_pod(self, dep: Obj, pod_hash: str) -> Obj:
        suffix = "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        name = f"{dep['metadata']['name']}-{pod_hash}-{suffix}"
        return self._create_pod(dep, name, pod_hash)

    def _create_pod(self, owner: Obj, name: str, revision: str, template: Obj | None = None) -> Obj:
        """A new pod of ``owner`` from ``template`` (default: the owner's current one)."""
        meta = owner["metadata"]
        template = template if template is not None else owner["spec"]["template"]
        labels = dict(template.get("metadata", {}).get("labels", {}))
        if owner["kind"] == "StatefulSet":
            labels["controller-revision-hash"] = revision
            labels["statefulset.kubernetes.io/pod-name"] = name
            owner_ref = {"kind": "StatefulSet", "name": meta["name"]}
        else:
            labels["pod-template-hash"] = revision
            owner_ref = {"kind": "ReplicaSet", "name": f"{meta['name']}-{revision}"}
        spec = copy.deepcopy(template.get("spec", {}))
        spec.setdefault("nodeName", "fake-node-1")
        spec.setdefault("restartPolicy", "Always")
        pod: Obj = {
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": dict(template.get("metadata", {}).get("annotations", {})),
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        **owner_ref,
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
        self.put("pods", pod)
        uid = pod["metadata"]["uid"]
        self.record_event(
            owner,
            "SuccessfulCreate",
            f"create Pod {name} in {owner['kind']} {meta['name']} successful",
            component="controller",
        )
        self.later(self.ready_delay, lambda: self._start_pod(meta["namespace"], name, uid))
        return pod

    def _delete_pod(self, owner: Obj, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        self.record_event(
            owner,
            "SuccessfulDelete",
            f"delete Pod {name} in {owner['kind']} {owner['metadata']['name']} successful",
            component="controller",
        )
        self.objects["pods"].pop((pod["metadata"]["namespace"], name), None)
        self._record("pods", "DELETED", pod)

    def _live_pod(self, namespace: str, name: str, uid: str) -> Obj | None:
        pod = self.get("pods", namespace, name)
        return pod if pod is not None and pod["metadata"]["uid"] == uid else None

    def _start_pod(self, namespace: str, name: str, uid: str) -> None:
        pod = self._live_pod(namespace, name, uid)
        if pod is None or any(
            s["state"].get("waiting", {}).get("reason") != "ContainerCreating"
            for s in pod["status"]["containerStatuses"]
        ):
            return  # gone, or already started
        if any(
            self.bad_images.get(c["image"]) == "ContainerCreating"
            for c in pod["spec"]["containers"]
        ):
            return  # stuck creating: never starts, never fails loudly
        statuses, failing = [], False
        for container in pod["spec"]["containers"]:
            image = container["image"]
            failure = self.bad_images.get(image)
            if failure == "CrashLoopBackOff":
                statuses.append(_crashed_status(container, restarts=1))
                self.record_event(
                    pod, "Pulled", f'Container image "{image}" already present on machine'
                )
                self.record_event(
                    pod, "BackOff", "Back-off restarting failed container", type_="Warning"
                )
                failing = True
            elif failure == "ImagePullBackOff":
                statuses.append(
                    _waiting_status(
                        container,
                        "ErrImagePull",
                        f'failed to pull and unpack image "{image}": not found',
                    )
                )
                self.record_event(
                    pod, "Failed", f'Failed to pull image "{image}": not found', type_="Warning"
                )
                failing = True
            else:
                statuses.append(_running_status(container))
                self.record_event(pod, "Started", f"Started container {container['name']}")
        ready = not failing
        pulling = any(
            s["state"].get("waiting", {}).get("reason") == "ErrImagePull" for s in statuses
        )
        pod["status"].update(
            phase="Pending" if pulling else "Running",
            podIP=f"10.1.{len(self.objects['pods']) % 250}.{int(uid[:2], 16) % 250}",
            conditions=_pod_conditions(ready=ready),
            containerStatuses=statuses,
        )
        if ready:
            self.ready_at[(namespace, name)] = time.monotonic()
        self._changed("pods", pod)
        if failing:
            self.later(self.crash_interval, lambda: self._fail_again(namespace, name, uid, 1))
        self._after_change("pods", pod)

    def _fail_again(self, namespace: str, name: str, uid: str, repeat: int) -> None:
        pod = self._live_pod(namespace, name, uid)
        if pod is None or repeat > MAX_CRASH_REPEATS:
            return
        statuses = pod["status"]["containerStatuses"]
        for index, container in enumerate(pod["spec"]["containers"]):
            image, failure = container["image"], self.bad_images.get(container["image"])
            if failure == "CrashLoopBackOff":
                statuses[index] = _crashed_status(
                    container, restarts=statuses[index]["restartCount"] + 1
                )
                self.record_event(
                    pod, "BackOff", "Back-off restarting failed container", type_="Warning"
                )
            elif failure == "ImagePullBackOff":
                statuses[index] = _waiting_status(
                    container, "ImagePullBackOff", f'Back-off pulling image "{image}"'
                )
                self.record_event(
                    pod, "BackOff", f'Back-off pulling image "{image}"', type_="Warning"
                )
        self._changed("pods", pod)
        self.later(
            self.crash_interval * 2**repeat,
            lambda: self._fail_again(namespace, name, uid, repeat + 1),
        )


# ---------------------------------------------------------------- pod status builders


def _pod_ready(pod: Obj) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", ())
    )


def _terminating(pod: Obj) -> bool:
    return "deletionTimestamp" in pod["metadata"]


def _pod_running_and_ready(pod: Obj) -> bool:
    return pod["status"].get("phase") == "Running" and _pod_ready(pod)


def _owner(pod: Obj) -> tuple[str, str] | None:
    for ref in pod["metadata"].get("ownerReferences", ()):
        if ref.get("controller"):
            if ref["kind"] == "ReplicaSet":
                return "Deployment", ref["name"].rsplit("-", 1)[0]
            return str(ref["kind"]), str(ref["name"])
    return None


def _pod_conditions(*, ready: bool) -> list[Obj]:
    stamp, flag = now_iso(), "True" if ready else "False"
    return [
        {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": stamp}
        for type_, status in (
            ("Initialized", "True"),
            ("Ready", flag),
            ("ContainersReady", flag),
            ("PodScheduled", "True"),
        )
    ]


def _image_id(image: str) -> str:
    repository = image.split("@")[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    return f"{repository}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _waiting_status(container: Obj, reason: str, message: str, restarts: int = 0) -> Obj:
    waiting = {"reason": reason}
    if message:
        waiting["message"] = message
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": restarts,
        "state": {"waiting": waiting},
    }


def _running_status(container: Obj) -> Obj:
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": _image_id(container["image"]),
        "containerID": f"containerd://{uuid.uuid4().hex}",
        "ready": True,
        "started": True,
        "restartCount": 0,
        "state": {"running": {"startedAt": now_iso()}},
    }


def _crashed_status(container: Obj, *, restarts: int) -> Obj:
    status = _waiting_status(
        container,
        "CrashLoopBackOff",
        f"back-off 10s restarting failed container={container['name']}",
        restarts,
    )
    stamp = now_iso()
    status["imageID"] = _image_id(container["image"])
    status["lastState"] = {
        "terminated": {"exitCode": 1, "reason": "Error", "startedAt": stamp, "finishedAt": stamp}
    }
    return status
