"""An HTTP-level fake of the Kubernetes API server, for kubernetes-asyncio and kubectl.

It serves the real REST paths and JSON on 127.0.0.1 (a free port), with the state and
controllers of :class:`~tests.fakes.kube_controller.FakeCluster` behind it::

    async with KubeFake(ready_delay=0.02) as fake:
        fake.add_statefulset("validator", replicas=3, containers={"main": "r/node:1", "sidecar": "r/log:1"})
        path = fake.write_kubeconfig(tmp_path / "kubeconfig")
        async with KubeClient.from_kubeconfig(path) as kube:
            ...
        assert fake.count("PATCH", "/apis/apps/v1/namespaces/default/statefulsets/validator") == 1

Covered: discovery (``/version``, ``/api``, ``/apis``, group versions), apps/v1
statefulsets and deployments (list, get, create, patch with strategic-merge, merge and
JSON patches, watch), core/v1 pods (list, get, delete with ``preconditions``, watch, ``log``), services and
events (list, get, watch), secrets (create, list, get), batch/v1 jobs (create with the API
server's validation and defaults, get, list, watch, delete with ``propagationPolicy``; run
by :class:`~tests.fakes.kube_jobs.JobController`, whose :class:`JobScript` a test sets
with :meth:`KubeFake.script_job`). Lists take
``labelSelector`` and ``fieldSelector``; watches take ``watch=true|True|1``,
``resourceVersion`` (older than the kept history: an ``ERROR`` event with 410 Gone) and
``timeoutSeconds``. A request with a wrong ``Authorization: Bearer`` token gets 401; one
with none is let through as anonymous (``allow_anonymous``, default on) because kubectl
never sends a token to a plain-HTTP server. ``kubectl get``
asks for ``as=Table``: pods, workloads, services, events and jobs answer with a Table.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from aiohttp import web

from tests.fakes.kube_controller import (
    API_VERSION_OF,
    KIND_OF,
    FakeCluster,
    Obj,
    WatchEvent,
    now_iso,
)
from tests.fakes.kube_job_admission import PROPAGATION_POLICIES, invalid_job
from tests.fakes.kube_jobs import JobController, JobScript
from tests.fakes.kube_protobuf import CONTENT_TYPE as PROTOBUF
from tests.fakes.kube_protobuf import ProtobufError, decode_job

GROUPS: dict[str, tuple[str, ...]] = {
    "v1": ("pods", "services", "events", "secrets"),
    "apps/v1": ("statefulsets", "deployments"),
    "batch/v1": ("jobs",),
}
SHORT_NAMES = {
    "pods": ["po"],
    "services": ["svc"],
    "events": ["ev"],
    "statefulsets": ["sts"],
    "deployments": ["deploy"],
}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
PATCH_TYPES = (
    "application/strategic-merge-patch+json",
    "application/merge-patch+json",
    "application/json-patch+json",
)
# Strategic merge: lists merged by key instead of replaced (the pod-template subset).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "conditions": "type",
}


class PatchError(Exception):
    """A patch the API server would refuse (422)."""


# ---------------------------------------------------------------- request log


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    query: Mapping[str, str]
    content_type: str
    at: float
    authorization: str | None
    user_agent: str


# ---------------------------------------------------------------- selectors

_REQUIREMENT = re.compile(
    r"\s*(?P<neg>!)?(?P<key>[A-Za-z0-9_./-]+)\s*"
    r"(?:(?P<op>==|!=|=|\s+in\s+|\s+notin\s+)\s*(?P<value>\([^)]*\)|[A-Za-z0-9_.-]*))?\s*$"
)


def label_selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy a Kubernetes label selector string."""
    for requirement in _split_selector(selector):
        match = _REQUIREMENT.match(requirement)
        if match is None:
            raise ValueError(f"unable to parse requirement: {requirement!r}")
        key, op, value = match["key"], (match["op"] or "").strip(), match["value"]
        if not op:
            if (key in labels) == bool(match["neg"]):
                return False
        elif op in ("=", "=="):
            if labels.get(key) != value:
                return False
        elif op == "!=":
            if labels.get(key) == value:
                return False
        else:
            values = {v.strip() for v in value.strip("()").split(",")}
            if (op == "in") != (labels.get(key) in values):
                return False
    return True


