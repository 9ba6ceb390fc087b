"""The release runbook through the bot: start → cherry-pick → build against a real bare
repository and the GitHub fake over it, and every refusal changing nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app import Bot
from bot.core import Outcome
from tests.fakes.git_remote import BASE_TAG, CONFLICT_FILE
from tests.fakes.github_api import FakeWorkflowRun
from tests.harness import ShellBot, make_config, wait_until
from tests.integration.release_harness import BRANCH, WORKFLOW, ReleaseWorld, release_world

CHERRY = "(cherry picked from commit {})"


async def run_of_new_head(world: ReleaseWorld, old_head: str) -> FakeWorkflowRun:
    """The release workflow run of the branch's head once it has moved past ``old_head``."""

    def found() -> FakeWorkflowRun | None:
        head = world.remote.rev(BRANCH)
        runs = [r for r in world.gh.runs_of(WORKFLOW) if r.head_sha == head != old_head]
        return runs[0] if runs else None

    await wait_until(lambda: found() is not None, what="the run of the pushed commit")
    run = found()
    assert run is not None
    return run


async def test_start_then_two_picks_then_build_leave_the_history_git_shows(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        remote, gh = world.remote, world.gh
        gh.add_pull(
            101, "fix: p2p reconnects after a peer drops", merge_commit_sha=remote.merges[101]
        )
        gh.add_pull(103, "fix(docs): sandbox install steps", merge_commit_sha=remote.squashes[103])
        async with ShellBot(world.config()) as bot:
            out = await bot.say(f"release start v0.62.0 --from-ref {BASE_TAG}", answer="y")
            assert f"Created `{BRANCH}`" in out, out
            assert remote.rev(BRANCH) == remote.base

            out = await bot.say("release cherry-pick v0.62.0 #101 103")
            assert "Picked 2 change(s)" in out, out
            history = remote.log(BRANCH, 3)
            assert CHERRY.format(remote.squashes[103]) in history[0][1]
            assert CHERRY.format(remote.merges[101]) in history[1][1]
            assert history[2][0] == remote.base
            picked_head = remote.rev(BRANCH)

            assert len(gh.runs_of(WORKFLOW)) == 2  # creating the branch and the picks' push

            build = asyncio.create_task(bot.say("release build v0.62.0", answer="y"))
            run = await run_of_new_head(world, picked_head)
            assert run is not None and run.head_branch == BRANCH and run.event == "push"
            gh.move_run(run.id, "in_progress")
            gh.move_run(run.id, "completed", "success")
            out = await asyncio.wait_for(build, 10)
            assert "release workflow of `v0.62.0` succeeded" in out, out
            assert f"actions/runs/{run.id}" in out
            builds = bot.store.recent_runs(kinds=["release_build"])
            assert [r.state for r in builds] == ["succeeded"]
            assert builds[0].result["run_id"] == run.id

        sha, message, parents = remote.log(BRANCH, 1)[0]
        assert message == "chore: release v0.62.0"
        assert parents == [picked_head]
        assert run.head_sha == sha


async def test_a_failed_release_workflow_is_reported_with_its_link(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        gh = world.gh
        async with ShellBot(world.config()) as bot:
            await bot.say("release start v0.62.0", answer="y")
            started = world.remote.rev(BRANCH)
            build = asyncio.create_task(bot.say("release build v0.62.0", answer="y"))
            run = await run_of_new_head(world, started)
            gh.move_run(gh.runs_of(WORKFLOW)[-1].id, "completed", "success")  # the branch's own
            gh.move_run(run.id, "completed", "failure")
            out = await asyncio.wait_for(build, 10)
            assert "ended `failure`" in out and f"actions/runs/{run.id}" in out, out
            assert bot.last_outcome == Outcome.FAILED


async def test_a_conflicting_pick_leaves_the_branch_exactly_as_before_and_names_the_file(
    tmp_path: Path,
) -> None:
    async with release_world(tmp_path) as world:
        remote, gh = world.remote, world.gh
        gh.add_pull(101, "fix: p2p reconnects", merge_commit_sha=remote.merges[101])
        gh.add_pull(106, "fix: raise the default peer limit", merge_commit_sha=remote.conflicting)
        async with ShellBot(world.config()) as bot:
            await bot.say(f"release start v0.62.0 --from-ref {BASE_TAG}", answer="y")
            before = remote.rev(BRANCH)
            out = await bot.say("release cherry-pick v0.62.0 101 106")
            assert CONFLICT_FILE in out and "#106" in out, out
            assert "the branch is as it was" in out
            assert remote.rev(BRANCH) == before
            picks = bot.store.recent_runs(kinds=["release_cherry_pick"])
            assert [r.state for r in picks] == ["failed"] and CONFLICT_FILE in picks[0].result[
                "error"
            ]
            # the good pick alone still goes through afterwards: the clone was left clean
            out = await bot.say("release cherry-pick v0.62.0 101")
            assert "Picked 1 change(s)" in out, out
            assert remote.log(BRANCH, 2)[1][0] == before


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("release cherry-pick v0.62.0 104", "#104 (feat: typed config loader) is not merged"),
        ("release cherry-pick v0.62.0 101 999", "#999 is not a pull request"),
        ("release cherry-pick v0.62.0 101 'rm -rf'", "neither a pull request number nor a commit"),
        ("release start v0.62.0", f"Branch `{BRANCH}` exists already"),
        ("release start v0.62", "is not a release version"),
        ("release start 'v0.62.0;rm -rf /'", "is not a release version"),
        ("release build v0.63.0", "does not exist"),
        ("release cherry-pick v0.63.0 101", "does not exist"),
    ],
)
async def test_refused_before_anything_changes(tmp_path: Path, command: str, says: str) -> None:
    async with release_world(tmp_path) as world:
        remote, gh = world.remote, world.gh
        gh.add_pull(101, "fix: p2p reconnects", merge_commit_sha=remote.merges[101])
        gh.add_pull(104, "feat: typed config loader")
        async with ShellBot(world.config()) as bot:
            await bot.say(f"release start v0.62.0 --from-ref {BASE_TAG}", answer="y")
            branches, head = remote.branches(), remote.rev(BRANCH)
            writes = gh.count("POST")
            out = await bot.say(command, answer="y")
            assert says in out, out
            assert remote.branches() == branches
            assert remote.rev(BRANCH) == head
            assert gh.count("POST") == writes
            assert len(gh.runs_of(WORKFLOW)) == 1  # the branch's creation only


