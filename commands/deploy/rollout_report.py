"""What a failed rollout tells people: which pods failed and why, with the logs and
events of each failing pod's current incarnation, in the progress message's thread.

A pod recreated under the same name (every StatefulSet pod) is a new object with a
new uid; its predecessors' events are not evidence about it, so events are read by
uid. A container that never started (its image could not be pulled, or it is still
being created) has no logs: the report says so instead of showing an empty log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from integrations.kube_models import KubeError, Pod

if TYPE_CHECKING:
    from integrations.kube import KubeClient

LOG_LINES = 20
EVENTS_SHOWN = 5
PODS_REPORTED = 3


def pods_to_report(
    named: Sequence[str], known: Mapping[str, Pod], *, limit: int = PODS_REPORTED
) -> list[str]:
    """The pods a report is about: those the failure names, else those of the
    workload that are not Ready (a rollout that timed out names none), at most ``limit``."""
    if named:
        return list(named)[:limit]
    return [p.name for p in known.values() if not p.ready][:limit]


def pull_failures(pods: Sequence[Pod]) -> list[str]:
    """The images, over ``pods``, that could not be pulled (each once, in order)."""
    return list(dict.fromkeys(image for pod in pods for image in pod.unpulled_images))


def with_unpulled_images(reason: str, pods: Sequence[Pod]) -> str:
    """``reason`` naming the images that could not be pulled, if any."""
    images = pull_failures(pods)
    if not images:
        return reason
    return f"{reason} (cannot pull {', '.join(f'`{i}`' for i in images)})"


def _log_container(pod: Pod, candidates: Sequence[str]) -> str | None:
    failing = pod.failing_container
    if failing is not None:
        return failing.name
    return next((c for c in candidates if pod.container(c) is not None), None)


async def pod_report(
    kube: KubeClient, namespace: str, pod: Pod, *, containers: Sequence[str]
) -> str:
    """One pod's evidence: why it is not Ready, the last log lines of its failing
    container (or why there are none), and the events of this incarnation only."""
    container = _log_container(pod, containers)
    state = pod.container(container) if container else None
    why = pod.failing_reason or pod.waiting_reason or ("not Ready" if not pod.ready else "Ready")
    head = f"❌ pod `{pod.name}` ({why}"
    head += f", restarted {pod.restarts}×)" if pod.restarts else ")"
    unpulled = pod.unpulled_images
    if unpulled:
        head += "\nimage that could not be pulled: " + ", ".join(f"`{i}`" for i in unpulled)
    if state is not None and not state.started:
        reason = f" ({state.waiting_reason})" if state.waiting_reason else ""
        logs = f"no logs: the container never started{reason}"
    else:
        try:
            text = await kube.pod_logs(
                namespace, pod.name, container=container, tail_lines=LOG_LINES
            )
            logs = (
                f"last {LOG_LINES} log lines of `{container}`:\n```{text.rstrip()}```"
                if text.strip()
                else f"no logs: `{container}` has written nothing"
            )
        except KubeError as exc:
            logs = f"no logs: {exc}"
    try:
        events = await kube.list_events(namespace, pod.name, involved_uid=pod.uid or None)
        shown = events[-EVENTS_SHOWN:]
        event_lines = "\n".join(f"{e.type} {e.reason}: {e.message}" for e in shown) or "(none)"
        events_text = f"events of this pod:\n```{event_lines}```"
    except KubeError as exc:
        events_text = f"no events: {exc}"
    return f"{head}\n{logs}\n{events_text}"


async def current_pods(
    kube: KubeClient, namespace: str, names: Sequence[str], known: Mapping[str, Pod]
) -> list[Pod]:
    """The pods called ``names`` as they are now (a fresh read; ``known`` if the read fails)."""
    try:
        listed = {p.name: p for p in await kube.list_pods(namespace)}
    except KubeError:
        listed = dict(known)
    return [listed[n] for n in names if n in listed]
