"""Rollbacks that recover what a deploy broke, and failure reports that tell the truth:
the shell adapter and kubernetes-asyncio's real client against the Kubernetes fake,
whose StatefulSets follow ``podManagementPolicy`` as the Kubernetes docs describe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from integrations.kube import KubeClient
from tests.fakes.kube_api import KubeFake
from tests.fakes.slack_api import ALICE, DEPLOYS
from tests.harness import ShellBot, make_config
from tests.integration.kube_harness import (
    IMAGE,
    NAMESPACE,
    OLD,
    SIDECAR,
    build_testnet,
    images,
    network_config,
    pod_images,
)
from tests.integration.slack_harness import slack_bot

NEW = f"{IMAGE}:v0.62.0"
NEWER = f"{IMAGE}:v0.63.0"
OTHER_NAMESPACE = "beta-testnet"


@asynccontextmanager
async def running_testnet(
    tmp_path: Path, *, validators: int = 4, policy: str = "OrderedReady", **net: Any
) -> AsyncIterator[tuple[ShellBot, KubeFake]]:
    """The alpha testnet, and in another namespace a StatefulSet of the same name whose
    pod is broken too (a rollback of alpha must never touch it)."""
    async with KubeFake(ready_delay=0.005) as fake:
        build_testnet(fake, validators=validators, pod_management_policy=policy)
        fake.bad_images[f"{IMAGE}:broken-elsewhere"] = "CrashLoopBackOff"
        fake.add_statefulset(
            "validator",
            namespace=OTHER_NAMESPACE,
            replicas=1,
            containers={"aztec": f"{IMAGE}:broken-elsewhere"},
            labels={"app": "validator"},
        )
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        config = make_config(tmp_path, **network_config(kubeconfig, **net))
        async with ShellBot(config) as bot:
            yield bot, fake


def elsewhere(fake: KubeFake) -> list[str]:
    """uids of the other namespace's pods."""
    return [p["metadata"]["uid"] for p in fake.pods(OTHER_NAMESPACE)]


def ready(fake: KubeFake, app: str) -> bool:
    return all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
        for p in fake.pods(NAMESPACE, f"app={app}")
    )


def mutations(fake: KubeFake) -> int:
    return sum(r.method in ("PATCH", "DELETE", "POST", "PUT") for r in fake.requests)


async def failed_canary(bot: ShellBot, fake: KubeFake, failure: str) -> str:
    """Deploy NEW with a canary that fails with ``failure``; decline the rollback offer."""
    fake.bad_images[NEW] = failure
    bot.console.answers.put_nowait("y")  # approve the deploy
    out = await bot.say("/testnet deploy v0.62.0 --canary", answer="n")  # decline rollback
    assert "❌ Deploy of `v0.62.0` to `alpha` failed" in out
    assert pod_images(fake, "validator")["validator-3"] == NEW
    return out


@pytest.mark.parametrize("failure", ["CrashLoopBackOff", "ImagePullBackOff"])
async def test_rollback_after_a_failed_canary_deletes_only_the_broken_pod(
    tmp_path: Path, failure: str
) -> None:
    async with running_testnet(tmp_path) as (bot, fake):
        await failed_canary(bot, fake, failure)
        others = elsewhere(fake)
        out = await bot.say("/testnet rollback", answer="y")
        assert "✅ `alpha` is back on its previous images" in out
        assert "Deleted 1 stuck pod(s) so they were recreated: `validator-3`" in out
        assert "deleted pod `validator-3` of StatefulSet `validator` in `alpha-testnet`" in out
        # the fake's DELETE log: only the broken pod, only in the network's namespace
        assert fake.deletes() == [f"/api/v1/namespaces/{NAMESPACE}/pods/validator-3"]
        assert elsewhere(fake) == others
        assert set(pod_images(fake, "validator").values()) == {OLD}
        assert ready(fake, "validator")
        assert images(fake, "StatefulSet", "validator") == {"aztec": OLD, "fluent-bit": SIDECAR}
        sts = fake.workload("StatefulSet", "validator", NAMESPACE)
        assert sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == 0
        (rollback,) = bot.store.recent_runs(kinds=["rollback"])
        assert rollback.state == "succeeded"
        assert rollback.result["deleted_pods"] == ["validator-3"]


