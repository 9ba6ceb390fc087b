"""Configured sections that the bot would ignore: each one is a warning, shown by
``testnet-bot config check`` and logged when the bot starts, never silently dropped.
"""

from __future__ import annotations

from bot.config import BotConfig

WarningPath = tuple[str | int, ...]


def config_warnings(config: BotConfig) -> list[tuple[WarningPath, str]]:
    """Every section of ``config`` that is set but has no effect, with its path and
    what to do about it. An empty list means everything configured is used."""
    found: list[tuple[WarningPath, str]] = []
    discord = config.chat.discord
    if discord is not None and not discord.guilds:
        found.append(
            (
                ("chat", "discord", "guilds"),
                "is empty: /testnet is registered in no guild, so nobody can run commands "
                "from Discord (the bot still posts to its channels)",
            )
        )
    for name, net in config.networks.items():
        where: WarningPath = ("networks", name)
        if net.info.slack_channel is not None and config.chat.slack is None:
            found.append(
                (
                    (*where, "info", "slack_channel"),
                    "has no effect: chat.slack is not configured, so `info --post` has "
                    "nowhere to post",
                )
            )
        if "info" in net.model_fields_set and not net.connection_info:
            found.append(
                ((*where, "info"), "has no effect: the network has no connection_info entries")
            )
        prometheus = net.sanity.prometheus
        if prometheus is not None and not prometheus.checks:
            found.append(((*where, "sanity", "prometheus"), "has no effect: it lists no checks"))
    for i, row in enumerate(config.resolution_matrix):
        if discord is not None:
            if row.discord_role is not None:
                found.append(
                    (
                        ("resolution_matrix", i, "discord_role"),
                        "has no effect: public status messages in Discord mention no role",
                    )
                )
            continue
        if row.public:
            found.append(
                (
                    ("resolution_matrix", i, "public"),
                    "has no effect: chat.discord is not configured",
                )
            )
        if row.discord_role is not None:
            found.append(
                (
                    ("resolution_matrix", i, "discord_role"),
                    "has no effect: chat.discord is not configured",
                )
            )
    return found