def _split_selector(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def field_selector_matches(selector: str, obj: Obj) -> bool:
    """Whether ``obj`` satisfies a field selector such as ``metadata.name=x,status.phase!=Running``."""
    for requirement in _split_selector(selector):
        negate = "!=" in requirement
        path, _, value = requirement.replace("!=", "=").replace("==", "=").partition("=")
        found: Any = obj
        for part in path.strip().split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if (str(found if found is not None else "") == value.strip()) == negate:
            return False
    return True


# ---------------------------------------------------------------- patches


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, ``null`` deletes, lists are replaced."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, field_name: str = "") -> Any:
    """Kubernetes strategic merge patch for pod specs: keyed lists merge element by element.

    Lists named in :data:`MERGE_KEYS` merge by their key (``$patch: delete`` removes an
    element); other lists are replaced. ``$patch: replace`` replaces a map, and
    ``$setElementOrder/…``, ``$retainKeys`` directives are accepted and ignored.
    """
    if isinstance(patch, list):
        key = MERGE_KEYS.get(field_name)
        if key is None or not isinstance(target, list):
            return [strategic_merge_patch(None, item) for item in patch]
        result = [copy.deepcopy(item) for item in target]
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                raise PatchError(f"map: {item} does not contain declared merge key: {key}")
            index = next((i for i, e in enumerate(result) if e.get(key) == item[key]), None)
            if item.get("$patch") == "delete":
                if index is not None:
                    result.pop(index)
            elif index is None:
                result.append(strategic_merge_patch(None, item))
            else:
                result[index] = strategic_merge_patch(result[index], item)
        return result
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value, key)
    return result


def json_patch(target: Any, operations: Sequence[Mapping[str, Any]]) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    doc = copy.deepcopy(target)

    def walk(path: str) -> tuple[Any, str | int]:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
        if not parts:
            raise PatchError("cannot patch the whole document")
        node = doc
        for part in parts[:-1]:
            try:
                node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, ValueError) as exc:
                raise PatchError(f"path {path!r} does not exist") from exc
        last = parts[-1]
        if isinstance(node, list):
            return node, len(node) if last == "-" else int(last)
        return node, last

    def get(path: str) -> Any:
        node, last = walk(path)
        try:
            return copy.deepcopy(node[last])
        except (KeyError, IndexError, TypeError) as exc:
            raise PatchError(f"path {path!r} does not exist") from exc

    def add(path: str, value: Any) -> None:
        node, last = walk(path)
        if isinstance(node, list):
            node.insert(int(last), value)
        else:
            node[last] = value

    def remove(path: str) -> None:
        node, last = walk(path)
        try:
            del node[last]
        except (KeyError, IndexError, TypeError) as exc:
            raise PatchError(f"path {path!r} does not exist") from exc

    for op in operations:
        kind, path = op.get("op"), str(op.get("path", ""))
        if kind == "add":
            add(path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            remove(path)
        elif kind == "replace":
            remove(path)
            add(path, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            value = get(str(op["from"]))
            if kind == "move":
                remove(str(op["from"]))
            add(path, value)
        elif kind == "test":
            if get(path) != op.get("value"):
                raise PatchError(f"test operation on {path!r} failed")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


def invalid_pod_template(workload: Obj) -> str | None:
    """What the API server's validation would say about a workload's pod template, if anything."""
    pod_spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod_spec.get("containers")
    if not containers:
        return "spec.template.spec.containers: Required value"
    for field in ("containers", "initContainers"):
        for index, container in enumerate(pod_spec.get(field) or ()):
            for required in ("name", "image"):
                if not isinstance(container, dict) or not container.get(required):
                    return f"spec.template.spec.{field}[{index}].{required}: Required value"
    return None


# ---------------------------------------------------------------- responses


def status_response(code: int, reason: str, message: str, **details: Any) -> web.Response:
    """A ``kind: Status`` failure body, as the API server sends for every error."""
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return web.json_response(body, status=code)


def _qualified(resource: str) -> str:
    """``jobs.batch``, ``pods``: how the API names a resource in its messages."""
    group = API_VERSION_OF[resource].rpartition("/")[0]
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str) -> web.Response:
    """The API's 404 for a named object."""
    group = API_VERSION_OF[resource].rpartition("/")[0]
    return status_response(
        404,
        "NotFound",
        f'{_qualified(resource)} "{name}" not found',
        name=name,
        group=group,
        kind=resource,
    )


def _age(stamp: str | None) -> str:
    if not stamp:
        return "<unknown>"
    created = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = max(int((datetime.now(UTC) - created).total_seconds()), 0)
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"


def _table_row(resource: str, obj: Obj) -> list[Any]:
    meta, status, spec = obj["metadata"], obj.get("status") or {}, obj.get("spec") or {}
    age = _age(meta.get("creationTimestamp"))
    if resource == "pods":
        statuses = status.get("containerStatuses") or []
        ready = sum(bool(s.get("ready")) for s in statuses)
        waiting = [
            s["state"]["waiting"]["reason"] for s in statuses if "waiting" in s.get("state", {})
        ]
        shown = waiting[0] if waiting else status.get("phase", "Unknown")
        restarts = sum(s.get("restartCount", 0) for s in statuses)
        return [meta["name"], f"{ready}/{len(statuses)}", shown, restarts, age]
    if resource in ("statefulsets", "deployments"):
        ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}"
        return [meta["name"], ready, age]
    if resource == "services":
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        external = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress) or (
            "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
        )
        ports = ",".join(f"{p['port']}/{p.get('protocol', 'TCP')}" for p in spec.get("ports", []))
        return [
            meta["name"],
            spec.get("type", "ClusterIP"),
            spec.get("clusterIP", ""),
            external,
            ports,
            age,
        ]
    if resource == "events":
        ref = obj["involvedObject"]
        return [
            _age(obj.get("lastTimestamp")),
            obj["type"],
            obj["reason"],
            f"{ref['kind'].lower()}/{ref['name']}",
            obj["message"],
        ]
    if resource == "secrets":
        return [meta["name"], obj.get("type", "Opaque"), len(obj.get("data") or {}), age]
    if resource == "jobs":
        return [
            meta["name"],
            _job_state(status),
            _job_completions(spec, status),
            _job_duration(status),
            age,
        ]
    return [meta["name"], age]


