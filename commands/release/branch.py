"""``release check``, ``release start`` and ``release cherry-pick``: the pull requests a
release waits for, its branch, and the fixes picked onto it.

Everything a command needs is checked before anything changes: a malformed version is
refused by the argument parser, an existing branch, an unknown or unmerged pull request
before the branch is touched, and a conflicting pick is undone before anything is pushed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Annotated, TypeVar

from bot.context import Context
from bot.errors import CommandError, UsageError
from bot.registry import Help, Option, Rest, command
from commands.release.tools import branch_name, short, tools
from commands.versions import Version
from integrations.git import CherryPickConflict, CherryPickEmpty, GitError
from integrations.github_models import Commit, GitHubError
from state.records import Run

_PR = re.compile(r"#?([1-9]\d{0,8})")
_SHA = re.compile(r"[0-9a-f]{7,40}")
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")
MAX_PICKS = 50
T = TypeVar("T")


def _branch(ctx: Context, version: Version) -> str:
    return branch_name(ctx.config.release, tools(ctx).repo_name, version)


async def _github(what: str, call: Awaitable[T]) -> T:
    """Await a GitHub call; a GitHub failure becomes a :class:`CommandError` saying what
    could not be done."""
    try:
        return await call
    except GitHubError as exc:
        raise CommandError(f"GitHub could not {what}: {exc}") from None


@command("release check", permission="release")
async def release_check(
    ctx: Context,
    *,
    version: Annotated[Version, Help("Release, e.g. v0.62.0")],
) -> None:
    """List the pull requests that must be merged before a release is cut.

    They are found with the configured GitHub search (`release.required_prs`); the
    open ones are listed with links.
    """
    hub = tools(ctx).github
    query = ctx.config.release.required_prs
    if query is None:
        raise CommandError(
            "No required pull requests are configured: set `release.required_prs` to a "
            "GitHub search such as `label:release-blocker milestone:{version}`."
        )
    wanted = query.format(version=version.text, semver=version.semver)
    pulls = await _github("search the pull requests", hub.search_pulls(wanted, limit=200))
    waiting = sorted((p for p in pulls if not p.merged), key=lambda p: p.number)
    if not pulls:
        await ctx.reply(f"No pull request matches `{wanted}`: nothing holds `{version}` back.")
    elif not waiting:
        await ctx.reply(f"✅ All {len(pulls)} required pull requests for `{version}` are merged.")
    else:
        lines = [f"⏳ {len(waiting)} of {len(pulls)} required pull requests are not merged:"]
        lines += [f"• #{p.number} {p.title} ({p.state}) {p.html_url}" for p in waiting]
        await ctx.reply("\n".join(lines))


async def _start_plan(ctx: Context, *, version: Version, from_ref: str | None = None) -> str:
    branch = _branch(ctx, version)
    hub = tools(ctx).github
    if await _github("read the branches", hub.get_ref(f"heads/{branch}")) is not None:
        raise CommandError(f"Branch `{branch}` exists already: `{version}` has been started.")
    start, head = await _start_point(ctx, from_ref)
    subject = head.message.splitlines()[0] if head.message else ""
    return f"Create branch `{branch}` at {start}: `{short(head.sha)}` {subject}"


async def _start_point(ctx: Context, from_ref: str | None) -> tuple[str, Commit]:
    """Where a release branch starts (described) and the commit there."""
    release = ctx.config.release
    hub = tools(ctx).github
    if from_ref is None:
        where = release.default_branch
        return f"the head of `{where}`", await _github(f"read `{where}`", hub.get_commit(where))
    if not _REF.fullmatch(from_ref) or ".." in from_ref:
        raise UsageError(f"`{from_ref[:40]}` is not a branch, tag or commit name.")
    return f"`{from_ref}`", await _github(f"find `{from_ref}`", hub.get_commit(from_ref))


@command("release start", permission="release", dangerous=True, plan=_start_plan)
async def release_start(
    ctx: Context,
    *,
    version: Annotated[Version, Help("Release, e.g. v0.62.0")],
    from_ref: Annotated[
        str | None, Option, Help("Tag, branch or commit to cut from (default: the default branch)")
    ] = None,
) -> None:
    """Create a release's branch at the head of the default branch (or at --from-ref)."""
    branch = _branch(ctx, version)
    hub = tools(ctx).github
    start, head = await _start_point(ctx, from_ref)
    if await _github("read the branches", hub.get_ref(f"heads/{branch}")) is not None:
        raise CommandError(f"Branch `{branch}` exists already: `{version}` has been started.")
    run = _begin(ctx, "release_start", version, branch=branch, sha=head.sha)
    try:
        await _github(f"create `{branch}`", hub.create_ref(f"refs/heads/{branch}", head.sha))
    except CommandError as exc:
        ctx.store.update_run(run.id, state="failed", step="create", result={"error": str(exc)})
        raise
    ctx.store.update_run(run.id, state="succeeded", step="done")
    await ctx.reply(
        f"🌱 Created `{branch}` at `{short(head.sha)}` ({start}). "
        f"Next: `/testnet release cherry-pick {version} <pr>...`, then "
        f"`/testnet release build {version}`."
    )


