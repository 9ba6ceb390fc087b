"""What the validator tests share: a network with onboarding configured, commands run
as a Discord or Slack user through the real dispatcher, and what the bot queued."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from bot.core import Actor, Invocation, Outcome
from bot.responder import OutboxResponder
from tests.harness import ShellBot

GUILD = 555
ROLE = 777
NOTICES = 900
NAMESPACE = "alpha-testnet"
OPERATORS_CHANNEL = "discord:901"
ADDRESSES = (  # the EIP-55 spec's examples
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
)


def network(**validators: Any) -> dict[str, Any]:
    """The ``networks`` config: one network ``alpha`` with ``validators`` settings."""
    return {
        "alpha": {
            "namespace": NAMESPACE,
            "image": "aztecprotocol/aztec",
            "validators": {"discord_guild": GUILD, "discord_role": ROLE, **validators},
        }
    }


async def say_as(
    bot: ShellBot,
    text: str,
    *,
    user: str,
    name: str,
    platform: str = "discord",
    channel: str = OPERATORS_CHANNEL,
) -> tuple[Outcome, list[str]]:
    """Run ``/testnet text`` (or ``text`` itself when it is a slash command) as a chat user (an invocation as the platform's adapter
    builds it, answered through the outbox); return its outcome and replies."""
    services = bot.bot.services
    before = _last_id(bot)
    invocation = Invocation(
        actor=Actor(platform, user, name),
        text=text if text.startswith("/") else f"/testnet {text}",
        responder=OutboxResponder(services.outbox, channel),
        trace_id=uuid.uuid4().hex[:12],
        channel=channel,
    )
    outcome = await bot.bot.dispatcher.dispatch(invocation)
    replies = [p["text"] for d, op, p in queued(bot, after=before) if d == channel]
    return outcome, replies


def _last_id(bot: ShellBot) -> int:
    row = bot.store.conn.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()
    return int(row[0])


def queued(bot: ShellBot, *, after: int = 0) -> list[tuple[str, str, dict[str, Any]]]:
    """Every outbox item (destination, op, payload) queued after item ``after``."""
    rows = bot.store.conn.execute(
        "SELECT destination, op, payload FROM outbox WHERE id > ? ORDER BY id", (after,)
    ).fetchall()
    return [(d, op, json.loads(p)) for d, op, p in rows]


def role_grants(bot: ShellBot) -> list[dict[str, Any]]:
    """The Discord role grants the bot queued."""
    return [p for d, op, p in queued(bot) if op == "add_role" and d == f"discord:guild:{GUILD}"]


def audit(bot: ShellBot) -> list[tuple[str, str, str, str]]:
    """(actor, command, outcome, detail) of every audit entry, oldest first."""
    return [
        (e.actor, e.command, e.outcome, e.detail) for e in reversed(bot.store.recent_audit(500))
    ]


def db_path(tmp_path: Path) -> Path:
    """Where the bot's database is in these tests."""
    return tmp_path / "bot.db"