async def test_on_a_parallel_statefulset_the_rollback_deletes_nothing(tmp_path: Path) -> None:
    async with running_testnet(tmp_path, policy="Parallel") as (bot, fake):
        await failed_canary(bot, fake, "CrashLoopBackOff")
        out = await bot.say("/testnet rollback", answer="y")
        assert "✅ `alpha` is back on its previous images" in out
        assert "stuck pod" not in out
        assert fake.deletes() == []
        assert set(pod_images(fake, "validator").values()) == {OLD}


async def test_the_rollback_plan_lists_only_what_the_deploy_changed_and_dry_run_changes_nothing(
    tmp_path: Path,
) -> None:
    async with running_testnet(tmp_path) as (bot, fake):
        out = await failed_canary(bot, fake, "CrashLoopBackOff")
        offer = out[out.index("Roll `alpha` back to the images it ran before?") :]
        assert f"StatefulSet `validator` (4 pods): aztec: `{NEW}` → `{OLD}`" in offer
        assert "prover" not in offer and "`bot`" not in offer
        prompts, before = len(bot.console.prompts), mutations(fake)

        out = await bot.say("/testnet rollback --dry-run")
        assert "(dry run: nothing was changed)" in out
        assert f"StatefulSet `validator` (4 pods): aztec: `{NEW}` → `{OLD}`" in out
        assert "Deployment" not in out
        assert len(bot.console.prompts) == prompts  # nothing asked
        assert mutations(fake) == before and fake.deletes() == []
        assert bot.store.recent_runs(kinds=["rollback"]) == []
        assert pod_images(fake, "validator")["validator-3"] == NEW


async def test_a_rollback_repairs_a_template_restored_by_hand_then_has_nothing_to_do(
    tmp_path: Path,
) -> None:
    async with running_testnet(tmp_path) as (bot, fake):
        await failed_canary(bot, fake, "ImagePullBackOff")
        async with KubeClient.from_kubeconfig(tmp_path / "kubeconfig") as kube:
            await kube.set_images(NAMESPACE, "StatefulSet", "validator", {"aztec": OLD})
        assert pod_images(fake, "validator")["validator-3"] == NEW  # OrderedReady: stuck

        out = await bot.say("/testnet rollback --dry-run")
        assert "template already restored; 1 pod(s) still run other images: `validator-3`" in out
        out = await bot.say("/testnet rollback", answer="y")
        assert "✅ `alpha` is back on its previous images" in out
        assert fake.deletes() == [f"/api/v1/namespaces/{NAMESPACE}/pods/validator-3"]
        assert set(pod_images(fake, "validator").values()) == {OLD}

        before = mutations(fake)
        out = await bot.say("/testnet rollback")
        assert "Nothing to roll back: every workload of `alpha` already runs" in out
        assert mutations(fake) == before
        assert len(bot.store.recent_runs(kinds=["rollback"])) == 1


async def test_without_delete_on_pods_the_rollback_fails_and_says_what_is_missing(
    tmp_path: Path,
) -> None:
    async with running_testnet(tmp_path, progress_deadline="5s") as (bot, fake):
        await failed_canary(bot, fake, "CrashLoopBackOff")
        fake.forbidden.add(("delete", "pods"))
        out = await bot.say("/testnet rollback", answer="y")
        assert "❌ Rollback of `alpha` failed at StatefulSet `validator`" in out
        assert "cannot delete the stuck pod `validator-3` in `alpha-testnet`" in out
        assert "the bot needs `delete` on pods in this namespace" in out
        assert "  ↳ ❌ pod `validator-3` (CrashLoopBackOff" in out  # evidence in the thread
        assert pod_images(fake, "validator")["validator-3"] == NEW
        (rollback,) = bot.store.recent_runs(kinds=["rollback"])
        assert rollback.state == "failed"


