"""The release runbook as a new user tries it in Slack: check, start, cherry-pick,
build, status --watch ending green with the requester called, then a deploy on a
network whose deploys run in CI."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.git_remote import BASE_TAG
from tests.fakes.slack_api import ALICE, DEPLOYS
from tests.integration.release_harness import BRANCH, WORKFLOW, release_world
from tests.integration.slack_harness import SlackBot, slack_bot


def _asking(sb: SlackBot) -> list[object]:
    """The messages that were posted with Approve/Cancel buttons, oldest first."""
    return [
        m
        for m in sb.slack.messages(DEPLOYS)
        if any(b.get("type") == "actions" for b in m.revisions[0].blocks or [])
    ]


async def test_the_release_runbook_in_slack_ends_with_a_green_checklist(tmp_path: Path) -> None:
    async with release_world(tmp_path / "world") as world:
        remote, gh = world.remote, world.gh
        gh.add_pull(
            101,
            "fix: p2p reconnects",
            merge_commit_sha=remote.merges[101],
            labels=["release-v0.62.0"],
        )
        network = {
            "namespace": "alpha",
            "image": "aztecprotocol/aztec",
            "deploy": {
                "driver": "github-workflow",
                "workflow": "deploy-network.yml",
                "poll_interval": 0.05,
            },
            "gate": {"observe": 0, "interval": 0},
        }
        setup = {
            **world.sections(),
            "networks": {"alpha": network},
            "roles": {"admin": {"slack_users": [ALICE]}},
        }
        async with slack_bot(tmp_path, **setup) as sb:

            async def said(text: str) -> None:
                await sb.slack.wait_until(lambda: any(text in t for t in sb.texts()), within=15)

            async def approve(nth: int) -> None:
                """Click Approve on the ``nth`` confirmation of the conversation."""
                await sb.slack.wait_until(lambda: len(_asking(sb)) >= nth, within=15)
                await sb.click(_asking(sb)[nth - 1], user=ALICE)

            await sb.command("release check v0.62.0", user=ALICE)
            await said("All 1 required pull requests for `v0.62.0` are merged")

            await sb.command(f"release start v0.62.0 --from-ref {BASE_TAG}", user=ALICE)
            await approve(1)
            await said(f"Created `{BRANCH}`")

            await sb.command("release cherry-pick v0.62.0 101", user=ALICE)
            await said("Picked 1 change(s)")

            runs_before = len(gh.runs_of(WORKFLOW))
            await sb.command("release build v0.62.0", user=ALICE)
            await approve(2)
            await sb.slack.wait_until(lambda: len(gh.runs_of(WORKFLOW)) > runs_before, within=15)
            run = gh.runs_of(WORKFLOW)[0]
            gh.move_run(run.id, "completed", "success")
            await said("release workflow of `v0.62.0` succeeded")

            await sb.command("release status v0.62.0 --watch", user=ALICE)
            await said("ready")
            world.publish_everything()
            await said("is all green")
            (green,) = [t for t in sb.texts() if "is all green" in t]
            assert f"<@{ALICE}>" in green
            await said("— 9/9 ready")  # the checklist's last edit may land after the reply
            checklists = [m for m in sb.slack.messages(DEPLOYS) if "📦 Release" in m.text]
            assert len(checklists) == 1 and len(checklists[0].revisions) > 1  # edited in place
            assert "❌" in checklists[0].revisions[1].text and "❌" not in checklists[0].text

            await sb.command("deploy v0.62.0 alpha", user=ALICE)
            await approve(3)
            await sb.slack.wait_until(lambda: bool(gh.dispatches), within=15)
            assert gh.dispatches[0]["inputs"] == {"version": "v0.62.0", "network": "alpha"}
            (dispatched,) = [r for r in gh.runs_of("deploy-network.yml")]
            gh.move_run(dispatched.id, "completed", "success")
            await said("Deploy of `v0.62.0` to `alpha` succeeded")
