"""What deploy and rollback share: refusing a busy network, starting a durable run
with its progress message, Kubernetes access, and reporting for resumed runs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.context import Context, Services
from bot.core import MessageRef
from bot.errors import CommandError
from bot.responder import OutboxResponder
from commands.common import kube_for
from commands.deploy.rollout import Failure, Progress, Rollout, Step
from commands.text import ago
from integrations.kube_models import KubeError
from state.records import Run
from state.store import RunConflict

if TYPE_CHECKING:
    pass

log = logging.getLogger("testnet_bot.runs")
EXCLUSIVE_KINDS = ("deploy", "rollback")


def check_network_free(ctx: Context, network: str) -> None:
    """Refuse while the network is frozen or another deploy/rollback runs on it."""
    now = ctx.services.clock()
    held = ctx.store.get_lock(network)
    if held is not None:
        raise CommandError(
            f"`{network}` is locked by {held.holder} {ago(held.since, now)}: {held.reason}. "
            f"`/testnet unlock {network}` lifts the freeze."
        )
    active = ctx.store.active_exclusive_run(network)
    if active is not None:
        raise CommandError(_busy(active, now))


def _busy(run: Run, now: float) -> str:
    what = f"{run.kind} of `{run.args['version']}`" if "version" in run.args else run.kind
    return (
        f"A {what} by {run.owner} has been running on `{run.network}` since "
        f"{ago(run.created_at, now)}; wait for it to finish (`/testnet status {run.network}`)."
    )


async def start_run(
    ctx: Context, *, kind: str, network: str, args: dict[str, Any], title: str
) -> tuple[Run, MessageRef]:
    """Record an exclusive run and post its progress message; the run remembers where
    the message is so a restarted bot can keep editing it."""
    if ctx.approvers:
        args = {**args, "approved_by": list(ctx.approvers)}
    try:
        run = ctx.store.create_run(
            kind=kind, network=network, args=args, owner=ctx.actor_name, exclusive=True
        )
    except RunConflict as exc:
        raise CommandError(_busy(exc.run, ctx.services.clock())) from None
    ref = await ctx.reply(title)
    run = ctx.store.update_run(
        run.id, state="running", reply_to={"destination": ref.destination, "message_key": ref.key}
    )
    return run, ref


async def roll_run(
    services: Services, run: Run, progress: Progress, ref: MessageRef, *, title: str
) -> tuple[Rollout, Failure | None]:
    """Carry out a deploy's or rollback's recorded steps from where the run got to;
    return the rollout (for its rendering) and what stopped it, if anything."""
    net = services.config.networks[run.network or ""]
    steps = [Step.from_json(s) for s in run.args["steps"]]
    kube = await kube_for(services, net)
    rollout = Rollout(
        kube,
        net,
        steps,
        title=title,
        progress=progress,
        ref=ref,
        store=services.store,
        run_id=run.id,
        replace_stuck=run.kind == "rollback",
    )
    try:
        return rollout, await rollout.run(done_steps=run.result.get("done", []))
    except KubeError as exc:
        return rollout, Failure(steps[0], f"Kubernetes refused: {exc}")


class LogProgress:
    """Progress for a resumed run whose terminal session is gone: logged, not posted."""

    def __init__(self, run: Run) -> None:
        self.run = run

    async def reply(self, text: str) -> MessageRef:
        log.info("%s %s: %s", self.run.kind, self.run.id, text, extra={"event": "run_report"})
        return MessageRef("log", self.run.id)

    async def update(self, ref: MessageRef, text: str) -> None:
        log.debug("%s %s: %s", self.run.kind, self.run.id, text)

    async def reply_in_thread(self, ref: MessageRef, text: str) -> MessageRef:
        return await self.reply(text)


def resumed_progress(
    services: Services, run: Run
) -> tuple[OutboxResponder | LogProgress, MessageRef]:
    """Where a resumed run reports: its original message (chat), or the log (shell)."""
    destination = str(run.reply_to.get("destination", ""))
    key = str(run.reply_to.get("message_key", ""))
    if not destination or destination.startswith("shell:") or not key:
        return LogProgress(run), MessageRef("log", run.id)
    return OutboxResponder(services.outbox, destination), MessageRef(destination, key)
