"""``/testnet lock`` and ``/testnet unlock``: a deploy freeze on a network."""

from __future__ import annotations

from typing import Annotated

from bot.context import Context
from bot.errors import CommandError
from bot.registry import Help, Rest, command
from commands.text import ago
from state.store import LockHeld


@command("lock", permission="deploy")
async def lock(
    ctx: Context,
    *,
    network: Annotated[str, Help("Network to freeze")],
    reason: Annotated[str, Rest, Help("Why, shown to whoever tries to deploy")],
) -> None:
    """Freeze deploys and rollbacks on a network until it is unlocked."""
    name, _ = ctx.network(network)
    try:
        ctx.store.lock(name, holder=ctx.actor_name, reason=reason)
    except LockHeld as exc:
        held = exc.lock
        raise CommandError(
            f"`{name}` is already locked by {held.holder} "
            f"{ago(held.since, ctx.services.clock())}: {held.reason}"
        ) from None
    await ctx.reply(
        f"🔒 `{name}` is locked: {reason}. Deploys are refused until `/testnet unlock {name}`."
    )


async def _unlock_plan(ctx: Context, *, network: str) -> str:
    """What unlocking will lift; refuses (before anyone is asked to approve) when the
    network is not locked."""
    name, _ = ctx.network(network)
    held = ctx.store.get_lock(name)
    if held is None:
        raise CommandError(f"`{name}` is not locked; there is nothing to unlock.")
    since = ago(held.since, ctx.services.clock())
    return f"Unlock `{name}`, locked by {held.holder} {since}: {held.reason}."


@command("unlock", permission="deploy", dangerous=True, plan=_unlock_plan)
async def unlock(ctx: Context, *, network: Annotated[str, Help("Network to unfreeze")]) -> None:
    """Lift a deploy freeze."""
    name, _ = ctx.network(network)
    held = ctx.store.unlock(name)
    if held is None:
        raise CommandError(f"`{name}` is not locked.")
    await ctx.reply(f"🔓 `{name}` is unlocked (was locked by {held.holder}: {held.reason}).")
