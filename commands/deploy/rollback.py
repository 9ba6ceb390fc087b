"""``/testnet rollback``: put back the images a network ran before its last deploy
(or those of an earlier version), with the same watcher and report as deploy.

The plan is read from the cluster, not only from the record: a workload the deploy
never changed is left out, and one whose template is back but whose pods are not
(a StatefulSet stuck on a broken pod) is kept, so running rollback again repairs it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from bot.config import NetworkConfig
from bot.context import Context, Services
from bot.core import MessageRef
from bot.errors import AlreadyReported, CommandError
from bot.registry import Help, Option, command, workflow
from commands.common import kube_for
from commands.deploy.rollout import Progress, Step, describe_plan, elapsed, pods_by_workload
from commands.deploy.runs import check_network_free, resumed_progress, roll_run, start_run
from commands.deploy.versions import Version
from integrations.kube_models import KubeError
from state.records import Run

if TYPE_CHECKING:
    from integrations.kube import KubeClient


@dataclass
class RestorePlan:
    """The workloads a rollback must touch, and one plan line per workload."""

    steps: list[Step]
    lines: list[str]


def rollback_steps_from_deploy(run: Run) -> list[Step]:
    """Steps that restore exactly what ``run`` (a deploy) found before it changed anything."""
    steps = []
    for data in run.args["steps"]:
        step = Step.from_json(data)
        steps.append(
            Step(step.kind, step.name, step.replicas, False, before=step.after, after=step.before)
        )
    return steps


def _target(ctx: Context, network: str, to: Version | None) -> tuple[str, list[Step]]:
    deploys = ctx.store.recent_runs(kinds=["deploy"], network=network, limit=200)
    if to is None:
        if not deploys:
            raise CommandError(
                f"No deploy of `{network}` is recorded, so there is nothing to roll back to."
            )
        last = deploys[0]
        return f"the images before `{last.args['version']}`", rollback_steps_from_deploy(last)
    for run in deploys:
        if run.args.get("version") == str(to) and run.state in ("succeeded", "rolled_back"):
            steps = [Step.from_json(s) for s in run.args["steps"]]
            return f"`{to}`", [
                Step(s.kind, s.name, s.replicas, False, before=s.before, after=s.after)
                for s in steps
            ]
    known = sorted({str(r.args.get("version")) for r in deploys if r.state == "succeeded"})
    raise CommandError(
        f"`{to}` was never deployed successfully to `{network}`"
        + (f" (deployed: {', '.join(known)})." if known else ".")
    )


async def restore_plan(kube: KubeClient, net: NetworkConfig, steps: Sequence[Step]) -> RestorePlan:
    """Of ``steps`` (each workload's images to restore), those that still need work:
    the template runs other images, or some pod of the workload does. Each kept step's
    ``before`` is what its template runs now."""
    kept: list[Step] = []
    lines: list[str] = []
    for step in steps:
        workload = await kube.get_workload(net.namespace, step.kind, step.name)
        running = {c.name: c.image for c in (*workload.containers, *workload.init_containers)}
        before = {c: running.get(c, "?") for c in step.after}
        pods = pods_by_workload(
            await kube.list_pods(net.namespace, workload.selector), f"{step.kind}/{step.name}"
        )
        stale = [
            p.name
            for p in pods
            if any(p.container_images.get(c, image) != image for c, image in step.after.items())
        ]
        restored = Step(step.kind, step.name, workload.replicas, False, before, dict(step.after))
        if before != step.after:
            kept.append(restored)
            lines.extend(describe_plan([restored]))
        elif stale:
            kept.append(restored)
            shown = ", ".join(f"`{n}`" for n in stale[:5]) + (" …" if len(stale) > 5 else "")
            lines.append(
                f"• {step.kind} `{step.name}` ({workload.replicas} pods): template already "
                f"restored; {len(stale)} pod(s) still run other images: {shown}"
            )
    return RestorePlan(kept, lines)


async def steps_to_restore(services: Services, run: Run) -> RestorePlan:
    """The rollback of deploy ``run``, limited to what it changed, as the cluster is now."""
    net = services.config.networks[run.network or ""]
    kube = await kube_for(services, net)
    return await restore_plan(kube, net, rollback_steps_from_deploy(run))


async def _restore(
    ctx: Context, name: str, to: Version | None, *, verb: str
) -> tuple[str, RestorePlan]:
    what, steps = _target(ctx, name, to)
    net = ctx.config.networks[name]
    try:
        plan = await restore_plan(await kube_for(ctx.services, net), net, steps)
    except KubeError as exc:
        raise CommandError(f"Cannot {verb} the rollback: {exc}") from None
    if not plan.steps:
        raise CommandError(f"Nothing to roll back: every workload of `{name}` already runs {what}.")
    return what, plan


async def _plan(
    ctx: Context, *, network: str | None = None, to: Version | None = None, dry_run: bool = False
) -> str:
    name, _ = ctx.network(network)
    check_network_free(ctx, name)
    what, plan = await _restore(ctx, name, to, verb="plan")
    return "\n".join([f"Roll `{name}` back to {what}:", *plan.lines])


@command("rollback", permission="rollback", dangerous=True, plan=_plan)
async def rollback(
    ctx: Context,
    *,
    network: Annotated[str | None, Help("Network (default: the only or default one)")] = None,
    to: Annotated[Version | None, Option, Help("An earlier version to go back to")] = None,
    dry_run: Annotated[bool, Help("Show the plan; change nothing")] = False,
) -> None:
    """Restore the images from before the last deploy, or those of --to <version>.

    Only workloads that do not run those images yet are touched; pods of an
    OrderedReady StatefulSet left on the bad revision and not Ready are deleted so
    the controller recreates them from the restored template.
    """
    name, _ = ctx.network(network)
    if dry_run:
        plan = await _plan(ctx, network=name, to=to)
        await ctx.reply(f"{plan}\n(dry run: nothing was changed)")
        return
    check_network_free(ctx, name)
    _, restore = await _restore(ctx, name, to, verb="start")
    steps = restore.steps
    deploys = ctx.store.recent_runs(kinds=["deploy"], network=name, limit=1)
    done = await execute_rollback(
        ctx.services,
        name,
        steps,
        ctx.invocation.responder,
        owner=ctx.actor_name,
        deploy_run=deploys[0] if deploys and to is None else None,
        ctx=ctx,
    )
    if not done:
        raise AlreadyReported(f"rollback of {name} failed")


async def execute_rollback(
    services: Services,
    network: str,
    steps: list[Step],
    progress: Progress,
    *,
    owner: str,
    deploy_run: Run | None = None,
    ctx: Context | None = None,
) -> bool:
    """Record a rollback run and carry it out; True on success."""
    args = {
        "steps": [s.as_json() for s in steps],
        "deploy_run": deploy_run.id if deploy_run else None,
        "from_version": deploy_run.args.get("version") if deploy_run else None,
    }
    title = f"↩️ Rolling `{network}` back (requested by {owner})"
    if ctx is not None:
        run, ref = await start_run(ctx, kind="rollback", network=network, args=args, title=title)
    else:
        run = services.store.create_run(
            kind="rollback", network=network, args=args, owner=owner, exclusive=True
        )
        ref = await progress.reply(title)
        run = services.store.update_run(
            run.id,
            state="running",
            reply_to={"destination": ref.destination, "message_key": ref.key},
        )
    return await _carry_out(services, run, progress, ref)


async def _carry_out(services: Services, run: Run, progress: Progress, ref: MessageRef) -> bool:
    network = run.network or ""
    title = f"↩️ Rolling `{network}` back (requested by {run.owner})"
    rollout, failure = await roll_run(services, run, progress, ref, title=title)
    steps = rollout.steps
    took = elapsed(run.created_at)
    seconds = round(time.time() - run.created_at, 1)
    replaced = [pod for pods in rollout.replaced.values() for pod in pods]
    if failure is None:
        services.store.update_run(
            run.id,
            state="succeeded",
            step="done",
            result={"done": [s.name for s in steps], "seconds": seconds, "deleted_pods": replaced},
        )
        deploy_id = run.args.get("deploy_run")
        if deploy_id:
            deploy = services.store.get_run(str(deploy_id))
            if deploy is not None and deploy.state == "failed":
                services.store.update_run(deploy.id, state="rolled_back")
        await progress.update(ref, rollout.render() + f"\n✅ rolled back in {took}")
        note = (
            f" Deleted {len(replaced)} stuck pod(s) so they were recreated: "
            + ", ".join(f"`{p}`" for p in replaced)
            + "."
            if replaced
            else ""
        )
        await progress.reply(f"✅ `{network}` is back on its previous images ({took}).{note}")
        return True
    services.store.update_run(
        run.id,
        state="failed",
        step=f"failed at {failure.step.name}",
        result={"error": failure.reason, "seconds": seconds, "deleted_pods": replaced},
    )
    await progress.update(ref, rollout.render() + f"\n❌ rollback failed after {took}")
    where = " see the thread for logs and events." if failure.details else ""
    await progress.reply(
        f"❌ Rollback of `{network}` failed at {failure.step.kind} `{failure.step.name}`: "
        f"{failure.reason}. This needs a person:{where or ' check the pods with kubectl.'}"
    )
    return False


@workflow("rollback")
async def resume_rollback(services: Services, run: Run) -> None:
    """Re-attach to a rollback the bot was running when it stopped."""
    progress, ref = resumed_progress(services, run)
    await progress.reply_in_thread(ref, "↻ The bot restarted; re-attached to this rollback.")
    await _carry_out(services, run, progress, ref)