def _job_state(status: Obj) -> str:
    true = {c["type"] for c in status.get("conditions") or () if c.get("status") == "True"}
    for state in ("Complete", "Failed", "FailureTarget", "SuccessCriteriaMet"):
        if state in true:
            return {"FailureTarget": "FailureTarget", "SuccessCriteriaMet": "Complete"}.get(
                state, state
            )
    return "Running"


def _job_completions(spec: Obj, status: Obj) -> str:
    return f"{status.get('succeeded', 0)}/{spec.get('completions', 1)}"


def _job_duration(status: Obj) -> str:
    start = status.get("startTime")
    if not start:
        return ""
    begun = datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    end = status.get("completionTime")
    until = (
        datetime.strptime(end, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if end
        else datetime.now(UTC)
    )
    return f"{max(int((until - begun).total_seconds()), 0)}s"


TABLE_COLUMNS = {
    "pods": ["Name", "Ready", "Status", "Restarts", "Age"],
    "statefulsets": ["Name", "Ready", "Age"],
    "deployments": ["Name", "Ready", "Age"],
    "services": ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"],
    "events": ["Last Seen", "Type", "Reason", "Object", "Message"],
    "jobs": ["Name", "Status", "Completions", "Duration", "Age"],
    "secrets": ["Name", "Type", "Data", "Age"],
}


def as_table(resource: str, objects: list[Obj], resource_version: int) -> Obj:
    """A ``meta.k8s.io/v1`` Table of ``objects``, what ``kubectl get`` prints."""
    columns = [
        {
            "name": name,
            "type": "integer" if name == "Restarts" else "string",
            "format": "name" if name == "Name" else "",
            "description": name,
            "priority": 0,
        }
        for name in TABLE_COLUMNS[resource]
    ]
    rows = [
        {
            "cells": _table_row(resource, obj),
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            },
        }
        for obj in objects
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": str(resource_version)},
        "columnDefinitions": columns,
        "rows": rows,
    }


# ---------------------------------------------------------------- the server


