"""What the Kubernetes layer returns: frozen dataclasses read from the API's JSON.

Nothing here imports kubernetes_asyncio. Each ``*_from_json`` function takes one object
as the API serves it (camelCase keys) and promises a complete dataclass: absent
optional fields become ``0``, ``None`` or empty tuples, never a KeyError.
:func:`rollout_progress` decides, from a workload and its pods, whether a rollout is
done, still going, or failed, with the same rules as ``kubectl rollout status``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

JsonObj = Mapping[str, Any]
WorkloadKind = Literal["StatefulSet", "Deployment"]
WORKLOAD_KINDS: tuple[WorkloadKind, ...] = ("StatefulSet", "Deployment")
FAILING_WAIT_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
"""Container waiting reasons that mean a pod will not become Ready by itself."""
DEFAULT_REGISTRY_PREFIXES = ("docker.io/library/", "docker.io/", "index.docker.io/library/")


class KubeError(Exception):
    """The Kubernetes API refused or failed a request.

    ``status`` is the HTTP status (None when the API could not be reached), ``reason``
    the API's reason (``NotFound``, ``Conflict``, ``Expired``…), ``message`` a sentence
    for a user.
    """

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None):
        self.message = message
        self.status = status
        self.reason = reason
        super().__init__(message)


# ---------------------------------------------------------------- images


@dataclass(frozen=True)
class ContainerImage:
    """One container of a pod template and the image reference it runs."""

    name: str
    image: str

    @property
    def repository(self) -> str:
        """The image without tag or digest (``localhost:5000/x/y:1`` → ``localhost:5000/x/y``)."""
        return split_image(self.image)[0]

    @property
    def image_repo(self) -> str:
        """Alias of :attr:`repository`."""
        return self.repository

    @property
    def tag(self) -> str | None:
        """The tag (``None`` when the reference has none, e.g. only a digest)."""
        return split_image(self.image)[1]

    @property
    def digest(self) -> str | None:
        """The ``sha256:…`` digest, if the reference pins one."""
        return split_image(self.image)[2]


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """Split an image reference into (repository, tag, digest).

    A colon counts as a tag separator only in the last path segment, so a registry port
    (``localhost:5000/x``) stays part of the repository.
    """
    reference, _, digest = image.partition("@")
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1 :], digest or None
    return reference, None, digest or None


def normalize_repository(repository: str) -> str:
    """Docker Hub's spellings of one repository made equal (``docker.io/library/x`` → ``x``)."""
    for prefix in DEFAULT_REGISTRY_PREFIXES:
        if repository.startswith(prefix):
            return repository[len(prefix) :]
    return repository


def same_repository(image: str, repository: str) -> bool:
    """Whether ``image`` is an image of ``repository`` (any tag or digest)."""
    wanted = normalize_repository(split_image(repository)[0])
    return normalize_repository(split_image(image)[0]) == wanted


def image_reference(repository: str, tag: str) -> str:
    """``repository:tag``, or ``repository@sha256:…`` when ``tag`` is a digest."""
    return f"{repository}@{tag}" if tag.startswith("sha256:") else f"{repository}:{tag}"


# ---------------------------------------------------------------- workloads


@dataclass(frozen=True)
class WorkloadCondition:
    """One entry of a Deployment's ``status.conditions``."""

    type: str
    status: str
    reason: str | None
    message: str | None