async def test_without_the_release_permission_nothing_runs(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        remote, gh = world.remote, world.gh
        config = world.config().model_copy(
            update={
                "chat": world.config().chat.model_copy(
                    update={"shell": world.config().chat.shell.model_copy(update={"roles": []})}
                )
            }
        )
        async with ShellBot(config) as bot:
            for command in (
                "release start v0.62.0",
                "release cherry-pick v0.62.0 101",
                "release build v0.62.0",
                "release check v0.62.0",
            ):
                out = await bot.say(command, answer="y")
                assert "release" in out and "permission" in out.lower(), out
        assert BRANCH not in remote.branches()
        assert gh.count("POST") == 0 and gh.count("GET", "/repos") == 0


async def test_check_lists_the_open_required_pull_requests_with_links(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        remote, gh = world.remote, world.gh
        gh.add_pull(
            101, "fix: p2p", merge_commit_sha=remote.merges[101], labels=["release-v0.62.0"]
        )
        gh.add_pull(104, "feat: still in review", labels=["release-v0.62.0"])
        gh.add_pull(110, "unrelated", labels=["other"])
        async with ShellBot(world.config()) as bot:
            out = await bot.say("release check v0.62.0")
            assert "1 of 2 required pull requests are not merged" in out, out
            assert "#104 feat: still in review" in out and "/pull/104" in out
            assert "#101" not in out and "#110" not in out
            gh.pulls[104].merged = True
            gh.pulls[104].merge_commit_sha = remote.merges[102]
            out = await bot.say("release check v0.62.0")
            assert "✅ All 2 required pull requests for `v0.62.0` are merged" in out, out
        async with ShellBot(world.config(required_prs=None)) as bot:
            out = await bot.say("release check v0.62.0")
            assert "No required pull requests are configured" in out, out


async def test_a_restarted_bot_goes_on_following_the_build_run(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        gh = world.gh
        config = world.config()
        async with ShellBot(config) as bot:
            await bot.say("release start v0.62.0", answer="y")
            started = world.remote.rev(BRANCH)
            build = asyncio.create_task(bot.say("release build v0.62.0", answer="y"))
            run = await run_of_new_head(world, started)
            await wait_until(
                lambda: bool(
                    bot.store.recent_runs(kinds=["release_build"])[0].result.get("run_id")
                ),
                what="the build to find its run",
            )
            build.cancel()  # the bot goes away mid-follow
            await asyncio.gather(build, return_exceptions=True)
            (stopped,) = bot.store.recent_runs(kinds=["release_build"])
            assert stopped.state == "running"
        async with Bot(config, serve_http=False) as again:
            store = again.services.store
            gh.move_run(run.id, "completed", "success")
            await wait_until(
                lambda: store.get_run(stopped.id).state == "succeeded",
                what="the resumed build to see the run succeed",
            )
            assert store.get_run(stopped.id).result["run_id"] == run.id


async def test_a_build_whose_workflow_never_starts_or_is_unknown_says_so(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        async with ShellBot(
            world.config(workflow="deploy-network.yml", find_run_timeout=0.3)
        ) as bot:
            await bot.say("release start v0.62.0", answer="y")
            out = await bot.say("release build v0.62.0", answer="y")
            assert "no run of `deploy-network.yml` started within 0.3s of the push" in out, out
        async with ShellBot(world.config(workflow="nightly.yml")) as bot:
            out = await bot.say("release build v0.62.0", answer="y")
            assert "GitHub refused" in out and "404" in out, out
            builds = bot.store.recent_runs(kinds=["release_build"])
            assert [b.state for b in builds] == ["failed", "failed"]


async def test_without_github_the_release_commands_say_how_to_set_it_up(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path)) as bot:
        for command in ("release check v0.62.0", "release status v0.62.0", "release start v0.62.0"):
            out = await bot.say(command, answer="y")
            assert "Releases need GitHub: set `github:`" in out, out
        assert bot.store.recent_runs() == []
