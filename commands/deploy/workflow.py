"""Deploys and rollbacks through CI (``deploy.driver: github-workflow``): the network's
deploy workflow is dispatched with the version and network as inputs, the run it
started is found and followed in one message with its link, and when it succeeds the
post-deploy gate runs the sanity checks. A failed run offers a rollback, which
dispatches the same workflow with the version deployed before.

A deploy here is the same durable ``deploy`` run as a Kubernetes one (history, locks
and ``status`` see it), with ``driver: github-workflow`` in its arguments; the run id
found is recorded, so a restarted bot follows the same run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.config import NetworkConfig
from bot.context import Context, Services
from bot.core import ConfirmRequest, MessageRef
from bot.errors import CommandError
from commands.common import WORKFLOWS, Progress
from commands.deploy.gate import after_rollout
from commands.deploy.rollout import elapsed
from commands.deploy.runs import start_run
from commands.versions import Version
from integrations.github_models import GitHubError, WorkflowRun
from state.records import Run

log = logging.getLogger("testnet_bot.deploy")
DRIVER = "github-workflow"
FIND_RUN_SECONDS = 120.0
"""How long a dispatched workflow may take to show its run."""


def uses_workflow(net: NetworkConfig) -> bool:
    """Whether the network deploys through a GitHub workflow."""
    return net.deploy.driver == DRIVER


def inputs_for(net: NetworkConfig, network: str, version: Version) -> dict[str, str]:
    """The workflow inputs of deploying ``version`` to ``network``."""
    fields = {"version": version.text, "semver": version.semver, "network": network}
    return {key: template.format(**fields) for key, template in net.deploy.inputs.items()}


def plan_text(net: NetworkConfig, network: str, version: Version, *, verb: str) -> str:
    """What dispatching will do, for the confirmation."""
    inputs = ", ".join(f"{k}={v}" for k, v in inputs_for(net, network, version).items())
    return (
        f"{verb} `{version}` on `{network}` by running the `{net.deploy.workflow}` workflow "
        f"on `{net.deploy.ref}` with {inputs}, then follow its run"
        + (" and run the post-deploy gate." if verb == "Deploy" else ".")
    )


def previous_version(services: Services, network: str) -> str | None:
    """The version the last successful deploy before the newest one left running."""
    deploys = services.store.recent_runs(kinds=["deploy"], network=network, limit=20)
    for run in deploys[1:]:
        if run.state == "succeeded" and "version" in run.args:
            return str(run.args["version"])
    return None


async def deploy_by_workflow(
    ctx: Context, network: str, net: NetworkConfig, version: Version
) -> bool:
    """Dispatch and follow a deploy; on failure offer the rollback; True on success."""
    ctx.services.need(WORKFLOWS)
    args = {
        "version": str(version),
        "driver": DRIVER,
        "inputs": inputs_for(net, network, version),
        "requested_by": ctx.actor_name,
    }
    title = f"🚀 Deploying `{version}` to `{network}` through `{net.deploy.workflow}`"
    run, ref = await start_run(ctx, kind="deploy", network=network, args=args, title=title)
    ok = await follow_workflow_run(ctx.services, run, ctx.invocation.responder, ref, title=title)
    if not ok:
        await _offer_rollback(ctx, network, net, run)
    return ok


async def rollback_by_workflow(
    ctx: Context, network: str, net: NetworkConfig, to: Version | None
) -> bool:
    """Dispatch the deploy workflow with the previous (or ``to``) version and follow it."""
    target = str(to) if to is not None else previous_version(ctx.services, network)
    if target is None:
        raise CommandError(
            f"No earlier successful deploy of `{network}` is recorded: name the version "
            f"with `/testnet rollback {network} --to <version>`."
        )
    version = Version.parse(target)
    args = {
        "version": str(version),
        "driver": DRIVER,
        "inputs": inputs_for(net, network, version),
        "requested_by": ctx.actor_name,
    }
    title = f"↩️ Rolling `{network}` back to `{version}` through `{net.deploy.workflow}`"
    run, ref = await start_run(ctx, kind="rollback", network=network, args=args, title=title)
    return await follow_workflow_run(
        ctx.services, run, ctx.invocation.responder, ref, title=title, gate=False
    )


async def _offer_rollback(ctx: Context, network: str, net: NetworkConfig, run: Run) -> None:
    previous = previous_version(ctx.services, network)
    progress = ctx.invocation.responder
    if previous is None:
        await progress.reply(f"No earlier deploy of `{network}` is recorded to roll back to.")
        return
    hint = f"`/testnet rollback {network}` redeploys `{previous}`."
    if not ctx.services.permissions.has(ctx.invocation.actor, "rollback"):
        await progress.reply(hint)
        return
    answer = await ctx.confirm(
        ConfirmRequest(
            command="rollback",
            plan=plan_text(net, network, Version.parse(previous), verb="Roll back to"),
            permission="rollback",
            requester=ctx.invocation.actor,
            approvals=net.approvals,
        )
    )
    if not answer.approved:
        await progress.reply(f"Not rolled back ({answer.reason}). {hint}")
        return
    await rollback_by_workflow(ctx, network, net, Version.parse(previous))


async def follow_workflow_run(
    services: Services,
    run: Run,
    progress: Progress,
    ref: MessageRef,
    *,
    title: str,
    gate: bool = True,
) -> bool:
    """Dispatch the run's workflow (unless that was done before a restart), find the
    run it started, follow it with its link in ``ref``, and (``gate``) run the
    post-deploy gate after a success. Records the outcome; True on success."""
    workflows = services.need(WORKFLOWS)
    net = services.config.networks[run.network or ""]
    driver = net.deploy
    store, clock = services.store, services.clock
    result: dict[str, Any] = dict(run.result)
    try:
        if "dispatched" not in result:
            seen = await workflows.list_workflow_runs(
                workflow=driver.workflow, event="workflow_dispatch", limit=20
            )
            result["before"] = [r.id for r in seen]
            await workflows.dispatch_workflow(
                str(driver.workflow), ref=driver.ref, inputs=dict(run.args["inputs"])
            )
            result["dispatched"] = clock()
            store.update_run(run.id, step="dispatched", result=result)
            await progress.update(ref, f"{title}\n⏳ dispatched; waiting for its run")
        current = await _follow(services, run, progress, ref, title, result)
    except GitHubError as exc:
        return await _finish(services, run, progress, ref, title, result, f"GitHub refused: {exc}")
    if current is None:
        reason = f"the workflow showed no run within {FIND_RUN_SECONDS:g}s"
        return await _finish(services, run, progress, ref, title, result, reason)
    if current.status != "completed":
        reason = f"the run was still {current.status} after {driver.run_timeout:g}s"
        return await _finish(services, run, progress, ref, title, result, reason)
    head = f"{title}\n{_line(current)}"
    if current.conclusion != "success":
        reason = f"the workflow run ended `{current.conclusion}`: {current.html_url}"
        return await _finish(services, run, progress, ref, head, result, reason)
    if gate:
        failure = await after_rollout(services, run, progress, ref, head)
        if failure is not None:
            return await _finish(services, run, progress, ref, head, result, failure.reason)
    return await _finish(services, run, progress, ref, head, result, None)


async def _follow(
    services: Services,
    run: Run,
    progress: Progress,
    ref: MessageRef,
    title: str,
    result: dict[str, Any],
) -> WorkflowRun | None:
    """Find the dispatched run (the newest one not seen before dispatching) and poll
    it with backoff until it completes or the driver's run timeout passes."""
    workflows = services.need(WORKFLOWS)
    driver = services.config.networks[run.network or ""].deploy
    clock = services.clock
    interval = driver.poll_interval
    found_by = float(result["dispatched"]) + FIND_RUN_SECONDS
    give_up = float(result["dispatched"]) + driver.run_timeout
    current: WorkflowRun | None = None
    while True:
        if "run_id" not in result:
            runs = await workflows.list_workflow_runs(
                workflow=driver.workflow, event="workflow_dispatch", limit=20
            )
            fresh = [r for r in runs if r.id not in set(result.get("before", []))]
            if fresh:
                current = fresh[0]
                result.update(run_id=current.id, url=current.html_url)
                services.store.update_run(run.id, step="following the workflow run", result=result)
            elif clock() > found_by:
                return None
        else:
            current = await workflows.get_workflow_run(int(result["run_id"]))
        if current is not None:
            await progress.update(ref, f"{title}\n{_line(current)}")
            if current.status == "completed":
                return current
        if clock() > give_up:
            return current
        await asyncio.sleep(interval)  # the workflow's own pace: poll, backing off
        interval = min(interval * 2, max(driver.poll_interval, 300.0))