@dataclass(frozen=True)
class Workload:
    """A StatefulSet or Deployment: its spec and rollout status."""

    kind: WorkloadKind
    name: str
    namespace: str
    replicas: int
    ready_replicas: int
    updated_replicas: int
    available_replicas: int
    current_replicas: int
    status_replicas: int
    generation: int
    observed_generation: int
    partition: int | None
    containers: tuple[ContainerImage, ...]
    init_containers: tuple[ContainerImage, ...]
    selector: Mapping[str, str]
    resource_version: str
    current_revision: str | None = None
    update_revision: str | None = None
    conditions: tuple[WorkloadCondition, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    pod_management_policy: str = "OrderedReady"
    """A StatefulSet's ``spec.podManagementPolicy`` (``OrderedReady`` or ``Parallel``)."""

    @property
    def available(self) -> int:
        """Pods available to serve (``status.availableReplicas``)."""
        return self.available_replicas

    @property
    def label_selector(self) -> str:
        """``selector`` as a label-selector string (``app=validator,tier=x``)."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.selector.items()))

    def condition(self, type_: str) -> WorkloadCondition | None:
        """The condition of that type, if the workload reports one."""
        return next((c for c in self.conditions if c.type == type_), None)


def _containers(items: Iterable[JsonObj] | None) -> tuple[ContainerImage, ...]:
    return tuple(ContainerImage(str(c["name"]), str(c.get("image") or "")) for c in items or ())


def workload_from_json(kind: WorkloadKind, obj: JsonObj) -> Workload:
    """Read a StatefulSet or Deployment object."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    partition = None
    if kind == "StatefulSet":
        rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
        partition = rolling.get("partition")
    return Workload(
        kind=kind,
        name=meta["name"],
        namespace=meta.get("namespace") or "",
        replicas=_int(spec.get("replicas"), 1),
        ready_replicas=_int(status.get("readyReplicas")),
        updated_replicas=_int(status.get("updatedReplicas")),
        available_replicas=_int(status.get("availableReplicas")),
        current_replicas=_int(status.get("currentReplicas")),
        status_replicas=_int(status.get("replicas")),
        generation=_int(meta.get("generation")),
        observed_generation=_int(status.get("observedGeneration")),
        partition=None if partition is None else int(partition),
        containers=_containers(pod_spec.get("containers")),
        init_containers=_containers(pod_spec.get("initContainers")),
        selector=dict((spec.get("selector") or {}).get("matchLabels") or {}),
        resource_version=str(meta.get("resourceVersion") or ""),
        current_revision=status.get("currentRevision"),
        update_revision=status.get("updateRevision"),
        conditions=tuple(
            WorkloadCondition(c["type"], c["status"], c.get("reason"), c.get("message"))
            for c in status.get("conditions") or ()
        ),
        labels=dict(meta.get("labels") or {}),
        pod_management_policy=str(spec.get("podManagementPolicy") or "OrderedReady"),
    )


# ---------------------------------------------------------------- pods


@dataclass(frozen=True)
class ContainerState:
    """One container's status inside a pod."""

    name: str
    image: str
    ready: bool
    restarts: int
    waiting_reason: str | None
    waiting_message: str | None
    started: bool = True
    """Whether this container ever ran (so it can have logs): running or terminated
    now, terminated before, or restarted at least once."""


PULL_FAILURE_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})
"""Waiting reasons that mean the container's image could not be pulled."""


@dataclass(frozen=True)
class Pod:
    """A pod, reduced to what health checks and rollouts need."""

    name: str
    namespace: str
    phase: str
    ready: bool
    restarts: int
    waiting_reason: str | None
    images: tuple[str, ...]
    created_at: datetime | None
    labels: Mapping[str, str]
    owner: str | None
    containers: tuple[ContainerState, ...] = ()
    node: str | None = None
    uid: str = ""
    """This incarnation's uid: a pod recreated under the same name gets a new one."""
    container_images: Mapping[str, str] = field(default_factory=dict)
    """Container and init container name → image, from the pod's spec."""
    terminating: bool = False
    """The pod has a ``deletionTimestamp``: it is going away."""

    @property
    def failing_reason(self) -> str | None:
        """The first waiting reason that will not fix itself (CrashLoopBackOff, …), if any."""
        return next(
            (c.waiting_reason for c in self.containers if c.waiting_reason in FAILING_WAIT_REASONS),
            None,
        )

    @property
    def failing_container(self) -> ContainerState | None:
        """The first container in a :data:`FAILING_WAIT_REASONS` state, if any."""
        return next((c for c in self.containers if c.waiting_reason in FAILING_WAIT_REASONS), None)

    @property
    def unpulled_images(self) -> tuple[str, ...]:
        """Images of this pod's containers that could not be pulled."""
        return tuple(
            dict.fromkeys(
                c.image or self.container_images.get(c.name, "")
                for c in self.containers
                if c.waiting_reason in PULL_FAILURE_REASONS
            )
        )

    def container(self, name: str) -> ContainerState | None:
        """The status of the container called ``name``, if the pod reports one."""
        return next((c for c in self.containers if c.name == name), None)


