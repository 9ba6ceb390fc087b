"""Rolling images out workload by workload and following each rollout: shared by
deploy and rollback. Progress is one message edited in place; details go to its
thread; a failure report names the failing pods with their logs and events.

A rollback also repairs what the StatefulSet controller will not: with
``podManagementPolicy: OrderedReady`` a pod left on the bad revision that is not
Ready blocks the restored template for ever (the Kubernetes docs' "forced
rollback"), so the rollback deletes exactly those pods, by uid, and the controller
recreates them from the restored template.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.config import NetworkConfig
from bot.core import MessageRef
from commands.deploy.rollout_report import (
    current_pods,
    pod_report,
    pods_to_report,
    with_unpulled_images,
)
from integrations.kube_models import KubeError, Pod, RolloutProgress, same_repository
from state.store import Store

if TYPE_CHECKING:
    from integrations.kube import KubeClient


class Progress(Protocol):
    """Where a rollout reports: the responder methods it needs."""

    async def reply(self, text: str) -> MessageRef: ...

    async def update(self, ref: MessageRef, text: str) -> None: ...

    async def reply_in_thread(self, ref: MessageRef, text: str) -> MessageRef: ...


@dataclass
class Step:
    """One workload of a rollout: what it runs before and what it must run after."""

    kind: str
    name: str
    replicas: int
    canary: bool
    before: dict[str, str]
    after: dict[str, str]
    state: str = "waiting"  # waiting, rolling, canary, done, failed
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        """For the run's args."""
        return {
            "kind": self.kind,
            "name": self.name,
            "replicas": self.replicas,
            "canary": self.canary,
            "before": self.before,
            "after": self.after,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        """From the run's args."""
        return cls(
            kind=data["kind"],
            name=data["name"],
            replicas=int(data["replicas"]),
            canary=bool(data.get("canary")),
            before=dict(data["before"]),
            after=dict(data["after"]),
        )


@dataclass
class Failure:
    """Why a rollout stopped, with the evidence."""

    step: Step
    reason: str
    pods: tuple[str, ...] = ()
    details: list[str] = field(default_factory=list)


def bar(done: int, total: int, width: int = 10) -> str:
    """``▓▓▓░░░░░░░``."""
    filled = 0 if total <= 0 else min(width, round(width * done / total))
    return "▓" * filled + "░" * (width - filled)


async def plan_steps(kube: KubeClient, net: NetworkConfig, tag: str, *, canary: bool) -> list[Step]:
    """Read the configured workloads and say, per container of the network's image,
    what it runs now and what it would run at ``tag``."""
    steps: list[Step] = []
    for spec in net.workloads:
        found = await kube.list_workloads(net.namespace, spec.selector, kinds=(spec.kind,))
        if not found:
            raise KubeError(f"no {spec.kind} matches `{spec.selector}` in {net.namespace}")
        for workload in found:
            before: dict[str, str] = {}
            after: dict[str, str] = {}
            for container in (*workload.containers, *workload.init_containers):
                if same_repository(container.image, net.image):
                    before[container.name] = container.image
                    after[container.name] = f"{container.repository}:{tag}"
            if not before:
                raise KubeError(f"{workload.kind} {workload.name} runs no container of {net.image}")
            steps.append(
                Step(
                    kind=workload.kind,
                    name=workload.name,
                    replicas=workload.replicas,
                    canary=canary and spec.canary and workload.kind == "StatefulSet",
                    before=before,
                    after=after,
                )
            )
    return steps


def describe_plan(steps: Sequence[Step]) -> list[str]:
    """One line per workload: ``StatefulSet validator (48 pods): a:v1 → a:v2``."""
    lines = []
    for s in steps:
        changes = ", ".join(
            f"{c}: `{s.before[c]}` → `{s.after[c]}`"
            if s.before[c] != s.after[c]
            else f"{c}: unchanged"
            for c in s.before
        )
        canary = " (canary first)" if s.canary else ""
        lines.append(f"• {s.kind} `{s.name}` ({s.replicas} pods){canary}: {changes}")
    return lines


class Rollout:
    """Applies ``after`` images step by step and follows each rollout to its end."""

    def __init__(
        self,
        kube: KubeClient,
        net: NetworkConfig,
        steps: list[Step],
        *,
        title: str,
        progress: Progress,
        ref: MessageRef,
        store: Store,
        run_id: str,
        replace_stuck: bool = False,
    ) -> None:
        """``replace_stuck`` (rollbacks): delete pods of OrderedReady StatefulSets that
        sit on another revision than the restored one and are not Ready."""
        self.kube = kube
        self.replace_stuck = replace_stuck
        self.replaced: dict[str, list[str]] = {}
        """Step name → the pods this rollout deleted so their controller recreates them."""
        self._replaced_uids: set[str] = set()
        self.net = net
        self.steps = steps
        self.title = title
        self.progress = progress
        self.ref = ref
        self.store = store
        self.run_id = run_id
        self._last_render = ""

    def render(self) -> str:
        """The progress message."""
        icons = {"waiting": "·", "rolling": "⏳", "canary": "🐤", "done": "✅", "failed": "❌"}
        lines = [self.title]
        for s in self.steps:
            lines.append(f"{icons[s.state]} {s.kind} `{s.name}` {s.detail}".rstrip())
        return "\n".join(lines)

    async def _show(self) -> None:
        text = self.render()
        if text != self._last_render:
            self._last_render = text
            await self.progress.update(self.ref, text)

    async def run(self, *, done_steps: Sequence[str] = ()) -> Failure | None:
        """Roll every step not in ``done_steps``; return the failure that stopped it."""
        for step in self.steps:
            if step.name in done_steps:
                step.state, step.detail = "done", f"{step.replicas}/{step.replicas} ready"
        await self._show()
        for step in self.steps:
            if step.state == "done":
                continue
            failure = await self._roll(step)
            if failure is not None:
                step.state, step.detail = "failed", failure.reason
                await self._show()
                return failure
            step.state = "done"
            await self._show()
            finished = [s.name for s in self.steps if s.state == "done"]
            self.store.update_run(self.run_id, step=f"{step.name} done", result={"done": finished})
        return None

    async def _roll(self, step: Step) -> Failure | None:
        ns = self.net.namespace
        if step.canary:
            failure = await self._canary(step)
            if failure is not None:
                return failure
        self.store.update_run(self.run_id, step=f"rolling {step.kind} {step.name}")
        await self.kube.set_images(ns, step.kind, step.name, step.after)
        ordered_ready = False
        if step.kind == "StatefulSet":
            current = await self.kube.get_workload(ns, step.kind, step.name)
            ordered_ready = current.pod_management_policy != "Parallel"
            if current.partition:
                await self.kube.set_partition(ns, step.name, 0)
        step.state = "rolling"
        return await self._follow(
            step, self.net.progress_deadline, replace=self.replace_stuck and ordered_ready
        )

    async def _canary(self, step: Step) -> Failure | None:
        ns = self.net.namespace
        self.store.update_run(self.run_id, step=f"canary {step.name}")
        step.state, step.detail = "canary", "updating one pod first"
        await self._show()
        await self.kube.set_partition(ns, step.name, max(0, step.replicas - 1))
        await self.kube.set_images(ns, step.kind, step.name, step.after)
        failure = await self._follow(step, self.net.progress_deadline, canary=True)
        if failure is not None:
            return failure
        canary_pod = f"{step.name}-{step.replicas - 1}"
        pods = {p.name: p for p in await self.kube.list_pods(ns)}
        restarts = pods[canary_pod].restarts if canary_pod in pods else 0
        hold = self.net.canary_hold
        step.detail = f"canary `{canary_pod}` Ready; holding {hold:g}s"
        await self._show()
        await self.progress.reply_in_thread(
            self.ref, f"🐤 canary `{canary_pod}` is Ready; watching it for {hold:g}s"
        )
        await asyncio.sleep(hold)
        pods = {p.name: p for p in await self.kube.list_pods(ns)}
        pod = pods.get(canary_pod)
        if pod is None or not pod.ready or pod.restarts > restarts or pod.failing_reason:
            why = (
                "disappeared"
                if pod is None
                else pod.failing_reason
                or ("restarted" if pod.restarts > restarts else "is not Ready")
            )
            return await self._failure(
                step, f"canary `{canary_pod}` {why} during the hold", (canary_pod,)
            )
        await self.progress.reply_in_thread(
            self.ref, f"🐤 canary `{canary_pod}` held; rolling the rest"
        )
        return None

    async def _follow(
        self, step: Step, timeout: float, *, canary: bool = False, replace: bool = False
    ) -> Failure | None:
        """Follow one workload's rollout to its end; with ``replace``, delete the pods
        the controller will not replace by itself as the watch reports them."""
        ns = self.net.namespace
        last: RolloutProgress | None = None
        known: dict[str, Pod] = {}
        async with self.kube.watch_rollout(ns, step.kind, step.name, timeout=timeout) as watch:
            async for snapshot in watch:
                last = snapshot
                known = watch.pods
                if replace and snapshot.stuck_pods:
                    refused = await self._replace_stuck(step, snapshot.stuck_pods, known)
                    if refused is not None:
                        return refused
                wanted = 1 if canary else snapshot.desired
                updated = min(snapshot.updated, wanted)
                step.detail = (
                    f"{snapshot.ready}/{snapshot.desired} ready, {updated}/{wanted} updated "
                    f"{bar(updated, wanted)}"
                ) + self._replaced_note(step)
                await self._show()
        if last is None or last.failure is not None or not last.done:
            reason = (
                last.failure if last is not None and last.failure else "the rollout did not finish"
            )
            pods = last.failing_pods if last is not None else ()
            return await self._failure(step, reason, pods, known)
        step.detail = (
            f"{last.ready}/{last.desired} ready"
            + (" (canary)" if canary else "")
            + self._replaced_note(step)
        )
        return None

    def _replaced_note(self, step: Step) -> str:
        names = self.replaced.get(step.name)
        return f"; replaced stuck pod(s) {', '.join(names)}" if names else ""

    async def _replace_stuck(
        self, step: Step, names: Sequence[str], known: Mapping[str, Pod]
    ) -> Failure | None:
        """Delete each stuck pod once (by uid) and say so in the thread; a Failure when
        Kubernetes refuses (for example without ``delete`` on pods)."""
        ns = self.net.namespace
        for name in names:
            pod = known.get(name)
            if pod is None or not pod.uid or pod.uid in self._replaced_uids:
                continue
            self._replaced_uids.add(pod.uid)
            why = pod.failing_reason or pod.waiting_reason or "not Ready"
            try:
                deleted = await self.kube.delete_pod(ns, name, uid=pod.uid)
            except KubeError as exc:
                reason = f"cannot delete the stuck pod `{name}` in `{ns}`: {exc}"
                if exc.status == 403:
                    reason += " (the bot needs `delete` on pods in this namespace)"
                return await self._failure(step, reason, (name,), known)
            if not deleted:
                continue  # gone or replaced meanwhile: nothing left to repair
            self.replaced.setdefault(step.name, []).append(name)
            await self.progress.reply_in_thread(
                self.ref,
                f"🔁 deleted pod `{name}` of {step.kind} `{step.name}` in `{ns}`: it ran the "
                f"bad revision and was not Ready ({why}), which blocks an OrderedReady "
                "StatefulSet; it is recreated from the restored template",
            )
        return None

    async def _failure(
        self,
        step: Step,
        reason: str,
        pods: Sequence[str],
        known: Mapping[str, Pod] | None = None,
    ) -> Failure:
        """Post the evidence about the failing pods (or, when none are named, the pods
        that are not Ready) to the thread; always at least one thread reply."""
        ns = self.net.namespace
        names = pods_to_report(pods, known or {})
        found = await current_pods(self.kube, ns, names, known or {})
        failure = Failure(step, with_unpulled_images(reason, found), tuple(pods) or tuple(names))
        for pod in found:
            text = await pod_report(self.kube, ns, pod, containers=list(step.after))
            failure.details.append(text)
            await self.progress.reply_in_thread(self.ref, text)
        if not failure.details:
            text = (
                f"❌ {step.kind} `{step.name}`: {failure.reason}. No pod of it is failing "
                "or unready now, so there are no pod logs or events to show."
            )
            failure.details.append(text)
            await self.progress.reply_in_thread(self.ref, text)
        return failure


def elapsed(started: float) -> str:
    """``2m 05s`` since ``started`` (a time.time() value)."""
    seconds = max(0, int(time.time() - started))
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def pods_by_workload(pods: Sequence[Pod], owner: str) -> list[Pod]:
    """Pods whose controller is ``owner`` (``StatefulSet/validator``) or, for
    Deployments, one of its ReplicaSets."""
    kind, _, name = owner.partition("/")
    if kind == "Deployment":
        return [p for p in pods if (p.owner or "").startswith(f"ReplicaSet/{name}-")]
    return [p for p in pods if p.owner == owner]
