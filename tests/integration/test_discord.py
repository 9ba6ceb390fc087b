"""Discord: the generated /testnet tree, deferred interactions answered through the
outbox, roles as permissions, buttons, delivery errors, gateway drops; discord.py's real
client against the Discord fake."""

from __future__ import annotations

import asyncio
import re
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
        synced_commands = {c["name"]: c for c in db.fake.commands(GUILD_ID)}
        top = {spec.path for spec in DEFAULT_REGISTRY.specs() if spec.top_level}
        assert set(synced_commands) == {"testnet", *(path[0] for path in top)}
        for first, second in top:  # /operator start, /validator ready: their own commands
            subs = {o["name"] for o in synced_commands[first]["options"]}
            assert second in subs, (first, second)
        root = synced_commands["testnet"]
        assert db.fake.commands(None) == []
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

    @registry.command("ping")
    async def ping(ctx: Context) -> None:
        """Answer pong."""
        await ctx.reply("pong")

    @registry.command("slow")
    async def slow(ctx: Context) -> None:
        """Wait for the test, then answer."""
        assert gate is not None
        await gate.wait()
        await ctx.reply("slow finished")

    @registry.command("progress")
    async def progress(ctx: Context) -> None:
        """Report progress in place, across a long wait."""
        assert gate is not None
        ref = await ctx.reply("step 1")
        await gate.wait()
        await ctx.update(ref, "step 2")
        await ctx.update(ref, "step 3")

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


async def test_a_gateway_drop_mid_command_finishes_and_reports_once(tmp_path: Path) -> None:
    gate = asyncio.Event()
    async with discord_bot(tmp_path, registry=_registry(gate), **SETUP) as db:
        payload = db.fake.slash_command("testnet slow", {}, user=ALICE)
        record = await db.fake.dispatch_interaction(payload)
        await db.fake.wait_until(lambda: record.acknowledged)
        await db.fake.gateway.drop_connection(code=4000)
        again = await db.fake.dispatch_interaction(payload)  # redelivered after the drop
        await db.fake.gateway.wait_until(
            lambda: len(db.fake.gateway.connections) == 2 and db.fake.gateway.connections[-1].how == "resume", 10
        )
        later = await db.command("ping", user=ALICE)  # the resumed session still works
        await db.answered(later)
        gate.set()
        original = await db.answered(record)
        assert again is record and record.callback_types == [5]
        assert original.content == "slow finished" and record.followups == []
        assert _actions(db, ALICE.id) == [("ping", "ok"), ("slow", "ok")]


async def test_long_text_tables_threads_and_markup(tmp_path: Path) -> None:
    async with discord_bot(tmp_path, registry=_registry(), **SETUP) as db:
        record = await db.command("report", {"rows": 120}, user=ALICE)
        original = await db.answered(record)
        await db.fake.wait_until(lambda: original.content == "Report **done**" and original.thread_id is not None)
        texts = [r.content for r in original.revisions]
        assert texts[1].startswith("Report **ready**: [the run](<https://example.org/r>)")
        followups = record.followups
        await db.fake.wait_until(lambda: len(record.followups) >= 3)
        assert all(len(m.content) <= 2000 for m in db.fake.messages(GENERAL))
        assert sum(r.content.count("line") for r in [original.revisions[1], *followups]) == 700
        embeds = [e for m in followups for e in m.embeds]
        rows = sum(len(re.findall(r"\nc\d+ ", e["description"])) for e in embeds)
        assert rows == 120 and all(len(e["description"]) <= 4096 for e in embeds)
        [detail] = db.fake.messages(original.thread_id)
        assert detail.content == "details of the report"
        small = await db.command("report", {"rows": 3}, user=ALICE)
        await db.answered(small)
        await db.fake.wait_until(lambda: any(m.embeds for m in small.followups))
        [embed] = [e for m in small.followups for e in m.embeds]
        assert "fields" not in embed  # three columns: a monospace block
        del followups


