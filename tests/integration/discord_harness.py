"""A running bot wired to the Discord fake, and helpers that act like Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import Bot
from bot.registry import DEFAULT_REGISTRY, Registry
from tests.fakes.discord_api import (
    GENERAL,
    GUILD_ID,
    HIDDEN,
    READ_ONLY,
    DiscordFake,
    InteractionRecord,
)
from tests.fakes.discord_payloads import FakeMessage
from tests.harness import make_config

CHANNELS = {
    "general": GENERAL,
    "connection_info": GENERAL,
    "status": GENERAL,
    "announcements": READ_ONLY,
    "staff": HIDDEN,
}


@dataclass
class DiscordBot:
    """The real bot, its Discord adapter connected to the fake."""

    bot: Bot
    fake: DiscordFake

    async def command(self, command: str, options: dict[str, Any] | None = None, **kwargs: Any) -> InteractionRecord:
        """Dispatch ``/testnet <command>`` through the gateway; return its record."""
        payload = self.fake.slash_command(f"testnet {command}", options or {}, **kwargs)
        return await self.fake.dispatch_interaction(payload)

    async def answered(self, record: InteractionRecord, timeout: float = 10.0) -> FakeMessage:
        """Wait until the deferred response was edited; return it."""
        await self.fake.wait_until(
            lambda: record.original is not None and not record.original.is_loading, timeout
        )
        assert record.original is not None
        return record.original

    def texts(self, channel: int = GENERAL) -> list[str]:
        """Current contents of the channel's messages, oldest first."""
        return [m.content for m in self.fake.messages(channel)]

    def with_buttons(self, channel: int = GENERAL) -> list[FakeMessage]:
        """Messages that carried buttons at some point."""
        return [m for m in self.fake.messages(channel) if custom_ids(m)]


def custom_ids(message: FakeMessage) -> list[str]:
    """The custom ids of the first buttons a message carried."""
    for revision in message.revisions:
        if revision.components:
            return [c["custom_id"] for row in revision.components for c in row["components"]]
    return []


@asynccontextmanager
async def discord_bot(
    tmp_path: Path,
    *,
    registry: Registry = DEFAULT_REGISTRY,
    fake: DiscordFake | None = None,
    discord: dict[str, Any] | None = None,
    serve_http: bool = False,
    **config: Any,
) -> AsyncIterator[DiscordBot]:
    """Start the Discord fake (unless given) and the bot configured to use it."""
    async with _fake(fake) as running:
        settings = {
            "token": running.token,
            "api_url": running.api_url,
            "guilds": [GUILD_ID],
            "channels": CHANNELS,
            **(discord or {}),
        }
        cfg = make_config(tmp_path, chat={"discord": settings, **config.pop("chat", {})}, **config)
        async with Bot(cfg, registry=registry, serve_http=serve_http) as bot:
            yield DiscordBot(bot, running)


@asynccontextmanager
async def _fake(fake: DiscordFake | None) -> AsyncIterator[DiscordFake]:
    if fake is not None:
        yield fake
        return
    async with DiscordFake() as running:
        yield running