def pod_from_json(obj: JsonObj) -> Pod:
    """Read a Pod object."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    statuses = list(status.get("containerStatuses") or ())
    containers = tuple(
        ContainerState(
            name=s["name"],
            image=s.get("image") or "",
            ready=bool(s.get("ready")),
            restarts=_int(s.get("restartCount")),
            waiting_reason=((s.get("state") or {}).get("waiting") or {}).get("reason"),
            waiting_message=((s.get("state") or {}).get("waiting") or {}).get("message"),
            started=_ever_started(s),
        )
        for s in statuses
    )
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )
    owner = next(
        (
            f"{ref['kind']}/{ref['name']}"
            for ref in meta.get("ownerReferences") or ()
            if ref.get("controller")
        ),
        None,
    )
    return Pod(
        name=meta["name"],
        namespace=meta.get("namespace") or "",
        phase=status.get("phase") or "Unknown",
        ready=ready,
        restarts=sum(c.restarts for c in containers),
        waiting_reason=next((c.waiting_reason for c in containers if c.waiting_reason), None),
        images=tuple(str(c.get("image") or "") for c in spec.get("containers") or ()),
        created_at=parse_time(meta.get("creationTimestamp")),
        labels=dict(meta.get("labels") or {}),
        owner=owner,
        containers=containers,
        node=spec.get("nodeName"),
        uid=str(meta.get("uid") or ""),
        container_images={
            str(c["name"]): str(c.get("image") or "")
            for key in ("containers", "initContainers")
            for c in spec.get(key) or ()
        },
        terminating=bool(meta.get("deletionTimestamp")),
    )


def _ever_started(status: JsonObj) -> bool:
    state, last = status.get("state") or {}, status.get("lastState") or {}
    return bool(
        "running" in state
        or "terminated" in state
        or "terminated" in last
        or _int(status.get("restartCount"))
        or status.get("started")
    )


# ---------------------------------------------------------------- events, services, jobs


@dataclass(frozen=True)
class Event:
    """A core/v1 Event about some object."""

    reason: str
    message: str
    type: str
    count: int
    last_seen: datetime | None
    involved_kind: str
    involved_name: str
    involved_uid: str = ""


def event_from_json(obj: JsonObj) -> Event:
    """Read an Event object (``last_seen``: lastTimestamp, else eventTime, else creation)."""
    ref = obj.get("involvedObject") or {}
    seen = (
        obj.get("lastTimestamp") or obj.get("eventTime") or obj["metadata"].get("creationTimestamp")
    )
    return Event(
        reason=obj.get("reason") or "",
        message=obj.get("message") or "",
        type=obj.get("type") or "Normal",
        count=_int(obj.get("count"), 1),
        last_seen=parse_time(seen),
        involved_kind=ref.get("kind") or "",
        involved_name=ref.get("name") or "",
        involved_uid=ref.get("uid") or "",
    )


@dataclass(frozen=True)
class ServicePort:
    """One port a Service exposes."""

    port: int
    protocol: str
    name: str | None
    node_port: int | None = None


@dataclass(frozen=True)
class Service:
    """A Service and the external addresses its load balancer has (none yet: pending)."""

    name: str
    namespace: str
    type: str
    ports: tuple[ServicePort, ...]
    external_addresses: tuple[str, ...]
    cluster_ip: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        """A LoadBalancer still waiting for its external address."""
        return self.type == "LoadBalancer" and not self.external_addresses

    def port_named(self, name_or_number: str | int) -> ServicePort | None:
        """The port with that name or number, if the Service exposes it."""
        return next(
            (p for p in self.ports if name_or_number in (p.name, p.port)),
            None,
        )


def service_from_json(obj: JsonObj) -> Service:
    """Read a Service object (addresses from ``status.loadBalancer.ingress``: ip or hostname)."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    ingress = (status.get("loadBalancer") or {}).get("ingress") or ()
    return Service(
        name=meta["name"],
        namespace=meta.get("namespace") or "",
        type=spec.get("type") or "ClusterIP",
        ports=tuple(
            ServicePort(
                port=int(p["port"]),
                protocol=p.get("protocol") or "TCP",
                name=p.get("name"),
                node_port=p.get("nodePort"),
            )
            for p in spec.get("ports") or ()
        ),
        external_addresses=tuple(
            str(i.get("ip") or i.get("hostname"))
            for i in ingress
            if i.get("ip") or i.get("hostname")
        ),
        cluster_ip=spec.get("clusterIP"),
        labels=dict(meta.get("labels") or {}),
    )


