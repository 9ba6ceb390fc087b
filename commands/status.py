"""``/testnet status``: networks, freezes, runs in flight and delivery health."""

from __future__ import annotations

from bot import __version__
from bot.context import Context
from bot.registry import command
from commands.text import ago, duration


@command("status")
async def status(ctx: Context) -> None:
    """Show networks, locks, runs in flight and the outbox's health."""
    store = ctx.store
    now = ctx.services.clock()
    lines = [f"testnet-bot {__version__}, up {duration(now - ctx.services.started_at)}"]
    networks = ctx.config.networks
    if networks:
        lines.append("Networks:")
        for name, net in sorted(networks.items()):
            held = store.get_lock(name)
            state = (
                f"🔒 locked by {held.holder} {ago(held.since, now)}: {held.reason}"
                if held
                else "open"
            )
            lines.append(f"  {name}: namespace {net.namespace}, image {net.image} — {state}")
    else:
        lines.append("Networks: none configured")
    runs = store.unfinished_runs()
    if runs:
        lines.append("In flight:")
        for run in runs:
            step = f", {run.step}" if run.step else ""
            started = ago(run.created_at, now)
            lines.append(
                f"  {run.kind} {run.network or ''} by {run.owner}, started {started}"
                f" ({run.state}{step})"
            )
    else:
        lines.append("In flight: nothing")
    pending = dead = 0
    for (_, state), n in store.outbox_counts(delivered=False).items():
        pending += n if state == "pending" else 0
        dead += n if state == "dead" else 0
    health = "✅" if dead == 0 else "⚠️"
    lines.append(f"Outbox: {health} {pending} pending, {dead} dead")
    for item in store.dead_items(5):
        lines.append(f"  dead #{item.id} → {item.destination}: {item.last_error}")
    await ctx.reply("\n".join(lines))
