"""``release status``: the release's checklist, once or (``--watch``) kept up to date in
one message until it is all green or the release workflow fails, then the requester is
mentioned. A watch is a durable run: a restarted bot resumes it."""

from __future__ import annotations

from typing import Annotated

from bot.context import Context, Services
from bot.core import MessageRef
from bot.registry import Help, command, workflow
from commands.common import resumed_progress
from commands.release.checklist import Checklist, build_checklist
from commands.release.tools import Progress, branch_name, mention, poll, tools
from commands.versions import Version
from state.records import Run


@command("release status")
async def release_status(
    ctx: Context,
    *,
    version: Annotated[Version, Help("Release, e.g. v0.62.0")],
    watch: Annotated[bool, Help("Keep the checklist up to date until it is all green")] = False,
) -> None:
    """Check a release's artifacts: workflow run, notes, assets, npm packages, images, docs.

    The checks run at the same time, each with a timeout. With --watch the checklist is
    edited in place until everything is there or the release workflow fails, and the
    requester is mentioned at the end.
    """
    kit = tools(ctx)
    branch = branch_name(ctx.config.release, kit.repo_name, version)
    if not watch:
        checklist = await build_checklist(ctx.services, kit, version)
        await ctx.reply(checklist.text(_title(str(version), branch)))
        return
    run = ctx.store.create_run(
        kind="release_watch",
        network=None,
        args={
            "version": str(version),
            "branch": branch,
            "requested_by": ctx.actor_name,
            "mention": mention(ctx.invocation.actor),
        },
        owner=ctx.actor_name,
    )
    ref = await ctx.reply(f"{_title(str(version), branch)} — checking…")
    run = ctx.store.update_run(
        run.id, state="running", reply_to={"destination": ref.destination, "message_key": ref.key}
    )
    await watch_release(ctx.services, run, ctx.invocation.responder, ref)


def _title(version: str, branch: str) -> str:
    return f"📦 Release `{version}` (`{branch}`)"


async def watch_release(services: Services, run: Run, progress: Progress, ref: MessageRef) -> bool:
    """Re-check the release with backoff (a GitHub webhook cuts a wait short), editing
    the message, until all is green or the workflow failed; True when green."""
    kit = tools(services)
    config = services.config.release
    version = Version.parse(str(run.args["version"]))
    title = _title(str(version), str(run.args["branch"]))
    last: dict[str, Checklist] = {}

    async def step() -> bool:
        checklist = await build_checklist(services, kit, version)
        last["checklist"] = checklist
        await progress.update(ref, checklist.text(title))
        return checklist.green or checklist.failed

    ended = await poll(
        kit,
        step,
        first=config.watch_interval,
        most=config.watch_max_interval,
        until=run.created_at + config.watch_timeout,
        clock=services.clock,
    )
    checklist = last["checklist"]
    who = str(run.args.get("mention") or run.owner)
    if ended and checklist.green:
        services.store.update_run(run.id, state="succeeded", step="green")
        await progress.reply(f"✅ {who} release `{version}` is all green: {checklist.summary()}.")
        return True
    waiting = [r.item for r in checklist.table_rows() if r.state != "ok"]
    shown = ", ".join(waiting[:8]) + (" …" if len(waiting) > 8 else "")
    if ended:
        services.store.update_run(run.id, state="failed", step="workflow failed")
        await progress.reply(f"❌ {who} release `{version}` failed: {shown}.")
    else:
        services.store.update_run(run.id, state="failed", step="timed out")
        await progress.reply(
            f"⚠️ {who} gave up watching `{version}` after {config.watch_timeout:g}s; "
            f"still missing: {shown}."
        )
    return False


@workflow("release_watch")
async def resume_watch(services: Services, run: Run) -> None:
    """Resume watching a release's checklist after a restart."""
    progress, ref = resumed_progress(services, run)
    await watch_release(services, run, progress, ref)
