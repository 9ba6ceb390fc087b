"""What the validator commands share: the network's onboarding settings, address
lists, how a record reads in chat, and where notices go."""

from __future__ import annotations

from bot.config import NetworkConfig, ValidatorsConfig
from bot.context import Context, Services
from bot.errors import CommandError
from commands.text import ago
from integrations.eth_address import Address
from state.validators import ValidatorRecord

STATE_ICONS = {"ready": "🟡", "adding": "🔄", "added": "✅", "failed": "❌", "removed": "⚪"}


def onboarding(ctx: Context, network: str | None) -> tuple[str, NetworkConfig, ValidatorsConfig]:
    """The network (named or default) and its ``validators`` settings."""
    name, net = ctx.network(network)
    return name, net, net.validators


def describe(record: ValidatorRecord, now: float) -> str:
    """One line about a record: its state, since when, by whom."""
    if record.state == "added" and record.added_at is not None:
        how = f"added {ago(record.added_at, now)} by {record.added_by}"
    elif record.state == "adding":
        how = f"being added (by {record.added_by})"
    elif record.state == "failed":
        how = f"failed to be added ({record.error.splitlines()[0] if record.error else '?'})"
    elif record.state == "removed":
        how = f"removed {ago(record.updated_at, now)}"
    else:
        who = f" by {record.ready_by}" if record.ready_by else ""
        how = f"ready since {ago(record.ready_at, now)}{who}"
    return f"{Address(record.address).checksum} is {record.state}: {how}"


def parse_addresses(words: str) -> list[Address]:
    """Addresses separated by spaces or commas; each checked, none twice."""
    items = [w for w in words.replace(",", " ").split() if w]
    parsed: list[Address] = []
    seen: set[str] = set()
    problems: list[str] = []
    for item in items:
        try:
            address = Address.parse(item)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if address.key in seen:
            problems.append(f"`{address}` is given twice")
            continue
        seen.add(address.key)
        parsed.append(address)
    if problems:
        raise CommandError("Nothing was changed: " + "; ".join(problems) + ".")
    return parsed


def notice_channel(services: Services, cfg: ValidatorsConfig) -> str | None:
    """The ``discord:<channel>`` destination of public notices, if configured."""
    channel = cfg.discord_channel
    if channel is None and services.config.chat.discord is not None:
        channel = services.config.chat.discord.channels.get("validators")
    return f"discord:{channel}" if channel is not None else None


def role_guild(services: Services, cfg: ValidatorsConfig) -> int | None:
    """The guild whose role the self-check grants."""
    if cfg.discord_guild is not None:
        return cfg.discord_guild
    discord = services.config.chat.discord
    if discord is not None and len(discord.guilds) == 1:
        return discord.guilds[0]
    return None