class KubeFake:
    """The fake API server: start it with ``async with``; state lives in :attr:`cluster`."""

    def __init__(
        self,
        *,
        ready_delay: float = 0.02,
        crash_interval: float | None = None,
        history_limit: int = 10_000,
        progress_deadline_scale: float = 1.0,
        termination_delay: float = 0.0,
        token: str = "fake-kube-token",
        allow_anonymous: bool = True,
        job_backoff: float = 0.02,
        job_time_scale: float = 1.0,
    ) -> None:
        self.cluster = FakeCluster(
            ready_delay=ready_delay,
            crash_interval=crash_interval,
            history_limit=history_limit,
            progress_deadline_scale=progress_deadline_scale,
            termination_delay=termination_delay,
        )
        self.jobs = JobController(self.cluster, backoff=job_backoff, time_scale=job_time_scale)
        """Runs Jobs: ``job_backoff`` seconds before the first retry (doubling after),
        ``activeDeadlineSeconds`` and ``ttlSecondsAfterFinished`` times ``job_time_scale``."""
        self.token = token
        self.allow_anonymous = allow_anonymous
        self.requests: list[RecordedRequest] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self.open_watches = 0
        """Watch streams currently open."""
        self.forbidden: set[tuple[str, str]] = set()
        """(verb, resource) pairs the client's service account lacks, e.g. ``("delete",
        "pods")``: such requests get RBAC's 403 Forbidden."""

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> KubeFake:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/version", self._version)
        app.router.add_get("/api", self._core_versions)
        app.router.add_get("/apis", self._group_list)
        app.router.add_get("/api/v1", self._resource_list)
        app.router.add_get("/apis/{group}/{version}", self._resource_list)
        for prefix in ("/api/{version}", "/apis/{group}/{version}"):
            app.router.add_route(
                "*", prefix + "/namespaces/{namespace}/{resource}", self._collection
            )
            app.router.add_route(
                "*", prefix + "/namespaces/{namespace}/{resource}/{name}", self._item
            )
            app.router.add_get(prefix + "/{resource}", self._collection)
        app.router.add_get("/api/v1/namespaces/{namespace}/pods/{name}/log", self._pod_log)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cluster.close()
        self.cluster.drop_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def write_kubeconfig(self, path: str | Path, *, namespace: str = "default") -> Path:
        """Write a kubeconfig (context ``fake``) that kubernetes-asyncio and kubectl both accept."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "fake",
                    "context": {"cluster": "fake", "user": "fake", "namespace": namespace},
                }
            ],
            "current-context": "fake",
            "preferences": {},
        }
        target = Path(path)
        target.write_text(yaml.safe_dump(config), encoding="utf-8")
        return target

    # ------------------------------------------------------------ test controls

    @property
    def bad_images(self) -> dict[str, str]:
        """image -> ``"CrashLoopBackOff"`` | ``"ImagePullBackOff"``: how its pods fail."""
        return self.cluster.bad_images

    def add_statefulset(
        self,
        name: str,
        *,
        namespace: str = "default",
        replicas: int = 1,
        containers: Mapping[str, str],
        init_containers: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        partition: int | None = None,
        ready: bool = True,
        pod_management_policy: str = "OrderedReady",
    ) -> Obj:
        """Create a StatefulSet (its pods are created at once and Ready when ``ready``);
        ``pod_management_policy`` is ``"OrderedReady"`` (the API's default) or ``"Parallel"``."""
        spec: Obj = {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": pod_management_policy,
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"partition": partition or 0},
            },
        }
        return self._add_workload(
            "statefulsets", name, namespace, spec, containers, init_containers, labels, ready
        )

    def add_deployment(
        self,
        name: str,
        *,
        namespace: str = "default",
        replicas: int = 1,
        containers: Mapping[str, str],
        init_containers: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        progress_deadline_seconds: int = 600,
        ready: bool = True,
    ) -> Obj:
        """Create a Deployment (its pods are created at once and Ready when ``ready``)."""
        spec: Obj = {
            "replicas": replicas,
            "progressDeadlineSeconds": progress_deadline_seconds,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
        }
        return self._add_workload(
            "deployments", name, namespace, spec, containers, init_containers, labels, ready
        )

    def _add_workload(
        self,
        resource: str,
        name: str,
        namespace: str,
        spec: Obj,
        containers: Mapping[str, str],
        init_containers: Mapping[str, str] | None,
        labels: Mapping[str, str] | None,
        ready: bool,
    ) -> Obj:
        match = dict(labels or {"app": name})
        pod_spec: Obj = {
            "containers": [
                {"name": c, "image": i, "imagePullPolicy": "IfNotPresent"}
                for c, i in containers.items()
            ]
        }
        if init_containers:
            pod_spec["initContainers"] = [
                {"name": c, "image": i} for c, i in init_containers.items()
            ]
        spec.update(
            selector={"matchLabels": match},
            template={"metadata": {"labels": match}, "spec": pod_spec},
        )
        obj = {
            "metadata": {"name": name, "namespace": namespace, "labels": dict(match)},
            "spec": spec,
        }
        if not ready:
            return self.cluster.put(resource, obj)
        return self.cluster.bring_up(resource, obj)

    def add_service(
        self,
        name: str,
        *,
        namespace: str = "default",
        type_: str = "LoadBalancer",
        ports: Sequence[tuple[int, str, str]] = ((8545, "TCP", "http"),),
        selector: Mapping[str, str] | None = None,
    ) -> Obj:
        """Create a Service; ports are ``(port, protocol, name)``; LoadBalancers start pending."""
        spec: Obj = {
            "type": type_,
            "clusterIP": f"10.96.0.{len(self.cluster.objects['services']) + 10}",
            "selector": dict(selector or {"app": name}),
            "ports": [
                {
                    "name": n,
                    "port": p,
                    "protocol": proto,
                    "targetPort": p,
                    **(
                        {"nodePort": 30000 + p % 2768}
                        if type_ in ("LoadBalancer", "NodePort")
                        else {}
                    ),
                }
                for p, proto, n in ports
            ],
        }
        obj = {
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
            "status": {"loadBalancer": {}},
        }
        return self.cluster.put("services", obj)

    def set_load_balancer_ingress(
        self,
        name: str,
        *,
        namespace: str = "default",
        ip: str | None = None,
        hostname: str | None = None,
    ) -> None:
        """Give a LoadBalancer Service its external address (what a cloud controller does)."""
        svc = self.cluster.get("services", namespace, name)
        assert svc is not None, f"no service {namespace}/{name}"
        entry = {"ip": ip} if ip else {"hostname": hostname}
        svc["status"] = {"loadBalancer": {"ingress": [entry]}}
        self.cluster.put("services", svc)

    def set_logs(
        self,
        pod: str,
        text: str,
        *,
        namespace: str = "default",
        container: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Replace a pod's log (``container=None``: for every container) with ``text``."""
        self.cluster.logs.pop((namespace, pod, container), None)
        self.cluster.add_log(pod, text, namespace=namespace, container=container, at=at)

    def add_logs(
        self,
        pod: str,
        text: str,
        *,
        namespace: str = "default",
        container: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Append lines written at ``at`` (default now) to a pod's log."""
        self.cluster.add_log(pod, text, namespace=namespace, container=container, at=at)

    def add_secret(self, name: str, data: Mapping[str, str], *, namespace: str = "default") -> Obj:
        """Create an Opaque Secret holding ``data`` (stored base64-encoded, as the API does)."""
        obj = {
            "metadata": {"name": name, "namespace": namespace},
            "type": "Opaque",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
        return self.cluster.put("secrets", obj)

    def script_job(self, key: str, *runs: JobScript) -> None:
        """Containers of Jobs whose image, or one of whose command/args items, is ``key``
        run ``runs`` in turn (one per attempt; the last repeats). Default: exit 0 at once."""
        self.jobs.script(key, *runs)

    def job(self, name: str, namespace: str = "default") -> Obj:
        """The stored Job (raises KeyError when absent)."""
        obj = self.cluster.get("jobs", namespace, name)
        if obj is None:
            raise KeyError(f"Job {namespace}/{name}")
        return obj

    def job_pods(self, name: str, namespace: str = "default") -> list[Obj]:
        """The pods labelled as belonging to the Job ``name``, oldest first."""
        pods = self.pods(namespace, f"batch.kubernetes.io/job-name={name}")
        created = {
            e.object["metadata"]["uid"]: e.resource_version
            for e in self.cluster.history
            if e.resource == "pods" and e.type == "ADDED"
        }
        return sorted(pods, key=lambda p: created.get(p["metadata"]["uid"], 0))

    def drop_watches(self) -> int:
        """Close every open watch stream cleanly; returns how many were open."""
        return self.cluster.drop_watches()

    def compact(self) -> None:
        """Forget the watch history, so resuming any watch gets 410 Gone."""
        self.cluster.compact()

    def pause(self) -> None:
        """Freeze the controllers (pods stop changing) until :meth:`resume`."""
        self.cluster.pause()

    def resume(self) -> None:
        """Let the controllers catch up with everything that came due while paused."""
        self.cluster.resume()

    def pods(self, namespace: str = "default", selector: str = "") -> list[Obj]:
        """Stored pods of ``namespace`` matching the label ``selector``."""
        return [
            p
            for p in self.cluster.items("pods", namespace)
            if label_selector_matches(selector, p["metadata"].get("labels", {}))
        ]

    def workload(self, kind: str, name: str, namespace: str = "default") -> Obj:
        """The stored StatefulSet or Deployment (raises KeyError when absent)."""
        resource = {"StatefulSet": "statefulsets", "Deployment": "deployments"}[kind]
        obj = self.cluster.get(resource, namespace, name)
        if obj is None:
            raise KeyError(f"{kind} {namespace}/{name}")
        return obj

    def count(self, method: str, path: str) -> int:
        """How many ``method`` requests hit exactly ``path`` (query string ignored)."""
        return sum(r.method == method and r.path == path for r in self.requests)

    def deletes(self) -> list[str]:
        """The paths of every DELETE request received, oldest first (the fake's DELETE log)."""
        return [r.path for r in self.requests if r.method == "DELETE"]

    def watch_requests(self, path: str) -> list[RecordedRequest]:
        """The watch requests made on the collection ``path``, oldest first."""
        return [r for r in self.requests if r.path == path and _is_watch(r.query)]

    async def wait_until(self, predicate: Any, timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` is true, re-checked on every watch event; fail at ``timeout``."""
        deadline = time.monotonic() + timeout
        subs = [self.cluster.subscribe(r) for r in KIND_OF]
        try:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout}s")
                waits = [asyncio.ensure_future(s.queue.get()) for s in subs]
                _done, pending = await asyncio.wait(
                    waits, timeout=min(remaining, 0.05), return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        finally:
            for sub in subs:
                self.cluster.unsubscribe(sub)

    # ------------------------------------------------------------ middleware and discovery

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(
                request.method,
                request.path,
                dict(request.query),
                request.content_type,
                time.monotonic(),
                request.headers.get("Authorization"),
                request.headers.get("User-Agent", ""),
            )
        )
        authorization = request.headers.get("Authorization")
        if authorization is None and self.allow_anonymous:
            return await handler(request)
        if authorization != f"Bearer {self.token}":
            return status_response(401, "Unauthorized", "Unauthorized")
        return await handler(request)

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "major": "1",
                "minor": "32",
                "gitVersion": "v1.32.0-fake",
                "gitCommit": "0" * 40,
                "gitTreeState": "clean",
                "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.23",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        )

    async def _core_versions(self, request: web.Request) -> web.Response:
        host = request.host
        return web.json_response(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
            }
        )

    async def _group_list(self, request: web.Request) -> web.Response:
        groups = []
        for group_version in GROUPS:
            if "/" not in group_version:
                continue
            group, version = group_version.split("/")
            entry = {"groupVersion": group_version, "version": version}
            groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    async def _resource_list(self, request: web.Request) -> web.Response:
        group = request.match_info.get("group")
        group_version = f"{group}/{request.match_info['version']}" if group else "v1"
        if group_version not in GROUPS:
            return status_response(
                404, "NotFound", "the server could not find the requested resource"
            )
        resources = []
        for resource in GROUPS[group_version]:
            resources.append(
                {
                    "name": resource,
                    "singularName": KIND_OF[resource].lower(),
                    "namespaced": True,
                    "kind": KIND_OF[resource],
                    "verbs": VERBS,
                    "shortNames": SHORT_NAMES.get(resource, []),
                }
            )
            if resource in ("statefulsets", "deployments", "jobs"):
                resources.append(
                    {
                        "name": f"{resource}/status",
                        "singularName": "",
                        "namespaced": True,
                        "kind": KIND_OF[resource],
                        "verbs": ["get", "patch", "update"],
                    }
                )
        if group_version == "v1":
            resources.append(
                {
                    "name": "pods/log",
                    "singularName": "",
                    "namespaced": True,
                    "kind": "Pod",
                    "verbs": ["get"],
                }
            )
        return web.json_response(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": group_version,
                "resources": resources,
            }
        )

    # ------------------------------------------------------------ resources

    def _resource(self, request: web.Request) -> str | None:
        group = request.match_info.get("group")
        group_version = (
            f"{group}/{request.match_info['version']}" if group else request.match_info["version"]
        )
        resource = request.match_info["resource"]
        return resource if resource in GROUPS.get(group_version, ()) else None

    async def _collection(self, request: web.Request) -> web.StreamResponse:
        resource = self._resource(request)
        if resource is None:
            return status_response(
                404, "NotFound", "the server could not find the requested resource"
            )
        namespace = request.match_info.get("namespace")
        if request.method == "POST":
            return await self._create(request, resource, namespace or "default")
        if request.method != "GET":
            return status_response(405, "MethodNotAllowed", f"{request.method} is not supported")
        try:
            matches = _matcher(request.query)
            objects = [o for o in self.cluster.items(resource, namespace) if matches(o)]
        except ValueError as exc:
            return status_response(400, "BadRequest", str(exc))
        if _is_watch(request.query):
            return await self._watch(request, resource, namespace, matches)
        rv = self.cluster.resource_version
        if "as=Table" in request.headers.get("Accept", ""):
            return web.json_response(as_table(resource, objects, rv))
        body = {
            "kind": f"{KIND_OF[resource]}List",
            "apiVersion": API_VERSION_OF[resource],
            "metadata": {"resourceVersion": str(rv)},
            "items": objects,
        }
        return web.json_response(body)

    async def _create(self, request: web.Request, resource: str, namespace: str) -> web.Response:
        try:
            if request.content_type == PROTOBUF and resource == "jobs":  # kubectl create job
                obj = decode_job(await request.read())
            elif request.content_type in ("application/json", ""):
                obj = await request.json()
            else:
                accepted = "application/json" + (f", {PROTOBUF}" if resource == "jobs" else "")
                return status_response(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {accepted}",
                )
        except ProtobufError as exc:
            return status_response(400, "BadRequest", f"cannot decode the protobuf body: {exc}")
        except ValueError:
            return status_response(400, "BadRequest", "request body is not JSON")
        if not isinstance(obj, dict):
            return status_response(400, "BadRequest", "request body is not a JSON object")
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            return status_response(
                400, "BadRequest", f"{KIND_OF[resource]} metadata must be an object"
            )
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + hex(self.cluster.resource_version)[2:]
        if not meta.get("name"):
            return status_response(
                422, "Invalid", f"{KIND_OF[resource]} is invalid: metadata.name: Required value"
            )
        meta["namespace"] = namespace
        if resource == "jobs":
            causes = invalid_job(obj)
            if causes:
                shown = causes[0] if len(causes) == 1 else "[" + ", ".join(causes) + "]"
                return status_response(
                    422,
                    "Invalid",
                    f'Job.batch "{meta["name"]}" is invalid: {shown}',
                    name=meta["name"],
                    group="batch",
                    kind="Job",
                    causes=[{"message": c} for c in causes],
                )
        if self.cluster.get(resource, namespace, meta["name"]) is not None:
            return status_response(
                409,
                "AlreadyExists",
                f'{_qualified(resource)} "{meta["name"]}" already exists',
                name=meta["name"],
                group=API_VERSION_OF[resource].rpartition("/")[0],
                kind=resource,
            )
        for field in ("resourceVersion", "uid", "creationTimestamp", "generation"):
            meta.pop(field, None)
        obj.pop("status", None)
        if resource == "jobs":
            self.jobs.admit(obj)
        stored = self.cluster.put(resource, obj)
        return web.json_response(stored, status=201)

    async def _item(self, request: web.Request) -> web.StreamResponse:
        resource = self._resource(request)
        if resource is None:
            return status_response(
                404, "NotFound", "the server could not find the requested resource"
            )
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        obj = self.cluster.get(resource, namespace, name)
        if obj is None:
            return not_found(resource, name)
        if request.method == "GET":
            if "as=Table" in request.headers.get("Accept", ""):
                return web.json_response(as_table(resource, [obj], self.cluster.resource_version))
            return web.json_response(obj)
        if request.method == "PATCH":
            return await self._patch(request, resource, obj)
        if request.method == "DELETE" and resource in ("pods", "jobs", "services"):
            if ("delete", resource) in self.forbidden:
                return _forbidden("delete", resource, name, namespace)
            return await self._delete(request, resource, obj)
        return status_response(405, "MethodNotAllowed", f"{request.method} is not supported here")

    async def _delete(self, request: web.Request, resource: str, obj: Obj) -> web.Response:
        """DELETE with optional ``DeleteOptions``: a ``preconditions`` uid or
        resourceVersion that does not match the stored object is a 409 Conflict and
        deletes nothing, as the API server answers."""
        meta = obj["metadata"]
        options: Any = {}
        if request.can_read_body:
            try:
                options = json.loads(await request.text() or "{}")
            except json.JSONDecodeError:
                return status_response(400, "BadRequest", "request body is not JSON")
        preconditions = (options.get("preconditions") if isinstance(options, dict) else None) or {}
        for field, key in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            wanted = preconditions.get(field)
            if wanted is not None and wanted != meta.get(field):
                return status_response(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {resource} "{meta["name"]}": '
                    f"Precondition failed: {key} in precondition: {wanted}, "
                    f"{key} in object meta: {meta.get(field)}",
                    name=meta["name"],
                    kind=resource,
                )
        if resource == "jobs":
            # batch/v1 keeps the old default for Jobs deleted through the REST API: orphan
            policy = (
                request.query.get("propagationPolicy")
                or (options.get("propagationPolicy") if isinstance(options, dict) else None)
                or "Orphan"
            )
            if policy not in PROPAGATION_POLICIES:
                return status_response(
                    422,
                    "Invalid",
                    f'DeleteOptions.meta.k8s.io "{meta["name"]}" is invalid: propagationPolicy: '
                    f'Unsupported value: "{policy}": supported values: "Foreground", '
                    '"Background", "Orphan"',
                )
            return web.json_response(self.jobs.delete(meta["namespace"], meta["name"], policy))
        deleted = self.cluster.delete(resource, meta["namespace"], meta["name"])
        return web.json_response(deleted)

    async def _patch(self, request: web.Request, resource: str, obj: Obj) -> web.Response:
        content_type = request.content_type
        if content_type not in PATCH_TYPES:
            return status_response(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: {', '.join(PATCH_TYPES)}",
            )
        try:
            patch = json.loads(await request.text())
            if content_type == "application/json-patch+json":
                patched = json_patch(obj, patch)
            elif content_type == "application/merge-patch+json":
                patched = merge_patch(obj, patch)
            else:
                patched = strategic_merge_patch(obj, patch)
        except (PatchError, json.JSONDecodeError, ValueError, TypeError) as exc:
            kind, name = KIND_OF[resource], obj["metadata"]["name"]
            return status_response(
                422, "Invalid", f'{kind}.{API_VERSION_OF[resource]} "{name}" is invalid: {exc}'
            )
        problem = (
            invalid_pod_template(patched) if resource in ("statefulsets", "deployments") else None
        )
        if resource == "jobs" and (patched.get("spec") or {}).get("template") != obj["spec"].get(
            "template"
        ):
            problem = "spec.template: Invalid value: the pod template: field is immutable"
        if problem is not None:
            kind, name = KIND_OF[resource], obj["metadata"]["name"]
            return status_response(
                422, "Invalid", f'{kind}.{API_VERSION_OF[resource]} "{name}" is invalid: {problem}'
            )
        meta, new_meta = obj["metadata"], patched.setdefault("metadata", {})
        for field in ("name", "namespace", "uid", "creationTimestamp"):
            new_meta[field] = meta[field]
        patched["status"] = obj.get("status", {})
        if patched.get("spec") != obj.get("spec") and "generation" in meta:
            new_meta["generation"] = meta["generation"] + 1
        obj.clear()
        obj.update(patched)
        self.cluster.put(resource, obj)
        return web.json_response(obj)

    async def _watch(
        self, request: web.Request, resource: str, namespace: str | None, matches: Any
    ) -> web.StreamResponse:
        sub = self.cluster.subscribe(resource)
        opened = False
        try:
            since = request.query.get("resourceVersion", "")
            gone = False
            if since in ("", "0"):
                backlog = [
                    WatchEvent(self.cluster.resource_version, resource, "ADDED", copy.deepcopy(o))
                    for o in self.cluster.items(resource, namespace)
                ]
            else:
                replay = self.cluster.events_since(resource, int(since))
                gone = replay is None
                backlog = replay or []
            response = web.StreamResponse(
                headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
            )
            await response.prepare(request)
            self.open_watches += 1
            opened = True
            if gone:
                error = {
                    "type": "ERROR",
                    "object": {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Failure",
                        "message": f"too old resource version: {since} ({self.cluster.compacted_rv})",
                        "reason": "Expired",
                        "code": 410,
                    },
                }
                await response.write(json.dumps(error).encode() + b"\n")
                return response
            timeout = float(request.query.get("timeoutSeconds", "1800") or 1800)
            with contextlib.suppress(TimeoutError, ConnectionResetError):
                async with asyncio.timeout(timeout):
                    for event in backlog:
                        await self._send(response, event, namespace, matches)
                    while True:
                        event = await sub.queue.get()
                        if event is None:
                            break
                        await self._send(response, event, namespace, matches)
            return response
        finally:
            self.cluster.unsubscribe(sub)
            self.open_watches -= opened

    async def _send(
        self, response: web.StreamResponse, event: WatchEvent, namespace: str | None, matches: Any
    ) -> None:
        obj = event.object
        if namespace is not None and obj["metadata"]["namespace"] != namespace:
            return
        if not matches(obj):
            return
        await response.write(json.dumps({"type": event.type, "object": obj}).encode() + b"\n")

    async def _pod_log(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        pod = self.cluster.get("pods", namespace, name)
        if pod is None:
            return not_found("pods", name)
        names = [c["name"] for c in pod["spec"]["containers"]]
        container = request.query.get("container")
        if container is None:
            if len(names) > 1:
                return status_response(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]",
                )
            container = names[0]
        if container not in names:
            return status_response(
                400, "BadRequest", f"container {container} is not valid for pod {name}"
            )
        index = names.index(container)
        state = pod["status"]["containerStatuses"][index]["state"]
        if "waiting" in state and state["waiting"]["reason"] in (
            "ContainerCreating",
            "ErrImagePull",
            "ImagePullBackOff",
            "CreateContainerConfigError",
        ):
            return status_response(
                400,
                "BadRequest",
                f'container "{container}" in pod "{name}" is waiting to start: {state["waiting"]["reason"]}',
            )
        lines = self.cluster.log_lines(namespace, pod, container)
        try:
            if "sinceSeconds" in request.query:
                cutoff = datetime.now(UTC) - timedelta(seconds=int(request.query["sinceSeconds"]))
                lines = [line for line in lines if line.at >= cutoff]
            if "tailLines" in request.query:
                tail = int(request.query["tailLines"])
                lines = lines[-tail:] if tail > 0 else []
        except ValueError as exc:
            return status_response(400, "BadRequest", str(exc))
        stamps = request.query.get("timestamps") in ("true", "True", "1")
        text = "".join(
            (f"{line.at.strftime('%Y-%m-%dT%H:%M:%S.%f000Z')} " if stamps else "")
            + line.text
            + "\n"
            for line in lines
        )
        return web.Response(text=text, content_type="text/plain")


def _forbidden(verb: str, resource: str, name: str, namespace: str) -> web.Response:
    """RBAC's answer to a request the service account has no rule for."""
    group = API_VERSION_OF[resource].rpartition("/")[0]
    return status_response(
        403,
        "Forbidden",
        f'{resource} "{name}" is forbidden: User "system:serviceaccount:testnet-bot:testnet-bot" '
        f'cannot {verb} resource "{resource}" in API group "{group}" in the namespace '
        f'"{namespace}"',
        name=name,
        kind=resource,
    )


def _is_watch(query: Mapping[str, str]) -> bool:
    return query.get("watch", "").lower() in ("true", "1")


def _matcher(query: Mapping[str, str]) -> Any:
    labels, fields = query.get("labelSelector", ""), query.get("fieldSelector", "")
    label_selector_matches(labels, {})  # validate early: raises ValueError
    return lambda obj: (
        label_selector_matches(labels, obj["metadata"].get("labels") or {})
        and (not fields or field_selector_matches(fields, obj))
    )


__all__ = ["KubeFake", "RecordedRequest", "now_iso"]
