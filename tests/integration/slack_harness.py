"""A running bot wired to the Slack fake, and helpers that act like Slack."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import Bot
from bot.registry import DEFAULT_REGISTRY, Registry
from integrations.chat.slack_blocks import APPROVE_ACTION
from tests.fakes.slack_api import DEPLOYS, FakeMessage, SlackFake
from tests.fakes.slack_signing import signed_block_actions, signed_slash_command
from tests.harness import make_config

SECRET = "signing-secret-for-tests"


@dataclass
class SlackBot:
    """The real bot on a free port, the Slack fake, and an HTTP client playing Slack."""

    bot: Bot
    slack: SlackFake
    http: aiohttp.ClientSession

    @property
    def events_url(self) -> str:
        return f"{self.bot.url}/slack/events"

    async def command(
        self,
        text: str,
        *,
        user: str,
        channel: str = DEPLOYS,
        retry_of: dict[str, str] | None = None,
    ) -> tuple[int, float, dict[str, str]]:
        """POST a signed ``/testnet text``; return (status, seconds to the ack, fields)."""
        fields = retry_of or self.slack.slash_command(text, user_id=user, channel_id=channel)
        request = signed_slash_command(fields, SECRET, retry_num=1 if retry_of else None)
        started = time.monotonic()
        async with self.http.post(
            self.events_url, data=request.body, headers=request.headers
        ) as resp:
            await resp.read()
            return resp.status, time.monotonic() - started, fields

    async def click(
        self,
        message: FakeMessage,
        *,
        user: str,
        action: str = APPROVE_ACTION,
        retry: bool = False,
        payload: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Click a button of ``message`` as ``user``; return (status, the payload sent)."""
        if payload is None:
            value = confirmation_id(message)
            payload = self.slack.block_action(
                action, value=value, user_id=user, channel_id=message.channel, message_ts=message.ts
            )
        request = signed_block_actions(payload, SECRET, retry_num=1 if retry else None)
        async with self.http.post(
            self.events_url, data=request.body, headers=request.headers
        ) as resp:
            await resp.read()
            return resp.status, payload

    async def confirmation_message(self, channel: str = DEPLOYS, *, index: int = -1) -> FakeMessage:
        """Wait for a message with Approve/Cancel buttons and return it."""
        await self.slack.wait_until(
            lambda: bool(_with_buttons(self.slack.messages(channel))), within=10
        )
        return _with_buttons(self.slack.messages(channel))[index]

    def texts(self, channel: str = DEPLOYS) -> list[str]:
        """Current texts of the channel's messages, oldest first."""
        return [m.text for m in self.slack.messages(channel)]

    def ephemerals(self, user: str) -> list[str]:
        """Texts posted to ``user`` through response URLs, oldest first."""
        return [e.text for e in self.slack.ephemerals if e.user == user]


def _with_buttons(messages: list[FakeMessage]) -> list[FakeMessage]:
    return [
        m
        for m in messages
        if m.revisions[0].blocks and any(b.get("type") == "actions" for b in m.revisions[0].blocks)
    ]


def confirmation_id(message: FakeMessage) -> str:
    """The confirmation id carried by a message's buttons."""
    for block in message.revisions[0].blocks or []:
        if block.get("type") == "actions":
            return str(block["elements"][0]["value"])
    raise AssertionError("no buttons on the message")


@asynccontextmanager
async def slack_bot(
    tmp_path: Path, *, registry: Registry = DEFAULT_REGISTRY, **config: Any
) -> AsyncIterator[SlackBot]:
    """Start the Slack fake and the bot configured to use it (HTTP mode unless
    ``app_token`` is given in ``slack``)."""
    slack_overrides = config.pop("slack", {})
    async with SlackFake() as slack, aiohttp.ClientSession() as http:
        settings = {
            "bot_token": slack.bot_token,
            "signing_secret": SECRET,
            "api_url": slack.api_url,
            **slack_overrides,
        }
        cfg = make_config(tmp_path, chat={"slack": settings, **config.pop("chat", {})}, **config)
        async with Bot(cfg, registry=registry) as bot:
            yield SlackBot(bot, slack, http)
