"""Discord: the generated /testnet tree, deferred interactions answered through the
outbox, roles as permissions, buttons, delivery errors, gateway drops; discord.py's real
client against the Discord fake."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.context import Context
from bot.registry import DEFAULT_REGISTRY, Registry
from tests.fakes.discord_api import ALICE, BOB, CAROL, DEVREL, GENERAL, GUILD_ID, OWNER, DiscordFake
from tests.harness import wait_until
from tests.integration.discord_harness import custom_ids, discord_bot

SETUP: dict[str, Any] = {
    "networks": {
        "alpha": {"namespace": "alpha", "image": "x"},
        "beta": {"namespace": "beta", "image": "x", "approvals": 2},
    },
    "roles": {
        "admin": {"discord_users": [OWNER.id]},
        "release": {"discord_roles": [DEVREL]},
        "lead": {"discord_users": [CAROL.id]},
    },
    "permissions": {"deploy": ["release", "lead"], "admin": ["admin"]},
}


def _option_summary(option: dict[str, Any]) -> tuple[str, int, bool]:
    return option["name"], option["type"], bool(option.get("required", False))


async def test_the_synced_tree_is_the_registry(tmp_path: Path) -> None:
    async with discord_bot(tmp_path) as db:
        [root] = db.fake.commands(GUILD_ID)
        assert root["name"] == "testnet" and db.fake.commands(None) == []
        synced: dict[tuple[str, ...], dict[str, Any]] = {}
        for entry in root["options"]:
            if entry["type"] == 2:
                for sub in entry["options"]:
                    synced[(entry["name"], sub["name"])] = sub
            else:
                synced[(entry["name"],)] = entry
        expected: set[tuple[str, ...]] = set()
        for spec in DEFAULT_REGISTRY.specs():
            path = spec.path
            if len(path) == 1 and any(s.path[:1] == path and len(s.path) == 2 for s in DEFAULT_REGISTRY.specs()):
                path = (path[0], "show")  # a command that is also a group's name
            expected.add(path)
            command = synced[path]
            assert command["type"] == 1 and 0 < len(command["description"]) <= 100
            assert command["description"].rstrip("…") in spec.summary
            options = {o["name"]: o for o in command.get("options", [])}
            assert set(options) == {p.name for p in spec.params}, spec.name
            for param in spec.params:
                option = options[param.name]
                kind = 5 if param.flag else 4 if param.type_name == "integer" else 3
                assert (option["type"], option.get("required", False)) == (kind, param.required), param
                assert [c["value"] for c in option.get("choices", [])] == list(param.choices)
                assert 0 < len(option["description"]) <= 100
            required = [o.get("required", False) for o in command.get("options", [])]
            assert required == sorted(required, reverse=True)  # required options first
        assert set(synced) == expected
        assert ("incidents",) in synced and synced[("incidents",)]["options"][0]["choices"]


async def test_an_unchanged_tree_is_not_synced_again(tmp_path: Path) -> None:
    async with DiscordFake() as fake:
        async with discord_bot(tmp_path, fake=fake):
            pass
        assert len(fake.command_syncs) == 1
        async with discord_bot(tmp_path, fake=fake):
            pass
        assert len(fake.command_syncs) == 1  # same schema: no second PUT
        registry = Registry()

        @registry.command("ping")
        async def ping(ctx: Context) -> None:
            """Answer pong."""

        async with discord_bot(tmp_path, fake=fake, registry=registry):
            pass
        assert len(fake.command_syncs) == 2  # changed: synced once more
        [root] = fake.commands(GUILD_ID)
        assert [o["name"] for o in root["options"]] == ["ping"]


async def test_a_command_is_deferred_at_once_and_answered_by_editing_the_response(tmp_path: Path) -> None:
    async with discord_bot(tmp_path, **SETUP) as db:
        record = await db.command("help")
        original = await db.answered(record)
        assert record.callback_types == [5]
        callback = db.fake.requests("POST /interactions/{interaction_id}/{interaction_token}/callback")[0]
        assert callback.received_at - record.created_at < 3.0
        assert "deploy" in original.content and len(original.content) <= 2000
