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


def _registry(gate: asyncio.Event | None = None) -> Registry:
    registry = Registry()

    @registry.command("act", permission="deploy", dangerous=True)
    async def act(ctx: Context, *, network: str | None = None) -> None:
        """Do something dangerous to a network."""
        await ctx.reply(f"acted on {network or 'alpha'} for {ctx.actor_name}")

    @registry.command("slow")
    async def slow(ctx: Context) -> None:
        """Wait for the test, then answer."""
        assert gate is not None
        await gate.wait()
        await ctx.reply("slow finished")

    @registry.command("report")
    async def report(ctx: Context, *, rows: int = 30) -> None:
        """A long text, a table and details in a thread."""
        from bot.core import Table

        ref = await ctx.reply("Report *ready*: <https://example.org/r|the run>\n" + "line\n" * 700)
        table = Table(("check", "result", "note"), tuple((f"c{i}", "ok", "x" * 40) for i in range(rows)))
        await ctx.reply("Results", table=table)
        await ctx.reply_in_thread(ref, "details of the report")
        await ctx.update(ref, "Report *done*")

    return registry


def _actions(db: Any, actor_id: int) -> list[tuple[str, str]]:
    return [(a.command, a.outcome) for a in reversed(db.bot.services.store.recent_audit(50)) if a.actor == str(actor_id)]


async def test_a_permitted_role_runs_and_a_forbidden_one_is_told_privately(tmp_path: Path) -> None:
    async with discord_bot(tmp_path, registry=_registry(), **SETUP) as db:
        denied = await db.command("act", {"network": "alpha"}, user=BOB, roles=[])
        await db.fake.wait_until(lambda: bool(denied.followups) and denied.original is not None and denied.original.deleted)
        [note] = denied.followups
        assert note.flags & 64 and "`deploy` permission" in note.content
        assert denied.original is not None and denied.original.deleted  # no "thinking" left
        assert _actions(db, BOB.id) == [("act", "denied")]
        assert db.with_buttons() == []

        allowed = await db.command("act", {"network": "alpha"}, user=ALICE, roles=[DEVREL])
        confirmation = await db.answered(allowed)
        assert custom_ids(confirmation)[0].startswith("testnet:confirm:approve:")
        assert "Expires in" in confirmation.content


async def test_approve_runs_once_and_a_double_click_or_redelivery_changes_nothing(tmp_path: Path) -> None:
    async with discord_bot(tmp_path, registry=_registry(), **SETUP) as db:
        record = await db.command("act", {"network": "alpha"}, user=ALICE, roles=[DEVREL])
        message = await db.answered(record)
        approve = custom_ids(message)[0]
        click = db.fake.button_click(approve, message_id=message.id, user=ALICE, roles=[DEVREL])
        first = await db.fake.dispatch_interaction(click)
        again = await db.fake.dispatch_interaction(click)  # redelivered
        second = await db.fake.dispatch_interaction(
            db.fake.button_click(approve, message_id=message.id, user=ALICE, roles=[DEVREL])
        )  # a double click: a new interaction
        await db.fake.wait_until(lambda: any("acted on alpha" in m.content for m in record.followups))
        assert first is again and first.callback_types == [6] and second.callback_types == [6]
        await db.fake.wait_until(lambda: bool(second.followups))
        assert "Already approved" in second.followups[0].content
        assert [m.content for m in record.followups].count("acted on alpha for Alice") == 1
        assert "✅ Approved by" in message.content and message.components == []
        assert _actions(db, ALICE.id) == [("act", "ok")]


async def test_cancel_and_a_forbidden_approver(tmp_path: Path) -> None:
    async with discord_bot(tmp_path, registry=_registry(), **SETUP) as db:
        record = await db.command("act", user=ALICE, roles=[DEVREL])
        message = await db.answered(record)
        approve, cancel = custom_ids(message)
        stranger = await db.fake.dispatch_interaction(db.fake.button_click(approve, message_id=message.id, user=BOB, roles=[]))
        await db.fake.wait_until(lambda: bool(stranger.followups))
        assert "`deploy` permission" in stranger.followups[0].content
        assert "Approved" not in message.content
        await db.fake.dispatch_interaction(db.fake.button_click(cancel, message_id=message.id, user=ALICE, roles=[DEVREL]))
        await db.fake.wait_until(lambda: "Cancelled by" in message.content)
        await wait_until(lambda: _actions(db, ALICE.id) == [("act", "cancelled")])
        assert not any("acted on" in m.content for m in record.followups)


async def test_two_approvals_need_someone_other_than_the_requester(tmp_path: Path) -> None:
    async with discord_bot(tmp_path, registry=_registry(), **SETUP) as db:
        record = await db.command("act", {"network": "beta"}, user=ALICE, roles=[DEVREL])
        message = await db.answered(record)
        approve = custom_ids(message)[0]
        own = await db.fake.dispatch_interaction(db.fake.button_click(approve, message_id=message.id, user=ALICE, roles=[DEVREL]))
        await db.fake.wait_until(lambda: bool(own.followups))
        assert "someone other than you" in own.followups[0].content
        assert _actions(db, ALICE.id) == []  # still waiting
        await db.fake.dispatch_interaction(db.fake.button_click(approve, message_id=message.id, user=CAROL, roles=[]))
        await db.fake.wait_until(lambda: any("acted on beta" in m.content for m in record.followups))
        assert f"<@{CAROL.id}>" in message.content


async def test_an_unanswered_confirmation_expires(tmp_path: Path) -> None:
    async with discord_bot(tmp_path, registry=_registry(), discord={"confirm_timeout": 0.5}, **SETUP) as db:
        record = await db.command("act", user=ALICE, roles=[DEVREL])
        message = await db.answered(record)
        await db.fake.wait_until(lambda: "Expired" in message.content)
        assert message.components == []
        # A click that raced the expiry (on a copy of the message still showing buttons).
        late = await db.fake.dispatch_interaction(db.fake.button_click(custom_ids(message)[0], user=CAROL, roles=[]))
        await db.fake.wait_until(lambda: bool(late.followups))
        assert "expired" in late.followups[0].content
        await wait_until(lambda: _actions(db, ALICE.id) == [("act", "cancelled")])
