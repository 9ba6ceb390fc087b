"""``/testnet help [command]``: what the bot can do, generated from the registry."""

from __future__ import annotations

from typing import Annotated

from bot.context import Context
from bot.dispatcher import suggest
from bot.errors import CommandError
from bot.registry import Help, Rest, command


@command("help")
async def help_(
    ctx: Context,
    *,
    topic: Annotated[str | None, Rest, Help("A command to explain, e.g. deploy")] = None,
) -> None:
    """List every command, or explain one.

    `/testnet help` lists the commands with one line each; `/testnet help deploy`
    shows the usage, options and permission of one.
    """
    registry = ctx.services.registry
    if topic is None:
        specs = registry.specs()
        width = max(len(s.usage()) for s in specs)
        lines = [f"`/testnet {s.usage()}`".ljust(width + 12) + s.summary for s in specs]
        await ctx.reply(
            "Commands:\n" + "\n".join(lines) + "\n\n`/testnet help <command>` for more."
        )
        return
    text = registry.help_for(topic)
    if text is None:
        hint = suggest(topic.split()[0], list(registry.names()))
        extra = f" Did you mean `/testnet help {hint}`?" if hint else ""
        raise CommandError(f"No command `{topic}`.{extra} `/testnet help` lists them.")
    await ctx.reply(text)
