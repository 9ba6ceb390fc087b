"""``/testnet rollback``: put back the images a network ran before its last deploy
(or those of an earlier version), with the same watcher and report as deploy."""

from __future__ import annotations

import time
from typing import Annotated

from bot.context import Context, Services
from bot.core import MessageRef
from bot.errors import AlreadyReported, CommandError
from bot.registry import Help, Option, command, workflow
from commands.rollout import Progress, Step, describe_plan, elapsed
from commands.runs import check_network_free, kube_for, resumed_progress, roll_run, start_run
from commands.versions import Version
from integrations.kube_models import KubeError
from state.records import Run


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


async def _current(ctx: Context, network: str, steps: list[Step]) -> list[Step]:
    """``steps`` with ``before`` set to what the workloads run now."""
    net = ctx.config.networks[network]
    kube = await kube_for(ctx.services, net)
    out = []
    for step in steps:
        workload = await kube.get_workload(net.namespace, step.kind, step.name)
        running = {c.name: c.image for c in (*workload.containers, *workload.init_containers)}
        before = {c: running.get(c, "?") for c in step.after}
        out.append(Step(step.kind, step.name, workload.replicas, False, before, step.after))
    return out


async def _plan(ctx: Context, *, network: str | None = None, to: Version | None = None) -> str:
    name, _ = ctx.network(network)
    check_network_free(ctx, name)
    what, steps = _target(ctx, name, to)
    try:
        steps = await _current(ctx, name, steps)
    except KubeError as exc:
        raise CommandError(f"Cannot plan the rollback: {exc}") from None
    return "\n".join([f"Roll `{name}` back to {what}:", *describe_plan(steps)])


@command("rollback", permission="rollback", dangerous=True, plan=_plan)
async def rollback(
    ctx: Context,
    *,
    network: Annotated[str | None, Help("Network (default: the only or default one)")] = None,
    to: Annotated[Version | None, Option, Help("An earlier version to go back to")] = None,
) -> None:
    """Restore the images from before the last deploy, or those of --to <version>."""
    name, _ = ctx.network(network)
    check_network_free(ctx, name)
    _, steps = _target(ctx, name, to)
    try:
        steps = await _current(ctx, name, steps)
    except KubeError as exc:
        raise CommandError(f"Cannot start the rollback: {exc}") from None
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
    if failure is None:
        services.store.update_run(
            run.id,
            state="succeeded",
            step="done",
            result={"done": [s.name for s in steps], "seconds": seconds},
        )
        deploy_id = run.args.get("deploy_run")
        if deploy_id:
            deploy = services.store.get_run(str(deploy_id))
            if deploy is not None and deploy.state == "failed":
                services.store.update_run(deploy.id, state="rolled_back")
        await progress.update(ref, rollout.render() + f"\n✅ rolled back in {took}")
        await progress.reply(f"✅ `{network}` is back on its previous images ({took}).")
        return True
    services.store.update_run(
        run.id,
        state="failed",
        step=f"failed at {failure.step.name}",
        result={"error": failure.reason, "seconds": seconds},
    )
    await progress.update(ref, rollout.render() + f"\n❌ rollback failed after {took}")
    await progress.reply(
        f"❌ Rollback of `{network}` failed at {failure.step.kind} `{failure.step.name}`: "
        f"{failure.reason}. This needs a person: see the thread for logs and events."
    )
    return False


@workflow("rollback")
async def resume_rollback(services: Services, run: Run) -> None:
    """Re-attach to a rollback the bot was running when it stopped."""
    progress, ref = resumed_progress(services, run)
    await progress.reply_in_thread(ref, "↻ The bot restarted; re-attached to this rollback.")
    await _carry_out(services, run, progress, ref)
