"""The GitHub token through a whole release (start, pick, build) over git's smart HTTP:
never in a log line, a chat message, a git process's argv or the clone's .git/config."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.fakes.git_remote import BASE_TAG, GitHttpServer
from tests.harness import ShellBot, wait_until
from tests.integration.release_harness import BRANCH, TOKEN, WORKFLOW, release_world
from tests.integration.test_git import descendants


async def test_the_token_stays_out_of_logs_messages_argv_and_git_config(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        release_world(tmp_path) as world,
        GitHttpServer(world.remote.root, token=TOKEN) as server,
    ):
        remote, gh = world.remote, world.gh
        gh.add_pull(101, "fix: p2p reconnects", merge_commit_sha=remote.merges[101])
        config = world.config(git_url=server.url_for(remote.name))
        async with ShellBot(config) as bot:
            await bot.say(f"release start v0.62.0 --from-ref {BASE_TAG}", answer="y")
            server.hold()  # git stays mid-request while we look at its processes
            pick = asyncio.create_task(bot.say("release cherry-pick v0.62.0 101"))
            try:
                await server.wait_for_held()
                processes = descendants()
            finally:
                server.release()
            out = await asyncio.wait_for(pick, 30)
            assert "Picked 1 change(s)" in out, out
            build = asyncio.create_task(bot.say("release build v0.62.0", answer="y"))
            await wait_until(lambda: len(gh.runs_of(WORKFLOW)) == 3, what="the build's run")
            gh.move_run(gh.runs_of(WORKFLOW)[0].id, "completed", "success")
            await asyncio.wait_for(build, 30)

        git_argv = [argv for argv, _ in processes.values() if any("git" in a for a in argv)]
        assert git_argv, "no git process was seen while the request was held"
        assert not [argv for argv in git_argv if any(TOKEN in a for a in argv)]
        assert server.count(200) > 0 and all(r.user for r in server.requests if r.status == 200)
        assert "succeeded" in bot.console.text and TOKEN not in bot.console.text
        assert TOKEN not in caplog.text
        git_config = (tmp_path / "clone" / ".git" / "config").read_text()
        assert server.url_for(remote.name) in git_config and TOKEN not in git_config
        assert remote.log(BRANCH, 1)[0][1] == "chore: release v0.62.0"
