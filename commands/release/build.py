"""``release build``: push an empty commit to the release branch, find the release
workflow run the push started, and follow it to its end in one message.

The build is a durable run: the pushed commit and the run found are recorded, so a
restarted bot goes on following the same run.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from bot.context import Context, Services
from bot.core import MessageRef
from bot.errors import AlreadyReported, CommandError
from bot.registry import Help, command, workflow
from commands.common import resumed_progress
from commands.release.checklist import ICONS, run_row
from commands.release.tools import Progress, branch_name, mention, poll, short, tools
from commands.versions import Version
from integrations.git import GitError
from integrations.github_models import GitHubError, GitHubPermanentError, WorkflowRun
from state.records import Run

log = logging.getLogger("testnet_bot.release")


def _branch(ctx: Context, version: Version) -> str:
    return branch_name(ctx.config.release, tools(ctx).repo_name, version)


async def _plan(ctx: Context, *, version: Version) -> str:
    branch = _branch(ctx, version)
    try:
        ref = await tools(ctx).github.get_ref(f"heads/{branch}")
    except GitHubError as exc:
        raise CommandError(f"GitHub could not read the branches: {exc}") from None
    if ref is None:
        raise CommandError(
            f"Branch `{branch}` does not exist: `/testnet release start {version}` creates it."
        )
    workflow_file = ctx.config.release.workflow
    return (
        f"Push an empty commit to `{branch}` (now at `{short(ref.sha)}`) to start "
        f"`{workflow_file}`, and follow the run."
    )


@command("release build", permission="release", dangerous=True, plan=_plan)
async def release_build(
    ctx: Context,
    *,
    version: Annotated[Version, Help("Release, e.g. v0.62.0")],
) -> None:
    """Start the release workflow with an empty commit on the branch, and follow its run."""
    branch = _branch(ctx, version)
    kit = tools(ctx)
    config = ctx.config.release
    message = config.build_message.format(version=version.text, semver=version.semver)
    run = ctx.store.create_run(
        kind="release_build",
        network=None,
        args={
            "version": str(version),
            "branch": branch,
            "requested_by": ctx.actor_name,
            "mention": mention(ctx.invocation.actor),
        },
        owner=ctx.actor_name,
    )
    ref = await ctx.reply(_title(run))
    run = ctx.store.update_run(
        run.id,
        state="running",
        step="pushing",
        reply_to={"destination": ref.destination, "message_key": ref.key},
    )
    async with kit.git_lock:
        try:
            repo = await kit.open_clone()
            await repo.checkout_branch(branch)
            sha = await repo.commit_empty(message)
            await repo.push(branch)
        except GitError as exc:
            reason = f"git could not push the empty commit to `{branch}`: {exc}"
            ctx.store.update_run(run.id, state="failed", step="push", result={"error": reason})
            raise CommandError(reason) from None
    pushed = {"sha": sha, "pushed_at": ctx.services.clock()}
    run = ctx.store.update_run(run.id, step="finding the run", result=pushed)
    await ctx.update(ref, _title(run) + f"\n⏳ waiting for `{config.workflow}` to start")
    if not await follow_build(ctx.services, run, ctx.invocation.responder, ref):
        raise AlreadyReported(f"release build of {version} did not succeed")


def _title(run: Run) -> str:
    sha = run.result.get("sha")
    what = f"pushed `{short(str(sha))}` to" if sha else "pushing an empty commit to"
    return (
        f"🏗️ Building `{run.args['version']}`: {what} `{run.args['branch']}` "
        f"(requested by {run.owner})"
    )


async def follow_build(services: Services, run: Run, progress: Progress, ref: MessageRef) -> bool:
    """Find the workflow run the build's push started and follow it to its end,
    editing the progress message; True when it succeeded."""
    kit = tools(services)
    config = services.config.release
    store, clock = services.store, services.clock
    state: dict[str, WorkflowRun | None] = {"run": None}
    refused: dict[str, str] = {}
    result: dict[str, Any] = dict(run.result)
    found_by = float(result.get("pushed_at", run.created_at)) + config.find_run_timeout

    async def step() -> bool:
        run_id = result.get("run_id")
        try:
            if run_id is None:
                runs = await kit.github.list_workflow_runs(
                    workflow=config.workflow,
                    branch=str(run.args["branch"]),
                    head_sha=str(result["sha"]),
                    limit=5,
                )
                if not runs:
                    return clock() > found_by
                result.update(run_id=runs[0].id, url=runs[0].html_url)
                store.update_run(run.id, step="following the run", result=result)
                current = runs[0]
            else:
                current = await kit.github.get_workflow_run(int(run_id))
        except GitHubPermanentError as exc:
            refused["reason"] = f"GitHub refused: {exc}"
            return True
        except GitHubError as exc:  # rate limited, GitHub or the network failing: retry
            log.warning("release build %s: %s", run.id, exc, extra={"event": "release_poll"})
            return False
        state["run"] = current
        row = run_row(current)
        await progress.update(ref, f"{_title(run)}\n{ICONS[row.state]} {row.detail}")
        return current.status == "completed"

    finished = await poll(
        kit,
        step,
        first=config.watch_interval,
        most=config.watch_max_interval,
        until=run.created_at + config.watch_timeout,
        clock=clock,
    )
    current = state["run"]
    who = str(run.args.get("mention") or run.owner)
    version = run.args["version"]
    if "reason" in refused:
        reason = refused["reason"]
        store.update_run(run.id, state="failed", step="refused", result={**result, "error": reason})
        await progress.reply(f"❌ {who} cannot follow the build of `{version}`: {reason}")
        return False
    if current is None:
        reason = (
            f"no run of `{config.workflow}` started within {config.find_run_timeout:g}s of the push"
        )
        store.update_run(run.id, state="failed", step="no run", result={**result, "error": reason})
        await progress.reply(
            f"❌ {who} building `{version}`: {reason}. Is the workflow triggered by pushes "
            f"to `{run.args['branch']}`? (`release.workflow`)"
        )
        return False
    if not finished:
        store.update_run(run.id, state="failed", step="timed out", result=result)
        await progress.reply(
            f"⚠️ {who} the release workflow of `{version}` is still {current.status} after "
            f"{config.watch_timeout:g}s; I stopped following it: {current.html_url}"
        )
        return False
    ok = current.conclusion == "success"
    store.update_run(
        run.id,
        state="succeeded" if ok else "failed",
        step="done",
        result={**result, "conclusion": current.conclusion},
    )
    if ok:
        await progress.reply(
            f"✅ {who} the release workflow of `{version}` succeeded: {current.html_url}. "
            f"`/testnet release status {version} --watch` follows the artifacts."
        )
    else:
        await progress.reply(
            f"❌ {who} the release workflow of `{version}` ended `{current.conclusion}`: "
            f"{current.html_url}"
        )
    return ok


@workflow("release_build")
async def resume_build(services: Services, run: Run) -> None:
    """Go on following a release build's workflow run after a restart."""
    progress, ref = resumed_progress(services, run)
    if "sha" not in run.result:
        reason = "the bot stopped while pushing the empty commit"
        services.store.update_run(run.id, state="failed", step="push", result={"error": reason})
        await progress.reply(
            f"⚠️ {reason} to `{run.args['branch']}`: look at the branch, and run "
            f"`/testnet release build {run.args['version']}` again if the commit is not there."
        )
        return
    await follow_build(services, run, progress, ref)