def _line(current: WorkflowRun) -> str:
    if current.status != "completed":
        shown = "running" if current.status == "in_progress" else current.status
        return f"⏳ workflow run #{current.run_number} {shown}: {current.html_url}"
    icon = "✅" if current.conclusion == "success" else "❌"
    return f"{icon} workflow run #{current.run_number} {current.conclusion}: {current.html_url}"


async def _finish(
    services: Services,
    run: Run,
    progress: Progress,
    ref: MessageRef,
    head: str,
    result: dict[str, Any],
    failure: str | None,
) -> bool:
    took = elapsed(run.created_at)
    what = "Deploy" if run.kind == "deploy" else "Rollback"
    version, network = run.args["version"], run.network
    if failure is None:
        services.store.update_run(run.id, state="succeeded", step="done", result=result)
        await progress.update(ref, f"{head}\n✅ done in {took}")
        await progress.reply(f"✅ {what} of `{version}` to `{network}` succeeded in {took}.")
        return True
    services.store.update_run(
        run.id, state="failed", step="failed", result={**result, "error": failure}
    )
    await progress.update(ref, f"{head}\n❌ failed after {took}")
    await progress.reply(f"❌ {what} of `{version}` to `{network}` failed: {failure}.")
    return False


async def resume_workflow_run(
    services: Services, run: Run, progress: Progress, ref: MessageRef
) -> None:
    """Go on following a CI deploy or rollback after a restart."""
    net = services.config.networks.get(run.network or "")
    if net is None:
        services.store.update_run(run.id, state="failed", step="network gone")
        return
    what = "Deploying" if run.kind == "deploy" else "Rolling back to"
    title = f"{what} `{run.args['version']}` on `{run.network}` through `{net.deploy.workflow}`"
    await follow_workflow_run(services, run, progress, ref, title=title, gate=run.kind == "deploy")
