"""``release status``: the checklist against the npm, Docker registry, docs and GitHub
fakes (all green, each kind of gap, a hanging registry), ``--watch`` moved by a signed
GitHub webhook, and a watch resumed after a restart."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from pathlib import Path

import aiohttp

from bot.app import Bot
from tests.fakes.github_api import FakeWorkflowRun, server_error
from tests.harness import ShellBot, wait_until
from tests.integration.release_harness import (
    ASSETS,
    BRANCH,
    IMAGES,
    PACKAGES,
    WEBHOOK_SECRET,
    WORKFLOW,
    ReleaseWorld,
    release_world,
)


def finished_run(world: ReleaseWorld, conclusion: str = "success") -> FakeWorkflowRun:
    run = world.gh.add_workflow_run(workflow=WORKFLOW, branch=BRANCH, head_sha=world.remote.base)
    world.gh.move_run(run.id, "completed", conclusion)
    return run


def row(out: str, item: str) -> str:
    lines = [line for line in out.splitlines() if f" {item}:" in line]
    assert len(lines) == 1, f"no single row for {item} in:\n{out}"
    return lines[0]


async def test_all_green_when_everything_is_published(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        finished_run(world)
        world.publish_everything()
        async with ShellBot(world.config()) as bot:
            out = await bot.say("release status v0.62.0")
        total = 2 + len(ASSETS) + len(PACKAGES) + len(IMAGES) + 1
        assert f"{total}/{total} ready" in out, out
        assert row(out, "release workflow").startswith("✅")
        assert all(row(out, name).startswith("✅") for name in ASSETS)
        assert row(out, "docs").startswith("✅")


async def test_each_gap_is_a_red_row_naming_it(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        failed = finished_run(world, "failure")
        world.publish_everything()
        world.gh.releases[BRANCH].assets.remove(ASSETS[1])
        world.npm.publish("@aztec/l1-contracts", "0.62.1")  # not the version asked for
        async with ShellBot(
            world.config(npm_packages=["@aztec/bb.js", "@aztec/not-published"])
        ) as bot:
            out = await bot.say("release status v0.62.0")
        assert row(out, "release workflow").startswith("❌")
        assert f"actions/runs/{failed.id}" in row(out, "release workflow")
        assert row(out, ASSETS[1]).startswith("❌") and "not attached" in row(out, ASSETS[1])
        assert row(out, ASSETS[0]).startswith("✅")
        assert row(out, "npm @aztec/not-published").startswith("❌")
        assert row(out, "npm @aztec/bb.js").startswith("✅")


async def test_an_absent_npm_version_and_image_tag_are_red(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        finished_run(world)
        world.gh.add_release(BRANCH, assets=list(ASSETS), body="notes")
        world.npm.publish("@aztec/bb.js", "0.61.0")
        world.docker.add_image(IMAGES[0], "0.61.0")
        async with ShellBot(world.config()) as bot:
            out = await bot.say("release status v0.62.0")
        assert row(out, "npm @aztec/bb.js").startswith("❌")
        assert "0.62.0 not on" in row(out, "npm @aztec/bb.js")
        assert row(out, f"image {IMAGES[0]}:0.62.0").startswith("❌")


async def test_a_hanging_registry_times_out_its_row_and_the_rest_is_shown(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        finished_run(world)
        world.publish_everything()
        world.npm.hang()
        async with ShellBot(world.config(check_timeout="1s")) as bot:
            started = time.monotonic()
            out = await bot.say("release status v0.62.0")
            took = time.monotonic() - started
        assert took < 5, f"the checklist took {took:.1f}s: its checks did not run together"
        for package in PACKAGES:
            assert row(out, f"npm {package}").startswith("⚠️")
            assert "within 1s" in row(out, f"npm {package}")
        assert row(out, "release workflow").startswith("✅")
        assert all(row(out, f"image {image}:0.62.0").startswith("✅") for image in IMAGES)


async def test_github_failing_shows_its_rows_as_unchecked_and_the_rest(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        finished_run(world)
        world.publish_everything()
        world.gh.inject(
            server_error(502), times=50, path="/repos/AztecProtocol/aztec-packages/releases"
        )
        async with ShellBot(world.config()) as bot:
            out = await bot.say("release status v0.62.0")
        assert row(out, "release notes").startswith("⚠️") and "502" in row(out, "release notes")
        assert all(row(out, name).startswith("⚠️") for name in ASSETS)
        assert row(out, "release workflow").startswith("✅")
        assert row(out, "npm @aztec/bb.js").startswith("✅")


def _signed(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_a_signed_webhook_moves_the_watch_without_waiting_for_a_poll(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        run = world.gh.add_workflow_run(
            workflow=WORKFLOW, branch=BRANCH, head_sha=world.remote.base
        )
        config = world.config(watch_interval="60s", watch_max_interval="60s")
        async with ShellBot(config, serve_http=True) as bot, aiohttp.ClientSession() as http:
            hook = f"{bot.bot.url}/hooks/github"
            watch = asyncio.create_task(bot.say("release status v0.62.0 --watch"))
            await wait_until(
                lambda: "running" in bot.console.text or "queued" in bot.console.text,
                what="the first checklist",
            )
            world.gh.move_run(run.id, "completed", "success")
            world.publish_everything()
            body = json.dumps({"action": "completed", "workflow_run": {"id": run.id}}).encode()

            for headers, status in [
                ({}, 401),
                ({"X-Hub-Signature-256": _signed(body, "wrong")}, 401),
                ({"X-Hub-Signature-256": _signed(body)[:-1] + "0"}, 401),
            ]:
                async with http.post(
                    hook, data=body, headers={"X-GitHub-Event": "workflow_run", **headers}
                ) as r:
                    assert r.status == status
            await asyncio.sleep(0)
            assert not watch.done()  # a bad delivery woke nothing
            bad = b"{not json"
            async with http.post(
                hook,
                data=bad,
                headers={"X-GitHub-Event": "workflow_run", "X-Hub-Signature-256": _signed(bad)},
            ) as r:
                assert r.status == 400
            odd = json.dumps({"zen": "x"}).encode()
            async with http.post(
                hook,
                data=odd,
                headers={"X-GitHub-Event": "issues", "X-Hub-Signature-256": _signed(odd)},
            ) as r:
                assert r.status == 202

            async with http.post(
                hook,
                data=body,
                headers={"X-GitHub-Event": "workflow_run", "X-Hub-Signature-256": _signed(body)},
            ) as r:
                assert r.status == 200
            out = await asyncio.wait_for(watch, 10)  # far sooner than the 60 s poll
        assert "release `v0.62.0` is all green" in out, out
        green = [line for line in out.splitlines() if "all green" in line]
        assert green and "operator" in green[0]  # the requester is called


async def test_a_watch_is_resumed_after_a_restart(tmp_path: Path) -> None:
    async with release_world(tmp_path) as world:
        finished_run(world)
        config = world.config()
        async with ShellBot(config) as bot:
            watch = asyncio.create_task(bot.say("release status v0.62.0 --watch"))
            await wait_until(lambda: "ready" in bot.console.text, what="the first checklist")
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
            runs = bot.store.recent_runs(kinds=["release_watch"])
            assert [r.state for r in runs] == ["running"]  # as a crash would leave it
        world.publish_everything()
        async with Bot(config, serve_http=False) as again:
            await wait_until(
                lambda: again.services.store.get_run(runs[0].id).state == "succeeded",
                what="the resumed watch to end green",
            )