async def test_a_429_on_posts_is_waited_out_and_nothing_is_sent_early(tmp_path: Path) -> None:
    route = "POST /channels/{channel_id}/messages"
    async with discord_bot(tmp_path, **SETUP) as db:
        outbox = db.bot.services.outbox
        db.fake.inject_429(route, retry_after=0.6)
        outbox.post(f"discord:{GENERAL}", {"text": "after a short limit"})
        assert await outbox.wait_delivered(timeout=10)
        first, second = db.fake.requests(route)
        assert (first.status, second.status) == (429, 200)
        assert second.received_at - first.received_at >= 0.6
        db.fake.inject_429(route, retry_after=0.5, global_=True)
        outbox.post(f"discord:{GENERAL}", {"text": "after a global limit"})
        assert await outbox.wait_delivered(timeout=10)
        assert not any(r.early for r in db.fake.requests())
        assert db.texts() == ["after a short limit", "after a global limit"]
        # Longer than discord.py waits by itself: back to the outbox, retried after it.
        db.fake.inject_429(route, retry_after=45)
        outbox.post(f"discord:{GENERAL}", {"text": "much later"})
        store = db.bot.services.store

        def retried() -> bool:
            heads = store.outbox_heads(now=1e12)
            return bool(heads) and heads[0].attempts == 1
        await wait_until(retried)
        [head] = store.outbox_heads(now=1e12)
        assert head.next_attempt_at - db.bot.services.clock() >= 40
        assert db.texts() == ["after a short limit", "after a global limit"]  # nothing lost, nothing early
        assert "much later" not in db.texts()


async def test_a_channel_without_permission_is_parked_explained_and_shown_in_status(tmp_path: Path, caplog: Any) -> None:
    from tests.fakes.discord_api import HIDDEN, READ_ONLY

    async with discord_bot(tmp_path, **SETUP) as db:
        outbox = db.bot.services.outbox
        outbox.post(f"discord:{READ_ONLY}", {"text": "cannot post here"})
        outbox.post(f"discord:{HIDDEN}", {"text": "cannot see here"})
        outbox.post(f"discord:{GENERAL}", {"text": "fine here"})
        await wait_until(lambda: len(db.bot.services.store.dead_items(5)) == 2)
        assert await outbox.wait_delivered(timeout=10)
        assert len(db.fake.requests("POST /channels/{channel_id}/messages")) == 3  # each tried once
        errors = {item.destination: item.last_error for item in db.bot.services.store.dead_items(5)}
        assert "50013" in errors[f"discord:{READ_ONLY}"] and "50001" in errors[f"discord:{HIDDEN}"]
        assert "permission" in errors[f"discord:{READ_ONLY}"]
        assert any("Discord refused" in r.getMessage() for r in caplog.records)
        record = await db.command("status", user=ALICE)
        await db.answered(record)
        await db.fake.wait_until(lambda: any("Outbox:" in m.content for m in record.followups))
        [health] = [m for m in record.followups if "Outbox:" in m.content]
        assert "2 dead" in health.content and f"discord:{READ_ONLY}" in health.content
        assert db.texts()[0] == "fine here"


async def test_buttons_still_answer_after_a_restart(tmp_path: Path) -> None:
    async with DiscordFake() as fake:
        async with discord_bot(tmp_path, fake=fake, registry=_registry(), **SETUP) as db:
            record = await db.command("act", user=ALICE, roles=[DEVREL])
            message = await db.answered(record)
            approve = custom_ids(message)[0]
        async with discord_bot(tmp_path, fake=fake, registry=_registry(), **SETUP) as db:
            await fake.wait_until(lambda: "interrupted by a bot restart" in message.content)
            assert message.components == []
            click = await fake.dispatch_interaction(fake.button_click(approve, user=CAROL, roles=[]))
            await fake.wait_until(lambda: bool(click.followups))
            assert click.callback_types == [6] and "expired" in click.followups[0].content
            assert not any("acted on" in m.content for m in record.followups)


async def test_tokens_never_reach_the_log(tmp_path: Path, caplog: Any) -> None:
    import logging

    caplog.set_level(logging.WARNING)  # discord.py's level under the bot's logging setup
    async with discord_bot(tmp_path, registry=_registry(), **SETUP) as db:
        db.fake.inject_429("PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", retry_after=0.3)
        record = await db.command("ping", user=ALICE)
        original = await db.answered(record)
        assert original.content == "pong"
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "rate limited" in logged and "/messages/@original" in logged  # the URL is named...
        assert record.token not in logged and db.fake.token not in logged and "/***/" in logged  # ...not the token