@command("release cherry-pick", permission="release")
async def release_cherry_pick(
    ctx: Context,
    *,
    version: Annotated[Version, Help("Release, e.g. v0.62.0")],
    changes: Annotated[str, Rest, Help("Merged pull requests (#123 or 123) or commit shas")],
) -> None:
    """Pick merged pull requests' commits onto a release branch (with -x) and push.

    Every pull request must be merged; a conflict undoes every pick of the command,
    leaves the branch as it was and names the conflicting files.
    """
    words = changes.replace(",", " ").split()
    if not words:
        raise UsageError("Name at least one pull request or commit to pick.")
    if len(words) > MAX_PICKS:
        raise UsageError(f"At most {MAX_PICKS} changes at a time.")
    branch = _branch(ctx, version)
    kit = tools(ctx)
    if await _github("read the branches", kit.github.get_ref(f"heads/{branch}")) is None:
        raise CommandError(
            f"Branch `{branch}` does not exist: `/testnet release start {version}` creates it."
        )
    picks = [await _resolve(ctx, word) for word in words]
    run = _begin(ctx, "release_cherry_pick", version, branch=branch, picks=[s for _, s in picks])
    try:
        before, new = await _pick(ctx, branch, picks)
    except CommandError as exc:
        ctx.store.update_run(run.id, state="failed", step="pick", result={"error": str(exc)})
        raise
    ctx.store.update_run(
        run.id, state="succeeded", step="done", result={"before": before, "picked": new}
    )
    lines = [f"🍒 Picked {len(new)} change(s) onto `{branch}` and pushed:"]
    lines += [f"• {label} → `{short(sha)}`" for (label, _), sha in zip(picks, new, strict=True)]
    await ctx.reply("\n".join(lines))


async def _pick(ctx: Context, branch: str, picks: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """Pick ``picks`` onto ``branch`` in the clone and push; return the branch's head
    before and the new commits. A conflict or an empty pick changes nothing."""
    kit = tools(ctx)
    async with kit.git_lock:
        try:
            repo = await kit.open_clone()
            before = await repo.checkout_branch(branch)
            new = await repo.cherry_pick([sha for _, sha in picks])
            await repo.push(branch)
        except CherryPickConflict as exc:
            label = _label_of(picks, exc.sha)
            files = ", ".join(f"`{f}`" for f in exc.files)
            raise CommandError(
                f"❌ {label} conflicts with `{branch}` in {files}. Nothing was picked or "
                "pushed; the branch is as it was. Pick what it depends on first, or by hand."
            ) from None
        except CherryPickEmpty as exc:
            raise CommandError(
                f"{_label_of(picks, exc.sha)} changes nothing on `{branch}` (already picked?). "
                "Nothing was pushed."
            ) from None
        except GitError as exc:
            raise CommandError(f"git could not pick onto `{branch}`: {exc}") from None
    return before, new


async def _resolve(ctx: Context, word: str) -> tuple[str, str]:
    """``(label, sha)`` to pick for a pull request number or a commit sha; refuses an
    unknown or unmerged pull request."""
    hub = tools(ctx).github
    if match := _PR.fullmatch(word):
        number = int(match.group(1))
        pull = await _github(f"read pull request #{number}", hub.get_pull(number))
        if pull is None:
            raise CommandError(f"#{number} is not a pull request of {tools(ctx).repo}.")
        if not pull.merged or not pull.merge_commit_sha:
            raise CommandError(
                f"#{number} ({pull.title}) is not merged: only merged pull requests are picked."
            )
        return f"#{number} {pull.title}", pull.merge_commit_sha
    if _SHA.fullmatch(word.lower()):
        commit = await _github(f"find commit {word}", hub.get_commit(word.lower()))
        subject = commit.message.splitlines()[0] if commit.message else ""
        return f"`{short(commit.sha)}` {subject}", commit.sha
    raise UsageError(f"`{word[:40]}` is neither a pull request number nor a commit sha.")


def _label_of(picks: list[tuple[str, str]], sha: str) -> str:
    return next((label for label, s in picks if s == sha), f"`{short(sha)}`")


def _begin(ctx: Context, kind: str, version: Version, **details: object) -> Run:
    """Record a release command that is about to change the repository as a running
    run (history and audit; one the bot stopped in is marked interrupted at start-up)."""
    run = ctx.store.create_run(
        kind=kind,
        network=None,
        args={"version": str(version), "requested_by": ctx.actor_name, **details},
        owner=ctx.actor_name,
    )
    return ctx.store.update_run(run.id, state="running", step="started")
