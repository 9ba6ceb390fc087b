"""A bot to talk to in tests: ``async with ShellBot(config) as bot: await bot.say(...)``.

It is the real bot (store, dispatcher, outbox, shell adapter) with an in-memory
console, so a scenario reads like a conversation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from bot.app import Bot
from bot.config import BotConfig
from bot.core import Outcome
from bot.registry import DEFAULT_REGISTRY, Registry
from integrations.chat.shell import BufferConsole, ShellSession


def make_config(tmp_path: Path, **overrides: Any) -> BotConfig:
    """Built-in defaults with the database in ``tmp_path`` and HTTP on a free port."""
    data: dict[str, Any] = {
        "state": {"path": str(tmp_path / "bot.db")},
        "http": {"host": "127.0.0.1", "port": 0},
    }
    data.update(overrides)
    return BotConfig.model_validate(data)


class ShellBot:
    """The real bot with a shell session on an in-memory console."""

    def __init__(
        self,
        config: BotConfig,
        *,
        user: str | None = None,
        registry: Registry = DEFAULT_REGISTRY,
        serve_http: bool = False,
        assume_yes: bool | None = None,
    ) -> None:
        self.bot = Bot(config, registry=registry, serve_http=serve_http)
        self.user = user or config.chat.shell.user
        self.console = BufferConsole()
        self.assume_yes = assume_yes
        self.session: ShellSession | None = None
        self._seen = 0
        self.last_outcome: Outcome | None = None

    async def __aenter__(self) -> ShellBot:
        await self.bot.__aenter__()
        self.session = ShellSession(
            self.bot.dispatcher,
            self.bot.services.outbox,
            self.console,
            user=self.user,
            assume_yes=self.assume_yes,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.bot.__aexit__(exc_type, exc, tb)

    @property
    def store(self) -> Any:
        """The bot's state store."""
        return self.bot.services.store

    async def say(self, text: str, *, answer: str | None = None) -> str:
        """Type ``text``; if ``answer`` is given, queue it as the answer to the next
        question (queue more in ``console.answers`` first for earlier questions).
        Return everything the bot printed in response."""
        assert self.session is not None
        if answer is not None:
            self.console.answers.put_nowait(answer)
        self.last_outcome = await self.session.say(text)
        out = self.console.text[self._seen :]
        self._seen = len(self.console.text)
        return out


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], *, timeout: float = 10.0, what: str = ""
) -> None:
    """Wait until ``predicate`` holds, checking often; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(0.01)
