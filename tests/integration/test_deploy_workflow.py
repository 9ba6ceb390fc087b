"""``deploy.driver: github-workflow``: a deploy dispatches the network's workflow with
the version and network as inputs, follows its run, runs the post-deploy gate, and a
failed run offers the rollback, which dispatches the previous version."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.config import BotConfig
from tests.fakes.github_api import FakeWorkflowRun
from tests.harness import ShellBot, make_config, wait_until
from tests.integration.release_harness import REPO, TOKEN, ReleaseWorld, release_world

WORKFLOW = "deploy-network.yml"


def config(world: ReleaseWorld, **deploy: Any) -> BotConfig:
    network = {
        "namespace": "alpha",
        "image": "aztecprotocol/aztec",
        "deploy": {
            "driver": "github-workflow",
            "workflow": WORKFLOW,
            "poll_interval": 0.05,
            **deploy,
        },
        "sanity": {"http": [{"name": "rpc health", "url": world.docs.url + "/health"}]},
        "gate": {"observe": 0, "interval": 0},
    }
    return make_config(
        world.tmp,
        networks={"alpha": network},
        github={"repo": REPO, "token": TOKEN, "api_url": world.gh.url},
    )


async def dispatched_run(world: ReleaseWorld, count: int) -> FakeWorkflowRun:
    """The run of the ``count``-th dispatch, once GitHub has it."""
    await wait_until(lambda: len(world.gh.dispatches) >= count, what=f"dispatch {count}")
    runs = [r for r in world.gh.runs_of(WORKFLOW) if r.event == "workflow_dispatch"]
    return runs[0]


async def finish(world: ReleaseWorld, run: FakeWorkflowRun, conclusion: str) -> None:
    world.gh.move_run(run.id, "in_progress")
    await asyncio.sleep(0.1)  # let one poll see it running (progress in place)
    world.gh.move_run(run.id, "completed", conclusion)


async def test_a_deploy_dispatches_the_workflow_follows_its_run_and_runs_the_gate(
    tmp_path: Path,
) -> None:
    async with release_world(tmp_path) as world, ShellBot(config(world)) as bot:
        deploy = asyncio.create_task(bot.say("deploy v0.62.0", answer="y"))
        run = await dispatched_run(world, 1)
        assert world.gh.dispatches == [
            {
                "workflow": WORKFLOW,
                "ref": "master",
                "inputs": {"version": "v0.62.0", "network": "alpha"},
            }
        ]
        await finish(world, run, "success")
        out = await asyncio.wait_for(deploy, 10)
        assert f"actions/runs/{run.id}" in out
        assert "running" in out  # the run's progress was shown in place
        assert "post-deploy gate passed" in out, out
        assert "Deploy of `v0.62.0` to `alpha` succeeded" in out
        deploys = bot.store.recent_runs(kinds=["deploy"], network="alpha")
        assert [d.state for d in deploys] == ["succeeded"]
        assert deploys[0].result["run_id"] == run.id


async def test_a_failed_run_offers_a_rollback_that_dispatches_the_previous_version(
    tmp_path: Path,
) -> None:
    async with release_world(tmp_path) as world, ShellBot(config(world)) as bot:
        first = asyncio.create_task(bot.say("deploy v0.61.0", answer="y"))
        await finish(world, await dispatched_run(world, 1), "success")
        await asyncio.wait_for(first, 10)

        bot.console.answers.put_nowait("y")  # the deploy's confirmation
        second = asyncio.create_task(bot.say("deploy v0.62.0", answer="y"))  # then the rollback's
        failed = await dispatched_run(world, 2)
        await finish(world, failed, "failure")
        rollback = await dispatched_run(world, 3)
        assert world.gh.dispatches[2]["inputs"] == {"version": "v0.61.0", "network": "alpha"}
        await finish(world, rollback, "success")
        out = await asyncio.wait_for(second, 10)
        assert "ended `failure`" in out and f"actions/runs/{failed.id}" in out, out
        assert "Rollback of `v0.61.0` to `alpha` succeeded" in out, out
        kinds = [(r.kind, r.state) for r in bot.store.recent_runs(kinds=["deploy", "rollback"])]
        assert kinds == [("rollback", "succeeded"), ("deploy", "failed"), ("deploy", "succeeded")]


async def test_a_failing_gate_fails_the_deploy_and_a_declined_rollback_dispatches_nothing(
    tmp_path: Path,
) -> None:
    async with release_world(tmp_path) as world, ShellBot(config(world)) as bot:
        first = asyncio.create_task(bot.say("deploy v0.61.0", answer="y"))
        await finish(world, await dispatched_run(world, 1), "success")
        await asyncio.wait_for(first, 10)
        world.docs.status = 500
        bot.console.answers.put_nowait("y")
        second = asyncio.create_task(bot.say("deploy v0.62.0", answer="n"))
        await finish(world, await dispatched_run(world, 2), "success")
        out = await asyncio.wait_for(second, 10)
        assert "post-deploy check 1 failed" in out, out
        assert "Not rolled back" in out and "`/testnet rollback alpha` redeploys `v0.61.0`" in out
        assert len(world.gh.dispatches) == 2


async def test_bad_inputs_and_missing_github_are_refused_before_dispatching(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        async with ShellBot(config(world)) as bot:
            out = await bot.say("deploy v0.62", answer="y")
            assert "is not a release version" in out
        no_github = config(world).model_copy(update={"github": None})
        async with ShellBot(no_github) as bot:
            out = await bot.say("deploy v0.62.0", answer="y")
            assert "GitHub is not configured" in out, out
        unknown = config(world, inputs={"oops": "{version}"})
        async with ShellBot(unknown) as bot:
            out = await bot.say("deploy v0.62.0", answer="y")
            assert "Unexpected inputs" in out, out
            assert bot.store.recent_runs(kinds=["deploy"])[0].state == "failed"
        assert world.gh.dispatches == []
