"""``/testnet validator add`` and ``/testnet validator remove``.

Adding is a durable run: the addresses are reserved (``adding``) within the set's cap
and daily quota in one transaction, then each is added by the configured Job, one
after another, each line of the progress message edited in place. A bot restarted
while a Job runs re-attaches to that Job and reports once. Each added validator gets a
short public notice in the configured Discord channel; the details go to the
command's thread.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from bot.config import NetworkConfig, ValidatorsConfig
from bot.context import Context, Services
from bot.core import ConfirmRequest, MessageRef
from bot.errors import AlreadyReported, CommandError
from bot.registry import Help, Option, Rest, command, workflow
from commands.common import PROBES, Progress, resumed_progress
from commands.text import timestamp
from commands.validators.common import (
    describe,
    notice_channel,
    onboarding,
    parse_addresses,
)
from commands.validators.jobs import job_name, run_job
from integrations.eth_address import Address
from integrations.probe_models import ProbeError
from state.records import Run
from state.validators import NotReservable

log = logging.getLogger("testnet_bot.validators")
KIND = "validator-add"
LINE = {"queued": "⏳", "adding": "🔄", "added": "✅", "failed": "❌"}


# -- checks ----------------------------------------------------------------------


async def current_epoch(services: Services, net: NetworkConfig) -> int | None:
    """The current epoch from ``validators.epoch_query`` (None when none is configured)."""
    cfg = net.validators
    if cfg.epoch_query is None:
        return None
    url = cfg.prometheus_url or (net.sanity.prometheus.url if net.sanity.prometheus else None)
    if url is None:
        raise CommandError(
            "Cannot check the epoch: `validators.epoch_query` is set but no Prometheus "
            "(`validators.prometheus_url` or `sanity.prometheus.url`) is."
        )
    probes = services.get(PROBES)
    if probes is None:
        raise CommandError("Cannot check the epoch: this bot has no Prometheus access.")
    try:
        samples = await probes.query(str(url), cfg.epoch_query, timeout=10.0)
    except ProbeError as exc:
        raise CommandError(f"Cannot read the current epoch: {exc}") from None
    if not samples:
        raise CommandError(f"Cannot read the current epoch: `{cfg.epoch_query}` returned no data.")
    return int(max(s.value for s in samples))


async def _check_epoch(services: Services, name: str, net: NetworkConfig) -> str:
    epoch = await current_epoch(services, net)
    start = net.validators.start_epoch
    if epoch is None:
        return "(the epoch is not checked: no `validators.epoch_query`)"
    if epoch < start:
        raise CommandError(
            f"Not yet: `{name}` is at epoch {epoch}; validators are added from epoch {start}."
        )
    return f"epoch {epoch} (adding from epoch {start})"


def _targets(ctx: Context, name: str, addresses: str, all_ready: bool) -> list[Address]:
    if all_ready and addresses.strip():
        raise CommandError("Give addresses or `--all-ready`, not both.")
    if all_ready:
        ready = ctx.store.validators.records(name, ("ready",))
        if not ready:
            raise CommandError(f"Nobody is ready to be added to `{name}`.")
        return [Address(r.address) for r in ready]
    if not addresses.strip():
        raise CommandError("Which addresses? Give one or more, or `--all-ready`.")
    targets = parse_addresses(addresses)
    problems = []
    now = ctx.services.clock()
    for address in targets:
        record = ctx.store.validators.get(name, address.key)
        if record is None:
            problems.append(
                f"`{address}` is not recorded as ready (`/testnet validator ready {address}`)"
            )
        elif record.state not in ("ready", "failed"):
            problems.append(describe(record, now))
    if problems:
        raise CommandError("Nothing was changed: " + "; ".join(problems) + ".")
    return targets


def _room(ctx: Context, name: str, cfg: ValidatorsConfig, wanted: int) -> str:
    """Refuse beyond the cap or the daily quota; describe the room otherwise."""
    counts = ctx.store.validators.counts(name)
    in_set = counts["added"] + counts["adding"]
    if in_set + wanted > cfg.max:
        raise CommandError(_over_cap(name, cfg.max, in_set, wanted))
    if cfg.per_day is not None:
        used = counts.added_last_day + counts["adding"]
        if used + wanted > cfg.per_day:
            raise CommandError(_over_quota(ctx, name, cfg, used, wanted))
    return f"{in_set}/{cfg.max} in the set"


def _over_cap(name: str, cap: int, in_set: int, wanted: int) -> str:
    return (
        f"Refused: `{name}`'s validator set holds at most {cap}; {in_set} are added or being "
        f"added, so {max(0, cap - in_set)} more fit, not {wanted}."
    )


def _over_quota(ctx: Context, name: str, cfg: ValidatorsConfig, used: int, wanted: int) -> str:
    assert cfg.per_day is not None
    room = max(0, cfg.per_day - used)
    text = (
        f"Refused: at most {cfg.per_day} validators may be added to `{name}` in 24 hours; "
        f"{used} were, so {room} more fit now, not {wanted}."
    )
    slot = ctx.store.validators.next_slot(
        name, ctx.services.clock(), cfg.per_day, max(1, wanted - room)
    )
    if slot is not None:
        text += f" The next slot opens at {timestamp(slot)}."
    return text


async def _plan(
    ctx: Context,
    *,
    addresses: str = "",
    all_ready: bool = False,
    network: str | None = None,
) -> str:
    name, net, cfg = onboarding(ctx, network)
    if cfg.add_job is None:
        raise CommandError(f"No `validators.add_job` is configured for `{name}`.")
    targets = _targets(ctx, name, addresses, all_ready)
    room = _room(ctx, name, cfg, len(targets))
    epoch = await _check_epoch(ctx.services, name, net)
    lines = [f"Add {len(targets)} validator(s) to `{name}` ({room}; {epoch}):"]
    lines += [f"• `{a}`" for a in targets]
    lines.append(f"Each by a Job running `{cfg.add_job.image}`, one after another.")
    return "\n".join(lines)


# -- add -------------------------------------------------------------------------


@command("validator add", permission="validator_add", dangerous=True, plan=_plan)
async def validator_add(
    ctx: Context,
    *,
    addresses: Annotated[str, Rest, Help("Addresses to add (ready or failed before)")] = "",
    all_ready: Annotated[bool, Help("Add every address that is ready")] = False,
    network: Annotated[str | None, Option, Help("Network (default: the only one)")] = None,
) -> None:
    """Add validators to the set, each by the configured Kubernetes Job.

    Refused before `validators.start_epoch`, beyond `validators.max` and beyond the
    daily quota `validators.per_day`. Reports each address in place; a failed one
    shows its Job's log and can be retried.
    """
    name, net, cfg = onboarding(ctx, network)
    if cfg.add_job is None:
        raise CommandError(f"No `validators.add_job` is configured for `{name}`.")
    targets = _targets(ctx, name, addresses, all_ready)
    failed = await _add(ctx, name, net, targets)
    if failed and await _retry_approved(ctx, name, net, failed):
        failed = await _add(ctx, name, net, failed)
    if failed:
        raise AlreadyReported(f"{len(failed)} validator(s) were not added")


async def _add(
    ctx: Context, name: str, net: NetworkConfig, targets: list[Address]
) -> list[Address]:
    """Check the epoch, reserve the addresses and run the addition; return those that
    failed."""
    cfg = net.validators
    await _check_epoch(ctx.services, name, net)
    actor = ctx.invocation.actor
    args: dict[str, Any] = {
        "addresses": [a.key for a in targets],
        "actor": {"platform": actor.platform, "id": actor.id},
    }
    if ctx.approvers:
        args["approved_by"] = list(ctx.approvers)
    # The run is recorded before the addresses are reserved: a crash in between leaves
    # a run that finds them not reserved, never addresses held by no run.
    run = ctx.store.create_run(kind=KIND, network=name, args=args, owner=ctx.actor_name)
    try:
        ctx.store.validators.reserve(
            name, [a.key for a in targets], by=ctx.actor_name, cap=cfg.max, per_day=cfg.per_day
        )
    except NotReservable as exc:
        ctx.store.update_run(run.id, state="cancelled", step="refused")
        raise CommandError(_refusal(ctx, name, cfg, exc, len(targets))) from None
    ref = await ctx.reply(_render(run, {}, None))
    run = ctx.store.update_run(
        run.id, state="running", reply_to={"destination": ref.destination, "message_key": ref.key}
    )
    done = await execute_add(ctx.services, run, ctx.invocation.responder, ref)
    return [Address(k) for k, v in done.items() if v != "added"]


async def _retry_approved(
    ctx: Context, name: str, net: NetworkConfig, failed: list[Address]
) -> bool:
    """Offer, once, to retry the failed addresses (a button where the platform has
    them); True when approved by someone holding ``validator_add``."""
    actor = ctx.invocation.actor
    if not ctx.services.permissions.has(actor, "validator_add"):
        return False
    listed = ", ".join(f"`{a}`" for a in failed)
    answer = await ctx.confirm(
        ConfirmRequest(
            command="validator add",
            plan=f"Retry adding {len(failed)} validator(s) to `{name}` that failed: {listed}?",
            permission="validator_add",
            requester=actor,
            approvals=net.approvals,
        )
    )
    if not answer.approved:
        await ctx.reply(f"Not retried ({answer.reason or 'not approved'}).")
    return answer.approved


def _refusal(
    ctx: Context, name: str, cfg: ValidatorsConfig, exc: NotReservable, wanted: int
) -> str:
    if exc.reason == "cap":
        return _over_cap(name, cfg.max, cfg.max - exc.room, wanted)
    if exc.reason == "quota":
        assert cfg.per_day is not None
        return _over_quota(ctx, name, cfg, cfg.per_day - exc.room, wanted)
    now = ctx.services.clock()
    why = [describe(r, now) for r in exc.records] + [f"`{a}` is not recorded" for a in exc.missing]
    return "Nothing was changed: " + "; ".join(why) + "."


def _render(run: Run, done: dict[str, str], current: str | None) -> str:
    title = f"🧾 Adding {len(run.args['addresses'])} validator(s) to `{run.network}` "
    title += f"(requested by {run.owner})"
    lines = [title]
    for key in run.args["addresses"]:
        outcome = done.get(key)
        if outcome is not None:
            state = "added" if outcome == "added" else "failed"
            extra = "" if outcome == "added" else f": {outcome.removeprefix('failed: ')}"
        elif key == current:
            state, extra = "adding", ""
        else:
            state, extra = "queued", ""
        lines.append(f"{LINE[state]} `{Address(key)}` {state}{extra}")
    return "\n".join(lines)


async def execute_add(
    services: Services,
    run: Run,
    progress: Progress,
    ref: MessageRef,
) -> dict[str, str]:
    """Add the run's addresses from wherever it got to; return each address's outcome
    (``added`` or ``failed: why``)."""
    name = run.network or ""
    net = services.config.networks[name]
    cfg = net.validators
    repo = services.store.validators
    done: dict[str, str] = dict(run.result.get("done", {}))
    for key in run.args["addresses"]:
        if key in done:
            continue
        address = Address(key)
        record = repo.get(name, key)
        if record is None or record.state not in ("adding", "added", "failed"):
            done[key] = "failed: its record changed while it waited"
            continue
        if record.state == "adding":
            jname = record.job or job_name("add", run.id, address)
            if not record.job:
                repo.set_job(name, key, jname)
            await progress.update(ref, _render(run, done, key))
            if cfg.add_job is None:
                outcome_ok, reason, tail = False, "no `validators.add_job` is configured", ""
            else:
                outcome = await run_job(services, net, cfg.add_job, jname, address, run.id)
                outcome_ok, reason, tail = outcome.ok, outcome.reason, outcome.log_tail
            repo.finish(name, key, error=None if outcome_ok else f"{reason}\n{tail}".strip())
        else:  # finished before a restart, not yet reported
            jname = record.job
            outcome_ok, reason, tail = record.state == "added", record.error, ""
        who = run.args.get("actor") or {}
        services.store.audit(
            trace_id=run.id,
            platform=str(who.get("platform") or "job"),
            actor=str(who.get("id") or run.owner),
            command="validator add",
            args=f"{Address(key)} --network {name}",
            outcome="ok" if outcome_ok else "failed",
            detail=(f"Job {jname}" + ("" if outcome_ok else f": {reason}"))[:500],
        )
        done[key] = (
            "added" if outcome_ok else f"failed: {reason.splitlines()[0] if reason else '?'}"
        )
        run = services.store.update_run(
            run.id, step=f"{len(done)}/{len(run.args['addresses'])}", result={"done": done}
        )
        await progress.update(ref, _render(run, done, None))
        await _report(services, run, progress, ref, address, jname, outcome_ok, reason, tail)
    await _finish(services, run, progress, ref, done)
    return done


async def _report(
    services: Services,
    run: Run,
    progress: Progress,
    ref: MessageRef,
    address: Address,
    jname: str,
    ok: bool,
    reason: str,
    tail: str,
) -> None:
    name = run.network or ""
    cfg = services.config.networks[name].validators
    if ok:
        record = services.store.validators.get(name, address.key)
        who = f" (operator {record.operator})" if record and record.operator else ""
        await progress.reply_in_thread(
            ref, f"✅ `{address}`{who} added to `{name}` by Job `{jname}`."
        )
        destination = notice_channel(services, cfg)
        if destination is not None:
            services.outbox.enqueue(
                destination,
                "post",
                {"text": f"🎉 A new validator joined {name}: `{address}`. Welcome!"},
                dedupe_key=f"validator-notice:{name}:{address.key}:{run.id}",
            )
        return
    text = f"❌ `{address}` was not added: {reason.splitlines()[0] if reason else '?'}"
    if tail:
        text += f"\nLast lines of Job `{jname}`'s log:\n```\n{tail.rstrip()}\n```"
    text += f"\nRetry with `/testnet validator add {address}`."
    await progress.reply_in_thread(ref, text)


async def _finish(
    services: Services, run: Run, progress: Progress, ref: MessageRef, done: dict[str, str]
) -> None:
    name = run.network or ""
    added = sum(v == "added" for v in done.values())
    failed = len(done) - added
    counts = services.store.validators.counts(name)
    cap = services.config.networks[name].validators.max
    services.store.update_run(
        run.id, state="succeeded" if not failed else "failed", step="done", result={"done": done}
    )
    summary = (
        f"Added {added} of {len(done)} validator(s) to `{name}`: "
        f"{counts['added']}/{cap} in the set."
    )
    if failed:
        summary = "⚠️ " + summary + f" {failed} failed (details in the thread)."
    else:
        summary = "✅ " + summary
    await progress.reply(summary)


@workflow(KIND)
async def resume_add(services: Services, run: Run) -> None:
    """Re-attach to a validator addition the bot was running when it stopped."""
    progress, ref = resumed_progress(services, run)
    await progress.reply_in_thread(ref, "↻ The bot restarted; re-attached to these additions.")
    await execute_add(services, run, progress, ref)


# -- remove ----------------------------------------------------------------------


async def _remove_plan(ctx: Context, *, address: Address, network: str | None = None) -> str:
    name, _, cfg = onboarding(ctx, network)
    record = ctx.store.validators.get(name, address.key)
    if record is None or record.state == "removed":
        raise CommandError(f"`{address}` is not in `{name}`'s records.")
    if record.state == "adding":
        raise CommandError(f"Not now: {describe(record, ctx.services.clock())}.")
    how = (
        f"by a Job running `{cfg.remove_job.image}`"
        if cfg.remove_job is not None and record.state == "added"
        else "in the bot's records only"
    )
    return f"Remove `{address}` ({record.state}) from `{name}`'s validators, {how}?"


@command("validator remove", permission="validator_add", dangerous=True, plan=_remove_plan)
async def validator_remove(
    ctx: Context,
    *,
    address: Annotated[Address, Help("The validator's address")],
    network: Annotated[str | None, Option, Help("Network (default: the only one)")] = None,
) -> None:
    """Take a validator out of the set (by the configured removal Job, or only the record)."""
    name, net, cfg = onboarding(ctx, network)
    await _remove_plan(ctx, address=address, network=network)
    record = ctx.store.validators.get(name, address.key)
    assert record is not None
    if cfg.remove_job is not None and record.state == "added":
        run_id = ctx.invocation.trace_id
        jname = job_name("remove", run_id, address)
        ref = await ctx.reply(f"🔄 Removing `{address}` from `{name}` (Job `{jname}`)…")
        outcome = await run_job(ctx.services, net, cfg.remove_job, jname, address, run_id)
        if not outcome.ok:
            text = f"❌ `{address}` was not removed: {outcome.reason}"
            if outcome.log_tail:
                text += f"\n```\n{outcome.log_tail.rstrip()}\n```"
            await ctx.update(ref, text)
            raise AlreadyReported(outcome.reason)
        ctx.store.validators.remove(name, address.key)
        await ctx.update(ref, f"⚪ `{address}` was removed from `{name}` by Job `{jname}`.")
        return
    ctx.store.validators.remove(name, address.key)
    await ctx.reply(f"⚪ `{address}` is no longer in `{name}`'s validator records.")
