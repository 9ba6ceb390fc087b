"""Kubernetes behind a small typed wrapper: workloads, rollouts, pods, logs, services, jobs.

This is the only module that imports kubernetes_asyncio. Callers get the frozen
dataclasses of :mod:`integrations.kube_models` and one error type, :class:`KubeError`
(HTTP status, API reason and a message fit to show a user)::

    async with KubeClient.from_kubeconfig(path, context="alpha") as kube:
        changes = await kube.set_image("alpha", "StatefulSet", "validator", "org/node", "0.62.0")
        async with kube.watch_rollout("alpha", "StatefulSet", "validator", timeout=900) as rollout:
            async for progress in rollout:
                ...  # the last snapshot has done=True, or failure set

Rollouts are followed with the watch API on the workload and on its pods (never by
polling); a watch the server closes is resumed from the last resourceVersion seen, and
one that answers 410 Gone is re-listed. Jobs are followed the same way, by name, so a
restarted process re-attaches to a Job that is still running::

    await kube.create_job("alpha", JobSpec(name="add-validator-1a2b", image=..., args=...))
    job = await kube.watch_job("alpha", "add-validator-1a2b", timeout=600)
    if job.failure:
        tail = await kube.job_logs("alpha", job.name, tail=20)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any, Self, cast

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from integrations.kube_models import (
    WORKLOAD_KINDS,
    ContainerImage,
    Event,
    Job,
    JobSpec,
    JsonObj,
    KubeError,
    Pod,
    RolloutProgress,
    Service,
    Workload,
    WorkloadKind,
    event_from_json,
    image_reference,
    job_from_json,
    pod_from_json,
    rollout_progress,
    same_repository,
    selector_matches,
    selector_string,
    service_from_json,
    split_image,
    workload_from_json,
)

__all__ = [
    "ContainerImage",
    "Event",
    "Job",
    "JobSpec",
    "KubeClient",
    "KubeError",
    "Pod",
    "RolloutProgress",
    "RolloutWatch",
    "Service",
    "Workload",
    "default_kubeconfig_paths",
]

log = logging.getLogger(__name__)

DEFAULT_REQUEST_TIMEOUT = 30.0
WATCH_SERVER_TIMEOUT = 300
"""Seconds the server keeps one watch request open; the watch then resumes."""
MAX_WATCH_FAILURES = 5
"""Consecutive failures to (re)open a watch before the rollout watch gives up."""
_TAG = re.compile(r"^(sha256:[0-9a-f]{64}|[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$")
_ANY_ERROR = (ApiException, aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError)


def default_kubeconfig_paths() -> list[str]:
    """The files kubernetes-asyncio reads when no kubeconfig is named: each entry of
    ``$KUBECONFIG``, else ``~/.kube/config`` (as seen when this module was imported)."""
    location = k8s_config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    separator = k8s_config.kube_config.ENV_KUBECONFIG_PATH_SEPARATOR
    return [os.path.expanduser(p) for p in location.split(separator) if p]


def _api_error(exc: BaseException, what: str) -> KubeError:
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiException):
        status, reason, message = exc.status, exc.reason, None
        try:
            body = json.loads(exc.body) if exc.body else {}
            message, reason = body.get("message"), body.get("reason") or reason
        except (TypeError, ValueError):
            message = str(exc.body or "") or None
        return KubeError(f"{what}: {message or reason or 'error'}", status=status, reason=reason)
    return KubeError(f"{what}: cannot reach the Kubernetes API ({type(exc).__name__}: {exc})")


class KubeClient:
    """A connection to one cluster; opens and closes its own API client.

    Build it with :meth:`from_kubeconfig` or :meth:`in_cluster` and enter it with
    ``async with``; every method needs it entered.
    """

    def __init__(
        self,
        configure: Callable[[k8s.Configuration], Awaitable[None]],
        *,
        description: str,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        self._configure = configure
        self.description = description
        self.request_timeout = request_timeout
        self._api: k8s.ApiClient | None = None

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        context: str | None = None,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> KubeClient:
        """A client for ``context`` (default: the current one) of a kubeconfig file."""

        async def configure(configuration: k8s.Configuration) -> None:
            await k8s_config.load_kube_config(
                config_file=None if path is None else os.fspath(path),
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )

        where = f"kubeconfig {path or '~/.kube/config'}" + (
            f" context {context}" if context else ""
        )
        return cls(configure, description=where, request_timeout=request_timeout)

    @classmethod
    def in_cluster(cls, *, request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> KubeClient:
        """A client using the pod's service account (token and CA mounted by Kubernetes)."""

        async def configure(configuration: k8s.Configuration) -> None:
            k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )

        return cls(configure, description="in-cluster config", request_timeout=request_timeout)

    async def __aenter__(self) -> Self:
        configuration = k8s.Configuration()
        try:
            await self._configure(configuration)
        except (ConfigException, OSError, KeyError, TypeError, ValueError) as exc:
            raise KubeError(f"cannot load {self.description}: {exc}") from exc
        self._api = k8s.ApiClient(configuration)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._api is not None:
            await self._api.close()
            self._api = None

    # ------------------------------------------------------------ plumbing

    @property
    def _client(self) -> k8s.ApiClient:
        if self._api is None:
            raise RuntimeError("KubeClient used outside `async with`")
        return self._api

    def _core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self._client)

    def _apps(self) -> k8s.AppsV1Api:
        return k8s.AppsV1Api(self._client)

    def _batch(self) -> k8s.BatchV1Api:
        return k8s.BatchV1Api(self._client)

    async def _json(self, what: str, call: Awaitable[Any]) -> Any:
        """Await an SDK call; its model back as the API's JSON (camelCase dicts)."""
        try:
            result = await call
        except _ANY_ERROR as exc:
            raise _api_error(exc, what) from exc
        return self._client.sanitize_for_serialization(result)

    def _workload_api(self, kind: str) -> tuple[Callable[..., Any], ...]:
        """(read, list, patch) SDK methods of a workload kind."""
        apps = self._apps()
        if _kind(kind) == "StatefulSet":
            return (
                apps.read_namespaced_stateful_set,
                apps.list_namespaced_stateful_set,
                apps.patch_namespaced_stateful_set,
            )
        return (
            apps.read_namespaced_deployment,
            apps.list_namespaced_deployment,
            apps.patch_namespaced_deployment,
        )

    async def _workload_json(self, namespace: str, kind: str, name: str) -> JsonObj:
        kind = _kind(kind)
        return await self._read_json(self._workload_api(kind)[0], kind, namespace, name)

    async def _read_json(
        self, read: Callable[..., Awaitable[Any]], kind: str, namespace: str, name: str
    ) -> JsonObj:
        """One object as JSON; a missing one is a 404 :class:`KubeError` naming it."""
        try:
            result = await read(name, namespace, _request_timeout=self.request_timeout)
        except ApiException as exc:
            if exc.status == 404:
                raise KubeError(
                    f"{kind} {name} not found in namespace {namespace}",
                    status=404,
                    reason="NotFound",
                ) from exc
            raise _api_error(exc, f"reading {kind} {namespace}/{name}") from exc
        except _ANY_ERROR as exc:
            raise _api_error(exc, f"reading {kind} {namespace}/{name}") from exc
        body: JsonObj = self._client.sanitize_for_serialization(result)
        return body

    async def _patch_workload(
        self, namespace: str, kind: str, name: str, body: JsonObj
    ) -> Workload:
        patch = self._workload_api(kind)[2]
        what = f"patching {kind} {namespace}/{name}"
        raw = await self._json(
            what, patch(name, namespace, body, _request_timeout=self.request_timeout)
        )
        return workload_from_json(_kind(kind), raw)

    # ------------------------------------------------------------ workloads

    async def list_workloads(
        self,
        namespace: str,
        selector: str | Mapping[str, str] | None = None,
        kinds: Sequence[str] = ("StatefulSet", "Deployment"),
    ) -> list[Workload]:
        """Workloads of ``kinds`` matching the label ``selector``: in ``kinds`` order, by name.

        A workload matches when its own labels or its pod template's labels satisfy the
        selector: Helm charts (the aztec-network chart among them) often put the
        ``app=`` label on the pods only, and a selector names the pods a workload runs.
        """
        found: list[Workload] = []
        for kind in kinds:
            listing = self._workload_api(kind)[1]
            raw = await self._json(
                f"listing {kind}s in {namespace}",
                listing(namespace, _request_timeout=self.request_timeout),
            )
            items = sorted(raw.get("items") or [], key=lambda o: o["metadata"]["name"])
            try:
                matching = [
                    item
                    for item in items
                    if selector_matches(selector, item["metadata"].get("labels") or {})
                    or selector_matches(selector, _template_labels(item))
                ]
            except ValueError as exc:
                raise KubeError(f"listing {kind}s in {namespace}: {exc}") from None
            found.extend(workload_from_json(_kind(kind), item) for item in matching)
        return found

    async def get_workload(self, namespace: str, kind: str, name: str) -> Workload:
        """One StatefulSet or Deployment; KubeError(status=404) names it when it is missing."""
        return workload_from_json(_kind(kind), await self._workload_json(namespace, kind, name))

    async def set_image(
        self, namespace: str, kind: str, name: str, repository: str, tag: str
    ) -> dict[str, tuple[str, str]]:
        """Point every container (and init container) running ``repository`` at ``tag``.

        Only those containers change, by name, with one strategic-merge patch of the pod
        template; sidecars running other images are untouched. Returns container name →
        (old image, new image), including containers already at ``tag`` (no patch is
        sent when nothing changes). KubeError when no container runs ``repository``.
        """
        kind = _kind(kind)
        if not _TAG.match(tag):
            raise ValueError(f"not a valid image tag: {tag!r}")
        raw = await self._workload_json(namespace, kind, name)
        pod_spec = raw["spec"]["template"]["spec"]
        changes: dict[str, tuple[str, str]] = {}
        patch: dict[str, list[dict[str, str]]] = {}
        for field in ("containers", "initContainers"):
            for container in pod_spec.get(field) or ():
                old = container.get("image") or ""
                if not same_repository(old, repository):
                    continue
                new = image_reference(split_image(old)[0], tag)
                changes[container["name"]] = (old, new)
                if new != old:
                    patch.setdefault(field, []).append({"name": container["name"], "image": new})
        if not changes:
            running = ", ".join(
                f"{c['name']}={c.get('image')}" for c in pod_spec.get("containers") or ()
            )
            raise KubeError(
                f"no container of {kind} {namespace}/{name} runs {repository} "
                f"(containers: {running})",
                status=None,
                reason="NoMatchingContainer",
            )
        if patch:
            await self._patch_workload(
                namespace, kind, name, {"spec": {"template": {"spec": patch}}}
            )
        return changes

    async def set_images(
        self, namespace: str, kind: str, name: str, images: Mapping[str, str]
    ) -> dict[str, tuple[str, str]]:
        """Set containers (or init containers), by name, to exactly these images (rollback).

        Returns container name → (old image, new image). KubeError, with nothing
        changed, when a named container does not exist.
        """
        kind = _kind(kind)
        raw = await self._workload_json(namespace, kind, name)
        pod_spec = raw["spec"]["template"]["spec"]
        where = {
            c["name"]: (field, c.get("image") or "")
            for field in ("containers", "initContainers")
            for c in pod_spec.get(field) or ()
        }
        unknown = sorted(set(images) - set(where))
        if unknown:
            raise KubeError(
                f"{kind} {namespace}/{name} has no container named {', '.join(unknown)} "
                f"(it has: {', '.join(where)})",
                reason="NoMatchingContainer",
            )
        patch: dict[str, list[dict[str, str]]] = {}
        changes: dict[str, tuple[str, str]] = {}
        for container, image in images.items():
            field, old = where[container]
            changes[container] = (old, image)
            if image != old:
                patch.setdefault(field, []).append({"name": container, "image": image})
        if patch:
            await self._patch_workload(
                namespace, kind, name, {"spec": {"template": {"spec": patch}}}
            )
        return changes

    async def set_partition(self, namespace: str, name: str, partition: int) -> Workload:
        """Set a StatefulSet's rolling-update partition: only ordinals >= it get updated."""
        if partition < 0:
            raise ValueError(f"partition must be >= 0, not {partition}")
        body = {
            "spec": {
                "updateStrategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"partition": partition},
                }
            }
        }
        return await self._patch_workload(namespace, "StatefulSet", name, body)

    def watch_rollout(
        self, namespace: str, kind: str, name: str, *, timeout: float
    ) -> RolloutWatch:
        """Follow a rollout: an async iterator of :class:`RolloutProgress` snapshots.

        The first snapshot comes at once; then one per change. The last one has
        ``done=True`` or ``failure`` set (crash-looping or image-pull-failing pods of the
        new template, an exceeded progress deadline, or ``timeout`` seconds passing).
        Use it with ``async with`` so stopping early closes its watches.
        """
        return RolloutWatch(self, namespace, _kind(kind), name, timeout=timeout)

    # ------------------------------------------------------------ pods, logs, events

    async def list_pods(
        self, namespace: str, selector: str | Mapping[str, str] | None = None
    ) -> list[Pod]:
        """Pods matching the label ``selector``, by name (ordinals in numeric order)."""
        raw = await self._json(
            f"listing pods in {namespace}",
            self._core().list_namespaced_pod(
                namespace,
                label_selector=selector_string(selector),
                _request_timeout=self.request_timeout,
            ),
        )
        return sorted((pod_from_json(p) for p in raw.get("items") or ()), key=_pod_order)

    async def pod_logs(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
    ) -> str:
        """A container's log text (the last ``tail_lines``, or those of the last ``since_seconds``).

        ``container`` may be omitted only for single-container pods (the API's rule).
        """
        kwargs: dict[str, Any] = {"_request_timeout": self.request_timeout}
        if container is not None:
            kwargs["container"] = container
        if tail_lines is not None:
            kwargs["tail_lines"] = tail_lines
        if since_seconds is not None:
            kwargs["since_seconds"] = since_seconds
        what = f"reading logs of pod {namespace}/{pod}" + (
            f" container {container}" if container else ""
        )
        try:
            # The raw body: with content preloading the client json.loads() the log and
            # returns str() of a dict when a log is one JSON line (as aztec's are).
            resp: Any = await self._core().read_namespaced_pod_log(
                pod, namespace, _preload_content=False, **kwargs
            )
            try:
                body: bytes = await resp.read()
                if not 200 <= resp.status <= 299:
                    refused = ApiException(status=resp.status, reason=resp.reason)
                    # str, as the client's own error path leaves it
                    refused.body = body.decode("utf-8", errors="replace")  # type: ignore[assignment]
                    raise refused
            finally:
                resp.release()
        except _ANY_ERROR as exc:
            raise _api_error(exc, what) from exc
        return body.decode("utf-8", errors="replace")

    async def list_events(
        self, namespace: str, involved_name: str | None = None, *, involved_uid: str | None = None
    ) -> list[Event]:
        """Events of ``namespace``, oldest first: only about ``involved_name`` if given,
        and only about the object with ``involved_uid`` (one incarnation of a pod that
        was recreated under the same name) if given."""
        kwargs: dict[str, Any] = {"_request_timeout": self.request_timeout}
        selectors = []
        if involved_name is not None:
            selectors.append(f"involvedObject.name={involved_name}")
        if involved_uid:
            selectors.append(f"involvedObject.uid={involved_uid}")
        if selectors:
            kwargs["field_selector"] = ",".join(selectors)
        raw = await self._json(
            f"listing events in {namespace}",
            self._core().list_namespaced_event(namespace, **kwargs),
        )
        events = [event_from_json(e) for e in raw.get("items") or ()]
        if involved_uid:  # in case a server ignores the field selector on uid
            events = [e for e in events if e.involved_uid in ("", involved_uid)]
        return sorted(events, key=lambda e: (e.last_seen is not None, e.last_seen or 0))

    async def delete_pod(self, namespace: str, name: str, *, uid: str | None = None) -> bool:
        """Delete one pod so its controller recreates it; with ``uid``, only that
        incarnation (a precondition the API server checks).

        True when this call deleted it; False when it was already gone or already
        replaced by a pod with another uid. KubeError for anything else (403 when the
        bot's service account lacks ``delete`` on pods).
        """
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if uid:
            body["preconditions"] = {"uid": uid}
        what = f"deleting pod {namespace}/{name}"
        try:
            await self._core().delete_namespaced_pod(
                name, namespace, body=cast(Any, body), _request_timeout=self.request_timeout
            )
        except ApiException as exc:
            if exc.status in (404, 409):
                return False
            raise _api_error(exc, what) from exc
        except _ANY_ERROR as exc:
            raise _api_error(exc, what) from exc
        return True

    async def list_services(
        self, namespace: str, names: Sequence[str] | None = None
    ) -> list[Service]:
        """Services of ``namespace`` (only those in ``names``, if given), by name."""
        raw = await self._json(
            f"listing services in {namespace}",
            self._core().list_namespaced_service(namespace, _request_timeout=self.request_timeout),
        )
        services = [service_from_json(s) for s in raw.get("items") or ()]
        if names is not None:
            wanted = set(names)
            services = [s for s in services if s.name in wanted]
        return sorted(services, key=lambda s: s.name)

    # ------------------------------------------------------------ jobs

    async def create_job(self, namespace: str, spec: JobSpec | Mapping[str, Any]) -> Job:
        """Create a batch/v1 Job from a :class:`JobSpec` (or a manifest dict as in YAML).

        KubeError with the API's message when it refuses: 409 ``AlreadyExists`` when a
        Job of that name exists, 422 ``Invalid`` for a spec it does not accept.
        ValueError, with nothing sent, when a JobSpec names another namespace.
        """
        if isinstance(spec, JobSpec):
            if spec.namespace is not None and spec.namespace != namespace:
                raise ValueError(
                    f"Job {spec.name} is meant for namespace {spec.namespace}, not {namespace}"
                )
            manifest: Mapping[str, Any] = spec.manifest()
        else:
            manifest = spec
        name = (manifest.get("metadata") or {}).get("name") or "(generated)"
        raw = await self._json(
            f"creating Job {namespace}/{name}",
            self._batch().create_namespaced_job(
                namespace,
                cast(Any, dict(manifest)),  # the SDK sends a plain dict as it is
                _request_timeout=self.request_timeout,
            ),
        )
        return job_from_json(raw)

    async def get_job(self, namespace: str, name: str) -> Job:
        """One Job's progress; KubeError(status=404) when it does not exist."""
        return job_from_json(await self._job_json(namespace, name))

    async def _job_json(self, namespace: str, name: str) -> JsonObj:
        return await self._read_json(self._batch().read_namespaced_job, "Job", namespace, name)

    async def watch_job(self, namespace: str, name: str, *, timeout: float) -> Job:
        """Follow a Job with the watch API until it is Complete or Failed.

        Returns the finished Job, or the Job as last seen when ``timeout`` seconds pass
        first (then ``finished`` is False; the Job keeps running). Works for a Job this
        process did not create (re-attaching after a restart) and for one that has
        already finished (answers at once). A watch the server ends is resumed from the
        last resourceVersion seen; one answering 410 Gone is re-listed. KubeError(404)
        when the Job does not exist or is deleted while followed.
        """
        listing = self._batch().list_namespaced_job
        selector = {"field_selector": f"metadata.name={name}"}
        what = f"watching Job {namespace}/{name}"
        job = await self._list_job(namespace, name)
        rv = job.resource_version
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        failures = 0
        while not job.finished:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return job
            try:
                async with asyncio.timeout(remaining):
                    response = await self._open_watch(listing, namespace, rv, **selector)
                    try:
                        await _raise_for_status(response, what)
                        async for line in response.content:
                            if not line.strip():
                                continue
                            event = json.loads(line)
                            failures = 0
                            kind, obj = event.get("type"), event.get("object") or {}
                            if kind == "ERROR":
                                raise KubeError(
                                    f"{what}: {obj.get('message')}",
                                    status=obj.get("code"),
                                    reason=obj.get("reason"),
                                )
                            rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                            if kind == "DELETED":
                                raise KubeError(
                                    f"Job {namespace}/{name} was deleted while it was followed",
                                    status=404,
                                    reason="NotFound",
                                )
                            if kind in ("ADDED", "MODIFIED"):
                                job = job_from_json(obj)
                                if job.finished:
                                    return job
                    finally:
                        response.release()
            except TimeoutError as exc:
                if loop.time() >= deadline:
                    return job
                failures += 1  # a socket timed out, not our deadline: reopen the watch
                if failures >= MAX_WATCH_FAILURES:
                    raise _api_error(exc, what) from exc
            except KubeError as exc:
                if exc.status == 410:
                    job = await self._list_job(namespace, name)
                    rv = job.resource_version
                    continue
                failures = await _after_watch_error(exc, failures, what)
            except (ApiException, aiohttp.ClientError, OSError, ValueError) as exc:
                failures = await _after_watch_error(exc, failures, what)
        return job

    async def _list_job(self, namespace: str, name: str) -> Job:
        """The Job, with the list's resourceVersion to watch from (KubeError 404 if absent)."""
        items, rv = await self._list_raw(
            f"listing Job {namespace}/{name}",
            self._batch().list_namespaced_job,
            namespace,
            field_selector=f"metadata.name={name}",
        )
        if not items:
            raise KubeError(
                f"Job {name} not found in namespace {namespace}", status=404, reason="NotFound"
            )
        job = job_from_json(items[0])
        return replace(job, resource_version=rv or job.resource_version)

    async def job_logs(self, namespace: str, name: str, *, tail: int | None = None) -> str:
        """The log (its last ``tail`` lines) of the newest pod of a Job.

        "no logs: the container never started (REASON: MESSAGE)" when that pod's
        container never ran (a missing Secret, an image that cannot be pulled), and
        "no logs: the Job has no pods" when it has none (never scheduled, or deleted
        when its deadline passed). KubeError(404) when the Job does not exist.
        """
        raw_job = await self._job_json(namespace, name)
        uid = raw_job["metadata"].get("uid") or ""
        match = ((raw_job.get("spec") or {}).get("selector") or {}).get("matchLabels") or {
            "job-name": name
        }
        items, _ = await self._list_raw(
            f"listing pods of Job {namespace}/{name}",
            self._core().list_namespaced_pod,
            namespace,
            label_selector=selector_string(match),
        )
        owned = [
            p
            for p in items
            if not uid
            or any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or ())
        ]
        if not owned:
            return "no logs: the Job has no pods"
        newest = max(owned, key=_creation_order)
        pod = pod_from_json(newest)
        containers = (newest.get("spec") or {}).get("containers") or [{}]
        container = str(containers[0].get("name") or "")
        state = next((c for c in pod.containers if c.name == container), None)
        if state is None or not state.started:
            why = (state.waiting_reason if state else None) or pod.phase
            message = state.waiting_message if state else None
            return "no logs: the container never started" + (
                f" ({why}: {message})" if message else f" ({why})"
            )
        return await self.pod_logs(namespace, pod.name, container=container, tail_lines=tail)

    async def delete_job(self, namespace: str, name: str) -> bool:
        """Delete a Job and (in the background, by Kubernetes' garbage collector) its pods.

        True when this call deleted it, False when it did not exist.
        """
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        what = f"deleting Job {namespace}/{name}"
        try:
            await self._batch().delete_namespaced_job(
                name, namespace, body=cast(Any, body), _request_timeout=self.request_timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise _api_error(exc, what) from exc
        except _ANY_ERROR as exc:
            raise _api_error(exc, what) from exc
        return True

    # ------------------------------------------------------------ raw streams (for RolloutWatch)

    async def _list_raw(
        self, what: str, listing: Callable[..., Any], namespace: str, **selectors: str
    ) -> tuple[list[JsonObj], str]:
        """Items and the list's resourceVersion, parsed straight from the response JSON."""
        try:
            response = await listing(
                namespace,
                _preload_content=False,
                _request_timeout=self.request_timeout,
                **selectors,
            )
            try:
                await _raise_for_status(response, what)
                body = json.loads(await response.read())
            finally:
                response.release()
        except _ANY_ERROR as exc:
            raise _api_error(exc, what) from exc
        if not isinstance(body, dict) or "items" not in body:
            raise KubeError(f"{what}: unexpected answer {str(body)[:200]}")
        return list(body.get("items") or ()), str(body["metadata"].get("resourceVersion") or "")

    async def _open_watch(
        self, listing: Callable[..., Any], namespace: str, resource_version: str, **selectors: str
    ) -> aiohttp.ClientResponse:
        response: aiohttp.ClientResponse = await listing(
            namespace,
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_SERVER_TIMEOUT,
            _preload_content=False,
            **selectors,
        )
        return response


async def _after_watch_error(exc: Exception, failures: int, what: str) -> int:
    """One failed watch attempt: raise what retrying cannot mend (a refusal other than
    429, or :data:`MAX_WATCH_FAILURES` failures in a row), else back off and return the
    count of failures so far."""
    failures += 1
    if isinstance(exc, KubeError):
        refused = exc.status is not None and exc.status < 500 and exc.status != 429
        if refused or failures >= MAX_WATCH_FAILURES:
            raise exc
    elif failures >= MAX_WATCH_FAILURES:
        raise _api_error(exc, what) from exc
    await asyncio.sleep(min(0.05 * 2**failures, 2.0))  # back off, then retry
    return failures


async def _raise_for_status(response: aiohttp.ClientResponse, what: str) -> None:
    """KubeError with the API's message for a non-2xx raw (unpreloaded) response."""
    if 200 <= response.status < 300:
        return
    raw = await response.read()
    reason, message = response.reason, raw.decode(errors="replace")[:300]
    try:
        body = json.loads(raw)
        reason, message = body.get("reason") or reason, body.get("message") or message
    except ValueError:
        pass
    raise KubeError(f"{what}: {message}", status=response.status, reason=reason)


_KIND_ALIASES: dict[str, WorkloadKind] = {
    "statefulset": "StatefulSet",
    "statefulsets": "StatefulSet",
    "sts": "StatefulSet",
    "deployment": "Deployment",
    "deployments": "Deployment",
    "deploy": "Deployment",
}


def _template_labels(obj: JsonObj) -> Mapping[str, str]:
    """The labels a workload gives its pods."""
    template = (obj.get("spec") or {}).get("template") or {}
    return (template.get("metadata") or {}).get("labels") or {}


def _kind(kind: str) -> WorkloadKind:
    """The canonical kind for ``kind`` or one of kubectl's names for it (``sts``, ``deploy``)."""
    known = _KIND_ALIASES.get(kind.lower())
    if known is not None:
        return known
    raise ValueError(f"unsupported workload kind {kind!r}; expected one of {WORKLOAD_KINDS}")


def _creation_order(pod: JsonObj) -> tuple[str, int]:
    """Sort key: creation time, then (creation times have one-second resolution) the
    pod changed last, since a Job creates a retry only after its predecessor ended."""
    meta = pod["metadata"]
    version = str(meta.get("resourceVersion") or "")
    return (str(meta.get("creationTimestamp") or ""), int(version) if version.isdigit() else 0)


def _pod_order(pod: Pod) -> tuple[str, int, str]:
    base, _, last = pod.name.rpartition("-")
    return (base, int(last), "") if last.isdigit() else (pod.name, -1, pod.name)


class _Relisted:
    """A queue item: the full current list of one stream's objects."""

    def __init__(self, stream: str, items: list[JsonObj]) -> None:
        self.stream = stream
        self.items = items


class RolloutWatch:
    """Follows one workload's rollout with two watches (the workload and its pods).

    An async iterator of :class:`RolloutProgress` and an async context manager; it
    stops its watches once the rollout is done, has failed, or timed out, and on exit.
    """

    def __init__(
        self, kube: KubeClient, namespace: str, kind: WorkloadKind, name: str, *, timeout: float
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.kind = kind
        self.name = name
        self.timeout = timeout
        self.reconnects = 0
        """How many times a watch was reopened after the server ended it."""
        self.relists = 0
        """How many times a watch had to re-list because its resourceVersion expired."""
        self._queue: asyncio.Queue[tuple[str, str, JsonObj] | _Relisted | BaseException] = (
            asyncio.Queue()
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._workload: JsonObj | None = None
        self._pods: dict[str, Pod] = {}
        self._last: RolloutProgress | None = None
        self._deadline = 0.0
        self._finished = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[RolloutProgress]:
        return self

    @property
    def pods(self) -> dict[str, Pod]:
        """The workload's pods as last seen by the watch, by name."""
        return dict(self._pods)

    async def aclose(self) -> None:
        """Stop both watches (idempotent)."""
        self._finished = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __anext__(self) -> RolloutProgress:
        if self._finished:
            raise StopAsyncIteration
        try:
            if self._workload is None:
                return await self._finish_if_final(await self._start())
            while True:
                progress = await self._next_change()
                if progress != self._last:
                    return await self._finish_if_final(progress)
        except BaseException:
            await self.aclose()
            raise

    async def _finish_if_final(self, progress: RolloutProgress) -> RolloutProgress:
        self._last = progress
        if progress.finished:
            await self.aclose()
        return progress

    # -- starting

    def _listings(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        workload_listing = self.kube._workload_api(self.kind)[1]
        return workload_listing, self.kube._core().list_namespaced_pod

    async def _start(self) -> RolloutProgress:
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self.timeout
        workload_listing, pod_listing = self._listings()
        workload_rv = await self._relist_workload(workload_listing)
        assert self._workload is not None
        selector = selector_string(workload_from_json(self.kind, self._workload).selector)
        pods_rv = await self._relist_pods(pod_listing, selector)
        self._tasks = [
            asyncio.create_task(
                self._pump("workload", workload_listing, workload_rv, self._field_selector()),
                name=f"kube-watch-{self.kind.lower()}-{self.namespace}-{self.name}",
            ),
            asyncio.create_task(
                self._pump("pods", pod_listing, pods_rv, {"label_selector": selector}),
                name=f"kube-watch-pods-{self.namespace}-{self.name}",
            ),
        ]
        return self._progress()

    def _field_selector(self) -> dict[str, str]:
        return {"field_selector": f"metadata.name={self.name}"}

    async def _relist_workload(self, listing: Callable[..., Any]) -> str:
        what = f"listing {self.kind} {self.namespace}/{self.name}"
        items, rv = await self.kube._list_raw(
            what, listing, self.namespace, **self._field_selector()
        )
        if not items:
            raise KubeError(
                f"{self.kind} {self.name} not found in namespace {self.namespace}",
                status=404,
                reason="NotFound",
            )
        self._workload = items[0]
        return rv

    async def _relist_pods(self, listing: Callable[..., Any], selector: str) -> str:
        what = f"listing pods of {self.kind} {self.namespace}/{self.name}"
        items, rv = await self.kube._list_raw(
            what, listing, self.namespace, label_selector=selector
        )
        self._pods = {}
        for item in items:
            self._apply_pod("ADDED", item)
        return rv

    # -- following

    async def _pump(
        self, stream: str, listing: Callable[..., Any], rv: str, selectors: dict[str, str]
    ) -> None:
        """Feed one watch's events to the queue until cancelled; report a fatal error there."""
        try:
            await self._follow(stream, listing, rv, selectors)
        except Exception as exc:
            self._queue.put_nowait(_api_error(exc, f"watching {stream} of {self.name}"))

    async def _follow(
        self, stream: str, listing: Callable[..., Any], rv: str, selectors: dict[str, str]
    ) -> None:
        failures = 0
        while True:
            try:
                response = await self.kube._open_watch(listing, self.namespace, rv, **selectors)
                try:
                    await _raise_for_status(response, f"watching {stream} of {self.name}")
                    async for line in response.content:
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        failures = 0
                        kind, obj = event.get("type"), event.get("object") or {}
                        if kind == "ERROR":
                            raise KubeError(
                                f"watching {stream} of {self.kind} {self.namespace}/{self.name}: "
                                f"{obj.get('message')}",
                                status=obj.get("code"),
                                reason=obj.get("reason"),
                            )
                        rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                        if kind != "BOOKMARK":
                            self._queue.put_nowait((stream, str(kind), obj))
                finally:
                    response.release()
                self.reconnects += 1  # the server ended the watch: resume from rv
            except KubeError as exc:
                if exc.status == 410:
                    rv = await self._relist(stream, listing, selectors)
                    continue
                failures = await _after_watch_error(exc, failures, self._what(stream))
            except (ApiException, aiohttp.ClientError, OSError, ValueError) as exc:
                failures = await _after_watch_error(exc, failures, self._what(stream))

    def _what(self, stream: str) -> str:
        return f"watching {stream} of {self.name}"

    async def _relist(
        self, stream: str, listing: Callable[..., Any], selectors: dict[str, str]
    ) -> str:
        self.relists += 1
        what = f"re-listing {stream} of {self.kind} {self.namespace}/{self.name}"
        items, rv = await self.kube._list_raw(what, listing, self.namespace, **selectors)
        self._queue.put_nowait(_Relisted(stream, items))
        return rv

    async def _next_change(self) -> RolloutProgress:
        remaining = self._deadline - asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(max(remaining, 0)):
                item = await self._queue.get()
        except TimeoutError:
            last = self._last or self._progress()
            return RolloutProgress(
                kind=last.kind,
                name=last.name,
                desired=last.desired,
                updated=last.updated,
                ready=last.ready,
                available=last.available,
                done=False,
                failure=f"timed out after {self.timeout:g}s: {last.message}",
                message=f"timed out after {self.timeout:g}s: {last.message}",
                failing_pods=last.failing_pods,
                stuck_pods=last.stuck_pods,
            )
        self._apply(item)
        while not self._queue.empty():  # take a burst of events in one go
            self._apply(self._queue.get_nowait())
        return self._progress()

    def _apply(self, item: tuple[str, str, JsonObj] | _Relisted | BaseException) -> None:
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, _Relisted):
            if item.stream == "workload":
                if not item.items:
                    raise KubeError(f"{self.kind} {self.namespace}/{self.name} was deleted")
                self._workload = item.items[0]
            else:
                self._pods = {}
                for obj in item.items:
                    self._apply_pod("ADDED", obj)
            return
        stream, kind, obj = item
        if stream == "workload":
            if kind == "DELETED":
                raise KubeError(
                    f"{self.kind} {self.namespace}/{self.name} was deleted during the rollout"
                )
            self._workload = obj
        else:
            self._apply_pod(kind, obj)

    def _apply_pod(self, kind: str, obj: JsonObj) -> None:
        pod = pod_from_json(obj)
        if kind == "DELETED":
            self._pods.pop(pod.name, None)
        elif self._owns(pod):
            self._pods[pod.name] = pod

    def _owns(self, pod: Pod) -> bool:
        if pod.owner is None:
            return False
        if self.kind == "StatefulSet":
            return pod.owner == f"StatefulSet/{self.name}"
        return pod.owner.startswith(f"ReplicaSet/{self.name}-")

    def _progress(self) -> RolloutProgress:
        assert self._workload is not None
        workload = workload_from_json(self.kind, self._workload)
        return rollout_progress(workload, list(self._pods.values()))
