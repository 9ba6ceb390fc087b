"""``/testnet audit [n]``: who ran what, and how it ended."""

from __future__ import annotations

from typing import Annotated

from bot.context import Context
from bot.core import Table
from bot.errors import CommandError
from bot.registry import Help, command
from commands.text import timestamp


@command("audit")
async def audit(ctx: Context, *, n: Annotated[int, Help("How many entries (1-200)")] = 20) -> None:
    """Show the newest entries of the audit log."""
    if not 1 <= n <= 200:
        raise CommandError("Ask for between 1 and 200 entries.")
    entries = ctx.store.recent_audit(n)
    if not entries:
        await ctx.reply("The audit log is empty.")
        return
    table = Table(
        ("when", "who", "command", "outcome"),
        tuple(
            (timestamp(e.ts), f"{e.platform}:{e.actor}", e.args or e.command, e.outcome)
            for e in entries
        ),
    )
    await ctx.reply(f"Last {len(entries)} audit entries:", table=table)
