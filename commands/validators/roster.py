"""The validator set's records: ``/testnet validator ready`` (DevRel records an
operator by hand), ``/testnet validators`` and ``/testnet validator queue``."""

from __future__ import annotations

from typing import Annotated

from bot.context import Context
from bot.core import Table
from bot.errors import CommandError
from bot.registry import Help, Option, Rest, command
from commands.text import ago
from commands.validators.common import STATE_ICONS, describe, onboarding
from integrations.eth_address import Address
from state.validators import AlreadyRecorded, ValidatorRecord


@command("validator ready", permission="validator_add", top_level=True)
async def validator_ready(
    ctx: Context,
    *,
    address: Annotated[Address, Help("The operator's validator address (0x + 40 hex)")],
    operator: Annotated[str | None, Rest, Help("Who runs it (a name or handle)")] = None,
    network: Annotated[str | None, Option, Help("Network (default: the only one)")] = None,
) -> None:
    """Record an operator's validator address as ready to be added.

    For operators DevRel has checked by hand; the self-check (`/operator start`) does
    the same on its own. An address already recorded is refused with its state.
    """
    name, _, _ = onboarding(ctx, network)
    who = (operator or "").strip()
    try:
        record = ctx.store.validators.mark_ready(
            name, address.key, by=ctx.actor_name, source="manual", operator=who
        )
    except AlreadyRecorded as exc:
        raise CommandError(
            f"Nothing changed: {describe(exc.record, ctx.services.clock())}."
        ) from None
    owner = f" (operator {record.operator})" if record.operator else ""
    await ctx.reply(
        f"🟡 `{address}`{owner} is ready to be added to `{name}`'s validator set "
        f"(`/testnet validator add {address}`)."
    )


def _rows(records: list[ValidatorRecord], now: float) -> tuple[tuple[str, ...], ...]:
    rows = []
    for r in records:
        since = r.added_at if r.state == "added" and r.added_at else r.updated_at
        rows.append(
            (
                Address(r.address).checksum,
                f"{STATE_ICONS.get(r.state, '')} {r.state}",
                r.operator or "-",
                ago(since, now),
            )
        )
    return tuple(rows)


HEADERS = ("address", "state", "operator", "since")


@command("validators")
async def validators(
    ctx: Context,
    *,
    network: Annotated[str | None, Help("Network (default: the only one)")] = None,
) -> None:
    """How far the validator set is: added of the maximum, ready, failed, with the list."""
    name, _, cfg = onboarding(ctx, network)
    repo = ctx.store.validators
    counts = repo.counts(name)
    parts = [f"{counts['added']}/{cfg.max} added"]
    for state in ("adding", "ready", "failed"):
        if counts[state]:
            parts.append(f"{counts[state]} {state}")
    head = f"`{name}` validators: " + ", ".join(parts)
    records = repo.records(name, ("added", "adding", "ready", "failed"))
    if not records:
        await ctx.reply(head + ". No validator addresses are recorded yet.")
        return
    table = Table(HEADERS, _rows(records, ctx.services.clock()))
    await ctx.reply(head, table=table)


@command("validator queue")
async def validator_queue(
    ctx: Context,
    *,
    network: Annotated[str | None, Help("Network (default: the only one)")] = None,
) -> None:
    """Addresses waiting to be added (ready, oldest first), and those being added or failed."""
    name, _, _ = onboarding(ctx, network)
    records = ctx.store.validators.records(name, ("ready", "adding", "failed"))
    if not records:
        await ctx.reply(f"Nobody is waiting to be added to `{name}`'s validator set.")
        return
    order = {"adding": 0, "ready": 1, "failed": 2}
    records.sort(key=lambda r: (order[r.state], r.ready_at))
    ready = sum(r.state == "ready" for r in records)
    hint = " `/testnet validator add --all-ready` adds them." if ready else ""
    table = Table(HEADERS, _rows(records, ctx.services.clock()))
    await ctx.reply(f"`{name}` validator queue: {ready} ready.{hint}", table=table)
