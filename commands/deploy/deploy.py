"""``/testnet deploy``: roll a release's images out, watch it, report, offer rollback.

Every deploy is a durable run: its plan, the exact previous images and how far it
got are in the database, so a restarted bot re-attaches and finishes the report.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

from bot.config import NetworkConfig
from bot.context import Context, Services
from bot.core import ConfirmRequest, MessageRef
from bot.errors import AlreadyReported, CommandError
from bot.registry import Help, command, workflow
from commands.common import kube_for
from commands.deploy.gate import after_rollout
from commands.deploy.image_tags import TagPlan, check_image, choose_tag
from commands.deploy.rollback import RestorePlan, execute_rollback, steps_to_restore
from commands.deploy.rollout import Progress, Step, describe_plan, elapsed, plan_steps
from commands.deploy.runs import check_network_free, resumed_progress, roll_run, start_run
from commands.deploy.versions import Version
from integrations.kube_models import KubeError
from state.records import Run

log = logging.getLogger("testnet_bot.deploy")


async def _plan(
    ctx: Context,
    *,
    version: Version,
    network: str | None = None,
    canary: bool = False,
    dry_run: bool = False,
    skip_image_check: bool = False,
) -> str:
    name, net = ctx.network(network)
    check_network_free(ctx, name)
    steps, tags = await _release_steps(ctx, net, version, canary=canary, doing="plan the deploy")
    hint = f"/testnet deploy {version}" + (f" {network}" if network else "")
    hint += " --canary" if canary else ""
    await check_image(ctx.services, net, steps, tags, skip=skip_image_check, retry_hint=hint)
    how = " with a canary first" if canary else ""
    head = f"Deploy `{version}` to `{name}` (namespace `{net.namespace}`){how}:"
    return "\n".join([head, *describe_plan(steps), *tags.warnings])


async def _release_steps(
    ctx: Context, net: NetworkConfig, version: Version, *, canary: bool, doing: str
) -> tuple[list[Step], TagPlan]:
    """What each workload runs now and would run at ``version``'s tag."""
    kube = await kube_for(ctx.services, net)
    try:
        steps = await plan_steps(kube, net, "", canary=canary)
    except KubeError as exc:
        raise CommandError(f"Cannot {doing}: {exc}") from None
    return steps, choose_tag(net, version, steps)


@command("deploy", permission="deploy", dangerous=True, plan=_plan)
async def deploy(
    ctx: Context,
    *,
    version: Annotated[Version, Help("Release to deploy, e.g. v0.62.0 or 0.62.0")],
    network: Annotated[str | None, Help("Network (default: the only or default one)")] = None,
    canary: Annotated[bool, Help("Update one pod of each canary StatefulSet first")] = False,
    dry_run: Annotated[bool, Help("Show the plan; change nothing")] = False,
    skip_image_check: Annotated[
        bool, Help("Deploy even if the image's registry cannot be asked")
    ] = False,
) -> None:
    """Roll a release out to a network and watch it.

    Shows the plan (each workload's current and new image) and asks for approval;
    records the exact previous images; rolls the workloads in the configured order,
    updating one message with progress; on failure reports the failing pods with
    their logs and events and offers a rollback.
    """
    name, net = ctx.network(network)
    if dry_run:
        plan = await _plan(
            ctx,
            version=version,
            network=network,
            canary=canary,
            skip_image_check=skip_image_check,
        )
        await ctx.reply(f"{plan}\n(dry run: nothing was changed)")
        return
    check_network_free(ctx, name)
    # The plan (shown for approval) checked the image; this re-reads what runs now.
    steps, tags = await _release_steps(ctx, net, version, canary=canary, doing="start the deploy")
    tag = tags.tag
    args = {
        "version": str(version),
        "tag": tag,
        "canary": canary,
        "steps": [s.as_json() for s in steps],
        "requested_by": ctx.actor_name,
    }
    title = f"🚀 Deploying `{version}` to `{name}` (requested by {ctx.actor_name})"
    run, ref = await start_run(ctx, kind="deploy", network=name, args=args, title=title)
    if not await execute_deploy(ctx.services, run, ctx.invocation.responder, ref, ctx=ctx):
        raise AlreadyReported(f"deploy of {version} failed")


