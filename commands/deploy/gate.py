"""The post-deploy gate: the upgrade runbook's post-deploy gates, run by the bot.

After a successful rollout the deploy runs the network's sanity checks, then keeps
re-running them every ``gate.interval`` until ``gate.observe`` has passed. A failed
check ends the gate at once; checks that still cannot run at the end of the window
fail it too (nothing was verified). The deploy's progress message shows the gate's
progress in place; failing tables go to its thread. When the gate passes, the
connection info is refreshed where it was published.
"""

from __future__ import annotations

import asyncio
import time

from bot.config import NetworkConfig
from bot.context import Services
from bot.core import MessageRef
from commands.common import SANITY_CHECKS, CheckRound, SanityChecks
from commands.deploy.rollout import Failure, Progress, Step
from commands.info import refresh_after_deploy
from commands.text import duration
from state.records import Run

GATE_STEP = Step("gate", "sanity", 0, False, {}, {})
"""What a gate failure names as the step that failed."""


def _took(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 60 else duration(seconds)


async def run_gate(
    services: Services,
    checks: SanityChecks,
    run: Run,
    net: NetworkConfig,
    progress: Progress,
    ref: MessageRef,
    head: str,
) -> str | None:
    """Observe the network after a rollout; return why the gate failed (None: passed).

    ``head`` is the rollout's progress text; the gate's line is shown under it.
    """
    name = run.network or ""
    gate = net.gate
    started = time.monotonic()
    rounds = 0
    report: CheckRound | None = None
    window = _took(gate.observe)
    while True:
        rounds += 1
        services.store.update_run(run.id, step=f"post-deploy gate, check {rounds}")
        report = await checks.run(services, name, net, source=f"gate:{run.id}")
        spent = time.monotonic() - started
        await progress.update(
            ref,
            f"{head}\n🩺 post-deploy gate: check {rounds}, {report.counts} "
            f"({_took(spent)} of {window})",
        )
        if report.verdict == "fail":
            await progress.reply_in_thread(
                ref, f"❌ post-deploy gate, check {rounds}:\n{report.text}"
            )
            return f"post-deploy check {rounds} failed: {report.problems}"
        remaining = gate.observe - spent
        if remaining <= 0:
            break
        await asyncio.sleep(min(gate.interval, remaining))
    if report.verdict == "error":
        await progress.reply_in_thread(
            ref, f"⚠️ post-deploy gate, last check:\n{report.text}"
        )
        return f"the post-deploy checks could not run: {report.problems}"
    await progress.update(ref, f"{head}\n🩺 post-deploy gate passed: {rounds} checks over {window}")
    await progress.reply_in_thread(
        ref, f"✅ post-deploy gate passed ({rounds} checks over {window}):\n{report.text}"
    )
    return None


async def after_rollout(
    services: Services, run: Run, progress: Progress, ref: MessageRef, head: str
) -> Failure | None:
    """What a deploy does after its rollout succeeded: the gate, then the connection
    info. Returns a :class:`Failure` for the deploy's failure path when the gate fails."""
    name = run.network or ""
    net = services.config.networks[name]
    checks = services.get(SANITY_CHECKS)
    if checks is not None and checks.has_checks(net):
        reason = await run_gate(services, checks, run, net, progress, ref, head)
        if reason is not None:
            return Failure(GATE_STEP, reason)
    note = await refresh_after_deploy(services, name, net)
    if note is not None:
        await progress.reply_in_thread(ref, note)
    return None