async def test_a_pull_failure_names_the_image_shows_this_incarnations_events_and_no_logs(
    tmp_path: Path,
) -> None:
    async with running_testnet(tmp_path, validators=3) as (bot, fake):
        # first a crash loop on validator-2, rolled back (the pod is deleted and recreated)
        fake.bad_images[NEW] = "CrashLoopBackOff"
        fake.set_logs("validator-2", "start\nFATAL: cannot open db\n", namespace=NAMESPACE)
        bot.console.answers.put_nowait("y")
        crash = await bot.say("/testnet deploy v0.62.0", answer="y")
        assert "  ↳ ❌ pod `validator-2` (CrashLoopBackOff" in crash
        assert "last 20 log lines of `aztec`:" in crash and "FATAL: cannot open db" in crash
        assert "Back-off restarting failed container" in crash
        assert "✅ `alpha` is back on its previous images" in crash

        # then an image that does not exist: the same pod name, a new incarnation
        fake.bad_images[NEWER] = "ImagePullBackOff"
        bot.console.answers.put_nowait("y")
        pull = await bot.say("/testnet deploy v0.63.0", answer="n")
        summary = next(line for line in pull.splitlines() if "❌ Deploy of `v0.63.0`" in line)
        assert f"(cannot pull `{NEWER}`)" in summary
        assert "Logs and events are in the thread." in summary
        report = pull[pull.index("  ↳ ❌ pod `validator-2`") :]
        assert f"image that could not be pulled: `{NEWER}`" in report
        assert "no logs: the container never started" in report
        assert "last 20 log lines" not in report
        assert f'Failed to pull image "{NEWER}"' in report
        assert "Back-off restarting" not in pull  # the previous incarnations' events
        assert "FATAL: cannot open db" not in pull


async def test_in_slack_the_failure_evidence_and_the_rollback_land_in_the_progress_thread(
    tmp_path: Path,
) -> None:
    async with KubeFake(ready_delay=0.005) as fake:
        build_testnet(fake, validators=3)
        fake.bad_images[NEW] = "ImagePullBackOff"
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        config = {
            **network_config(kubeconfig, auto_rollback=True),
            "roles": {"admin": {"slack_users": [ALICE]}},
        }
        async with slack_bot(tmp_path, **config) as sb:
            await sb.command("deploy v0.62.0", user=ALICE)
            await sb.click(await sb.confirmation_message(), user=ALICE)
            await sb.slack.wait_until(
                lambda: any("✅ `alpha` is back on its previous images" in t for t in sb.texts()),
                within=40,
            )
            (failed,) = [t for t in sb.texts() if t.startswith("❌ Deploy of `v0.62.0`")]
            assert (
                f"(cannot pull `{NEW}`)" in failed and "Logs and events are in the thread" in failed
            )
            (progress,) = [
                m for m in sb.slack.messages(DEPLOYS) if m.text.startswith("🚀 Deploying")
            ]
            thread = [m.text for m in sb.slack.messages(DEPLOYS, thread_ts=progress.ts)]
            (evidence,) = [t for t in thread if t.startswith("❌ pod `validator-2`")]
            assert f"image that could not be pulled: `{NEW}`" in evidence
            assert "no logs: the container never started" in evidence
            assert f'Failed to pull image "{NEW}"' in evidence
            (rollback,) = [
                m
                for m in sb.slack.messages(DEPLOYS)
                if m.text.startswith("↩️ Rolling `alpha` back (requested by")
            ]
            rollback_thread = [m.text for m in sb.slack.messages(DEPLOYS, thread_ts=rollback.ts)]
            assert any(t.startswith("🔁 deleted pod `validator-2`") for t in rollback_thread)
        assert fake.deletes() == [f"/api/v1/namespaces/{NAMESPACE}/pods/validator-2"]
        assert set(pod_images(fake, "validator").values()) == {OLD}


async def test_a_pod_that_takes_time_to_terminate_is_deleted_once(tmp_path: Path) -> None:
    async with KubeFake(ready_delay=0.005, termination_delay=0.3) as fake:
        build_testnet(fake, validators=3)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        async with ShellBot(make_config(tmp_path, **network_config(kubeconfig))) as bot:
            fake.bad_images[NEW] = "CrashLoopBackOff"
            bot.console.answers.put_nowait("y")
            await bot.say("/testnet deploy v0.62.0 --canary", answer="n")
            out = await bot.say("/testnet rollback", answer="y")
        assert "✅ `alpha` is back on its previous images" in out
        assert fake.deletes() == [f"/api/v1/namespaces/{NAMESPACE}/pods/validator-2"]
        assert set(pod_images(fake, "validator").values()) == {OLD}