async def test_a_refused_token_or_a_foreign_application_stops_start_up(tmp_path: Path) -> None:
    import discord.http
    import pytest

    from bot.errors import StartupError

    base = discord.http.Route.BASE
    with pytest.raises(StartupError, match="DISCORD_TOKEN"):
        async with discord_bot(tmp_path, discord={"token": "not-the-token"}):
            pass
    with pytest.raises(StartupError, match="application_id 42"):
        async with discord_bot(tmp_path, discord={"application_id": 42}):
            pass
    with pytest.raises(StartupError, match="invite the bot"):
        async with discord_bot(tmp_path, discord={"guilds": [42]}):  # a guild it is not in
            pass
    assert discord.http.Route.BASE == base  # nothing left pointed at the fake
    async with discord_bot(tmp_path, discord={"guilds": []}) as db:  # no guilds: nothing synced
        assert db.fake.command_syncs == []


async def test_a_one_shot_exec_never_connects_to_discord(tmp_path: Path) -> None:
    from bot.app import Bot
    from tests.harness import make_config

    async with DiscordFake() as fake:
        cfg = make_config(tmp_path, chat={"discord": {"token": fake.token, "api_url": fake.api_url, "guilds": [GUILD_ID]}})
        async with Bot(cfg, serve_http=False, local=True) as bot:
            bot.services.outbox.post(f"discord:{GENERAL}", {"text": "from exec"})
        assert fake.gateway.connections == [] and fake.requests() == []
        async with discord_bot(tmp_path, fake=fake) as db:  # the running bot delivers it
            await db.fake.wait_until(lambda: db.texts() == ["from exec"])


async def test_progress_after_the_interaction_token_expired_moves_to_a_channel_message(tmp_path: Path) -> None:
    from tests.fakes.discord_api import ManualClock

    gate = asyncio.Event()
    clock = ManualClock()
    async with DiscordFake(clock=clock) as fake, discord_bot(tmp_path, fake=fake, registry=_registry(gate), **SETUP) as db:
        record = await db.command("progress", user=ALICE)
        original = await db.answered(record)
        assert original.content == "step 1"
        clock.advance(16 * 60)  # a deploy outlives the 15-minute interaction token
        gate.set()
        await fake.wait_until(lambda: any(m.content == "step 3" for m in fake.messages(GENERAL) if m.webhook_id is None))
        [moved] = [m for m in fake.messages(GENERAL) if m.webhook_id is None]
        assert [r.content for r in moved.revisions][-1] == "step 3"
        assert original.content == "step 1"  # the expired response is left as it was
        assert db.bot.services.store.dead_items(5) == []


async def test_a_post_retried_after_a_lost_answer_is_not_posted_twice(tmp_path: Path) -> None:
    from bot.outbox import DeliveryContext
    from integrations.chat.discord import DiscordDelivery

    async with discord_bot(tmp_path, **SETUP) as db:
        services = db.bot.services
        await services.outbox.stop()  # deliver by hand, as a retry after a timeout would
        key = services.outbox.post(f"discord:{GENERAL}", {"text": "exactly once"})
        other = services.outbox.post(f"discord:{GENERAL}", {"text": "exactly once"})
        [first] = [i for i in services.store.outbox_heads(now=1e12) if i.message_key == key]
        delivery = DiscordDelivery(db.bot.discord.client.http)
        context = DeliveryContext(services.store)
        one = await delivery.deliver(first, context)
        again = await delivery.deliver(first, context)  # the first answer was "lost"
        assert one is not None and again is not None and one["message"] == again["message"]
        assert db.texts() == ["exactly once"]
        second = services.store.get_outbox_item(first.id + 1)
        assert second is not None and second.message_key == other
        await delivery.deliver(second, context)  # the same text, another message: posted
        assert db.texts() == ["exactly once", "exactly once"]