@dataclass(frozen=True)
class Job:
    """A batch/v1 Job's progress.

    ``complete`` and ``failure`` come from its ``Complete`` and ``Failed`` conditions;
    ``failure_reason`` is the ``Failed`` condition's reason (``BackoffLimitExceeded``,
    ``DeadlineExceeded``…).
    """

    name: str
    namespace: str
    active: int
    succeeded: int
    failed: int
    complete: bool
    failure: str | None
    created_at: datetime | None
    uid: str = ""
    failure_reason: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    resource_version: str = ""

    @property
    def finished(self) -> bool:
        """The Job has ended, one way or the other (Complete or Failed)."""
        return self.complete or self.failure is not None


def job_from_json(obj: JsonObj) -> Job:
    """Read a Job object (``failure``: the message of a ``Failed=True`` condition)."""
    meta, status = obj["metadata"], obj.get("status") or {}
    conditions = {
        c.get("type"): c for c in status.get("conditions") or () if c.get("status") == "True"
    }
    failed = conditions.get("Failed")
    return Job(
        name=meta["name"],
        namespace=meta.get("namespace") or "",
        active=_int(status.get("active")),
        succeeded=_int(status.get("succeeded")),
        failed=_int(status.get("failed")),
        complete="Complete" in conditions,
        failure=None
        if failed is None
        else (failed.get("message") or failed.get("reason") or "failed"),
        created_at=parse_time(meta.get("creationTimestamp")),
        uid=meta.get("uid") or "",
        failure_reason=None if failed is None else failed.get("reason") or "Failed",
        started_at=parse_time(status.get("startTime")),
        completed_at=parse_time(status.get("completionTime")),
        resource_version=str(meta.get("resourceVersion") or ""),
    )


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


@dataclass(frozen=True)
class SecretEnv:
    """An environment variable of a Job's container taken from one key of a Secret."""

    name: str
    secret: str
    key: str