async def execute_deploy(
    services: Services,
    run: Run,
    progress: Progress,
    ref: MessageRef,
    *,
    ctx: Context | None = None,
) -> bool:
    """Carry a deploy run to its end (from wherever it got to); True on success.

    With ``ctx`` (a live command) a failure offers rollback to the person who asked;
    a resumed run just reports.
    """
    name = run.network or ""
    title = f"🚀 Deploying `{run.args['version']}` to `{name}` (requested by {run.owner})"
    rollout, failure = await roll_run(services, run, progress, ref, title=title)
    steps = rollout.steps
    if failure is None:  # the post-deploy gate's verdict is the deploy's
        failure = await after_rollout(services, run, progress, ref, rollout.render())
    took = elapsed(run.created_at)
    if failure is None:
        services.store.update_run(
            run.id,
            state="succeeded",
            step="done",
            result={
                "done": [s.name for s in steps],
                "seconds": round(time.time() - run.created_at, 1),
            },
        )
        pods = sum(s.replicas for s in steps)
        await progress.update(ref, rollout.render() + f"\n✅ live in {took}")
        await progress.reply(
            f"✅ Deployed `{run.args['version']}` to `{name}` in {took}: {len(steps)} workloads, "
            f"{pods} pods. The previous images are recorded: "
            f"`/testnet rollback {name}` restores them."
        )
        return True
    services.store.update_run(
        run.id,
        state="failed",
        step=f"failed at {failure.step.name}",
        result={
            "done": [s.name for s in steps if s.state == "done"],
            "error": failure.reason,
            "seconds": round(time.time() - run.created_at, 1),
        },
    )
    await progress.update(ref, rollout.render() + f"\n❌ failed after {took}")
    evidence = " Logs and events are in the thread." if failure.details else ""
    await progress.reply(
        f"❌ Deploy of `{run.args['version']}` to `{name}` failed at {failure.step.kind} "
        f"`{failure.step.name}`: {failure.reason}.{evidence}"
    )
    await _after_failure(services, run, progress, ctx)
    return False


async def _after_failure(
    services: Services, run: Run, progress: Progress, ctx: Context | None
) -> None:
    name = run.network or ""
    net = services.config.networks[name]
    try:
        restore = await steps_to_restore(services, run)
    except KubeError as exc:
        await progress.reply(f"Cannot plan the rollback of `{name}`: {exc}")
        return
    if not restore.steps:
        await progress.reply(f"Nothing to roll back: the deploy changed nothing on `{name}`.")
        return
    steps = restore.steps
    if net.auto_rollback:
        await progress.reply(f"↩️ Rolling `{name}` back to the previous images (auto_rollback).")
        await execute_rollback(
            services, name, steps, progress, owner="auto_rollback", deploy_run=run
        )
        return
    hint = f"Run `/testnet rollback {name}` to restore the previous images."
    if ctx is None or not services.permissions.has(ctx.invocation.actor, "rollback"):
        await progress.reply(hint)
        return
    plan = _rollback_question(name, restore)
    answer = await ctx.confirm(
        ConfirmRequest(
            command="rollback",
            plan=plan,
            permission="rollback",
            requester=ctx.invocation.actor,
            approvals=net.approvals,
        )
    )
    if not answer.approved:
        await progress.reply(f"Not rolled back ({answer.reason}). {hint}")
        return
    await execute_rollback(services, name, steps, progress, owner=ctx.actor_name, deploy_run=run)


def _rollback_question(name: str, restore: RestorePlan) -> str:
    return "\n".join([f"Roll `{name}` back to the images it ran before?", *restore.lines])


@workflow("deploy")
async def resume_deploy(services: Services, run: Run) -> None:
    """Re-attach to a deploy the bot was running when it stopped, and finish it."""
    progress, ref = resumed_progress(services, run)
    await progress.reply_in_thread(ref, "↻ The bot restarted; re-attached to this deploy.")
    await execute_deploy(services, run, progress, ref)