@dataclass(frozen=True)
class JobSpec:
    """A one-container, run-once Kubernetes Job, checked before anything is sent.

    ``namespace`` None means the namespace given to ``create_job``. ``backoff_limit``
    is how many times a failed run is retried (0: never, the safe choice for a command
    that must not run twice); ``active_deadline`` the seconds the Job may run in all
    before Kubernetes stops it (``DeadlineExceeded``); ``ttl_after_finished`` the
    seconds after which Kubernetes deletes a finished Job. Raises ValueError naming
    the field for anything the API server would refuse.
    """

    name: str
    image: str
    args: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    namespace: str | None = None
    secret_env: tuple[SecretEnv, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    active_deadline: int | None = None
    backoff_limit: int = 0
    ttl_after_finished: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    container: str = "job"

    def __post_init__(self) -> None:
        if not _DNS_LABEL.match(self.name):
            raise ValueError(
                f"Job name {self.name!r}: at most 63 lower-case letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        if not _DNS_LABEL.match(self.container):
            raise ValueError(f"container name {self.container!r} is not a valid DNS label")
        if self.namespace is not None and not _DNS_LABEL.match(self.namespace):
            raise ValueError(f"namespace {self.namespace!r} is not a valid DNS label")
        if not self.image.strip() or any(c.isspace() for c in self.image):
            raise ValueError(f"image {self.image!r}: must be a non-empty image reference")
        if self.backoff_limit < 0:
            raise ValueError(f"backoff_limit must be >= 0, not {self.backoff_limit}")
        if self.active_deadline is not None and self.active_deadline <= 0:
            raise ValueError(f"active_deadline must be > 0 seconds, not {self.active_deadline}")
        if self.ttl_after_finished is not None and self.ttl_after_finished < 0:
            raise ValueError(f"ttl_after_finished must be >= 0, not {self.ttl_after_finished}")
        names = [e.name for e in self.secret_env] + list(self.env)
        for name in names:
            if not _ENV_NAME.match(name):
                raise ValueError(f"environment variable name {name!r} is not valid")
        if len(set(names)) != len(names):
            raise ValueError(f"environment variables named twice: {sorted(names)}")
        for ref in self.secret_env:
            if not ref.secret or not ref.key:
                raise ValueError(f"environment variable {ref.name}: needs a Secret and a key")
        for key, value in self.labels.items():
            if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise ValueError(f"label {key}={value!r} is not a valid Kubernetes label")

    def manifest(self) -> dict[str, Any]:
        """The batch/v1 Job manifest (restartPolicy Never: each retry is a new pod)."""
        container: dict[str, Any] = {"name": self.container, "image": self.image}
        if self.command:
            container["command"] = list(self.command)
        if self.args:
            container["args"] = list(self.args)
        env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in self.env.items()]
        env += [
            {
                "name": ref.name,
                "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}},
            }
            for ref in self.secret_env
        ]
        if env:
            container["env"] = env
        spec: dict[str, Any] = {
            "backoffLimit": self.backoff_limit,
            "template": {
                "metadata": {"labels": dict(self.labels)},
                "spec": {"restartPolicy": "Never", "containers": [container]},
            },
        }
        if self.active_deadline is not None:
            spec["activeDeadlineSeconds"] = self.active_deadline
        if self.ttl_after_finished is not None:
            spec["ttlSecondsAfterFinished"] = self.ttl_after_finished
        metadata: dict[str, Any] = {"name": self.name, "labels": dict(self.labels)}
        if self.namespace is not None:
            metadata["namespace"] = self.namespace
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}


# ---------------------------------------------------------------- rollout progress


@dataclass(frozen=True)
class RolloutProgress:
    """One snapshot of a rollout.

    ``done`` and ``failure`` are final: once either is set the watch ends. ``message``
    says what is being waited for, in ``kubectl rollout status`` words.
    """

    kind: WorkloadKind
    name: str
    desired: int
    updated: int
    ready: int
    available: int
    done: bool
    failure: str | None
    message: str
    failing_pods: tuple[str, ...] = ()
    stuck_pods: tuple[str, ...] = ()
    """StatefulSet pods (ordinal >= partition) not at the update revision and not Ready:
    with ``OrderedReady`` the controller will not replace them by itself."""

    @property
    def finished(self) -> bool:
        """Done or failed: nothing more will be reported."""
        return self.done or self.failure is not None


def rollout_progress(workload: Workload, pods: Sequence[Pod]) -> RolloutProgress:
    """Judge a rollout from the workload's status and its pods.

    Failure: a Deployment's ``Progressing=False/ProgressDeadlineExceeded``, or pods
    running the current template's images stuck in a :data:`FAILING_WAIT_REASONS`
    state (named in ``failure``). Done: the status says every wanted pod is updated,
    ready (and, for a Deployment, available) at the observed generation.
    """
    template_images = tuple(c.image for c in workload.containers)
    failing = sorted(
        (p for p in pods if p.images == template_images and p.failing_reason),
        key=lambda p: _ordinal_key(p.name),
    )
    failing_names = tuple(p.name for p in failing)
    failure = None
    if failing:
        reasons = sorted({p.failing_reason or "" for p in failing})
        failure = f"{len(failing)} pod(s) in {'/'.join(reasons)}: {', '.join(failing_names)}"
    stuck = _stuck_pods(workload, pods)
    done, message = _rollout_status(workload)
    if done:
        failure = None
    elif workload.kind == "Deployment":
        progressing = workload.condition("Progressing")
        if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
            deadline = f'deployment "{workload.name}" exceeded its progress deadline'
            failure = f"{deadline}; {failure}" if failure else deadline
    return RolloutProgress(
        kind=workload.kind,
        name=workload.name,
        desired=workload.replicas,
        updated=workload.updated_replicas,
        ready=workload.ready_replicas,
        available=workload.available_replicas,
        done=done,
        failure=failure,
        message=message if failure is None else failure,
        failing_pods=failing_names,
        stuck_pods=stuck,
    )


def _stuck_pods(workload: Workload, pods: Sequence[Pod]) -> tuple[str, ...]:
    """Pods a StatefulSet controller will not replace by itself: not Ready, not going
    away, at or above the partition, on another revision than the update revision."""
    if workload.kind != "StatefulSet" or not workload.update_revision:
        return ()
    if workload.observed_generation < workload.generation:
        return ()  # the controller has not computed the update revision of this spec yet
    floor = workload.partition or 0
    stuck = [
        p
        for p in pods
        if not p.ready
        and not p.terminating
        and p.labels.get("controller-revision-hash") != workload.update_revision
        and _ordinal_key(p.name)[1] >= floor
    ]
    return tuple(p.name for p in sorted(stuck, key=lambda p: _ordinal_key(p.name)))


def _rollout_status(w: Workload) -> tuple[bool, str]:
    if w.observed_generation < w.generation or w.observed_generation == 0:
        return False, "Waiting for the rollout to be observed by the controller..."
    if w.kind == "StatefulSet":
        if w.ready_replicas < w.replicas:
            missing = w.replicas - w.ready_replicas
            return False, f"Waiting for {missing} pods to be ready..."
        if w.partition:
            wanted = w.replicas - w.partition
            if w.updated_replicas < wanted:
                return False, (
                    f"Waiting for partitioned roll out to finish: {w.updated_replicas} out of "
                    f"{wanted} new pods have been updated..."
                )
            return (
                True,
                f"partitioned roll out complete: {w.updated_replicas} new pods have been "
                "updated...",
            )
        if w.update_revision and w.current_revision != w.update_revision:
            return False, (
                f"waiting for statefulset rolling update to complete {w.updated_replicas} pods "
                f"at revision {w.update_revision}..."
            )
        return (
            True,
            f"statefulset rolling update complete {w.ready_replicas} pods at revision "
            f"{w.update_revision}...",
        )
    if w.updated_replicas < w.replicas:
        return False, (
            f"Waiting for deployment {w.name!r} rollout to finish: {w.updated_replicas} out of "
            f"{w.replicas} new replicas have been updated..."
        )
    if w.status_replicas > w.updated_replicas:
        old = w.status_replicas - w.updated_replicas
        return (
            False,
            f"Waiting for deployment {w.name!r} rollout to finish: {old} old replicas are "
            "pending termination...",
        )
    if w.available_replicas < w.updated_replicas:
        return False, (
            f"Waiting for deployment {w.name!r} rollout to finish: {w.available_replicas} of "
            f"{w.updated_replicas} updated replicas are available..."
        )
    return True, f"deployment {w.name!r} successfully rolled out"


# ---------------------------------------------------------------- helpers


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (or an already parsed datetime) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _int(value: Any, default: int = 0) -> int:
    return default if value is None else int(value)


def _ordinal_key(name: str) -> tuple[str, int]:
    base, _, last = name.rpartition("-")
    return (base, int(last)) if last.isdigit() else (name, -1)


def selector_string(selector: str | Mapping[str, str] | None) -> str:
    """A label selector as the API wants it; a mapping becomes ``k=v,k2=v2``."""
    if selector is None:
        return ""
    if isinstance(selector, str):
        return selector
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


_REQUIREMENT = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*))?\s*$")


def selector_matches(selector: str | Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy an equality-based label selector (``app=x``,
    ``app!=x``, ``app``, ``!app``, comma-joined), as the API server decides it.

    Raises ValueError for anything else (set-based selectors included).
    """
    text = selector_string(selector)
    for part in text.split(",") if text.strip() else ():
        m = _REQUIREMENT.match(part)
        if m is None:
            raise ValueError(f"not an equality-based label selector: {text!r}")
        negated, key, op, value = m.groups()
        if op is None:
            if (key in labels) == bool(negated):
                return False
        elif negated:
            raise ValueError(f"not an equality-based label selector: {text!r}")
        elif (labels.get(key) == value) != (op in ("=", "==")):
            return False
    return True
