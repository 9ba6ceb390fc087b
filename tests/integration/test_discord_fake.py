"""The Discord fake is faithful: discord.py 2.7's real client and command tree run against it.

REST through ``discord.http`` (login, command sync, interaction callbacks, webhook edits,
channel posts, threads, role adds, 429s) and the gateway through ``discord.Client.connect``
(zlib-stream frames, READY and GUILD_CREATE, INTERACTION_CREATE into ``@tree.command`` and
persistent views, a dropped socket resumed with the missed dispatch replayed once).
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.fakes.discord_api import (
    ADMIN,
    APPRENTICE,
    BOB,
    DEVREL,
    GENERAL,
    GUILD_ID,
    HIDDEN,
    READ_ONLY,
    DiscordFake,
    ManualClock,
)
from tests.fakes.discord_gateway import ZLIB_SUFFIX

GUILD = discord.Object(GUILD_ID)


@dataclass
class Seen:
    """What the client's handlers saw."""

    acks: list[str] = field(default_factory=list)
    clicks: list[tuple[str, int]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    resumed: asyncio.Event = field(default_factory=asyncio.Event)


class ApproveView(discord.ui.View):
    """A persistent confirmation: no timeout, fixed custom ids."""

    def __init__(self, seen: Seen) -> None:
        super().__init__(timeout=None)
        self.seen = seen

    @discord.ui.button(label="Approve", custom_id="confirm:approve:run-42", style=discord.ButtonStyle.success)
    async def approve(self, interaction: discord.Interaction, button: discord.ui.Button[ApproveView]) -> None:
        self.seen.clicks.append((button.custom_id or "", interaction.user.id))
        await interaction.response.edit_message(content=f"Approved by <@{interaction.user.id}>", view=None)


def build_client(seen: Seen) -> tuple[discord.Client, app_commands.CommandTree[discord.Client]]:
    # A short guild_ready_timeout: on_ready fires once no more GUILD_CREATE is expected.
    client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.2)
    tree = app_commands.CommandTree(client)
    testnet = app_commands.Group(name="testnet", description="Run the testnet's runbooks")
    incident = app_commands.Group(name="incident", description="Incidents", parent=testnet)

    @incident.command(name="ack", description="Acknowledge an incident")
    @app_commands.describe(incident_id="The incident's number", note="Why")
    async def ack(interaction: discord.Interaction, incident_id: int, note: str | None = None) -> None:
        await interaction.response.defer(thinking=True)
        roles = [r.id for r in getattr(interaction.user, "roles", [])]
        seen.acks.append(f"{incident_id}:{note}:{interaction.id}:{DEVREL in roles}")
        await interaction.edit_original_response(content=f"Incident {incident_id} acknowledged")
        await interaction.followup.send(embed=discord.Embed(title="Details", description=f"incident {incident_id}"))

    tree.add_command(testnet, guild=GUILD)

    @client.event
    async def on_ready() -> None:
        seen.ready.set()

    @client.event
    async def on_resumed() -> None:
        seen.resumed.set()

    async def setup_hook() -> None:
        client.add_view(ApproveView(seen))

    client.setup_hook = setup_hook  # type: ignore[method-assign]
    return client, tree


@contextlib.asynccontextmanager
async def connected(fake: DiscordFake, seen: Seen) -> AsyncIterator[tuple[discord.Client, app_commands.CommandTree[discord.Client]]]:
    """A logged-in client whose gateway is connected and ready; closed afterwards."""
    client, tree = build_client(seen)
    await client.login(fake.token)
    runner = asyncio.create_task(client.connect(reconnect=True), name="discord-client")
    try:
        await asyncio.wait_for(seen.ready.wait(), 10)
        yield client, tree
    finally:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(runner, 5)


@pytest.fixture
async def fake() -> AsyncIterator[DiscordFake]:
    async with DiscordFake() as running:
        with running.pointed_at():
            yield running


# ---------------------------------------------------------------- REST


async def test_login_reads_the_bot_user_and_application(fake: DiscordFake) -> None:
    client, _ = build_client(Seen())
    try:
        await client.login(fake.token)
        assert client.user is not None and client.user.id == fake.bot.id
        assert client.application_id == fake.application_id
        shards, url, limit = await client.http.get_bot_gateway()  # what a sharded client asks
        assert (shards, url) == (1, fake.gateway.url) and limit["max_concurrency"] == 1
    finally:
        await client.close()


async def test_login_with_a_wrong_token_fails(fake: DiscordFake) -> None:
    client, _ = build_client(Seen())
    try:
        with pytest.raises(discord.LoginFailure):
            await client.login("not-the-token")
    finally:
        await client.close()
    assert fake.requests("GET /users/@me")[-1].status == 401


async def test_tree_sync_to_a_guild_stores_the_schema(fake: DiscordFake) -> None:
    client, tree = build_client(Seen())
    try:
        await client.login(fake.token)
        synced = await tree.sync(guild=GUILD)
        assert [c.name for c in synced] == ["testnet"]
        [stored] = fake.commands(GUILD_ID)
        [group] = stored["options"]
        assert (group["type"], group["name"]) == (2, "incident")
        [ack] = group["options"]
        assert (ack["type"], ack["name"]) == (1, "ack")
        assert [(o["name"], o["type"], o.get("required", False)) for o in ack["options"]] == [
            ("incident_id", 4, True),
            ("note", 3, False),
        ]
        fetched = await tree.fetch_commands(guild=GUILD)
        assert [c.id for c in fetched] == [c.id for c in synced]
        assert fake.commands(None) == []  # nothing global
    finally:
        await client.close()


async def test_a_global_sync_is_kept_apart_from_guild_commands(fake: DiscordFake) -> None:
    client, tree = build_client(Seen())

    @tree.command(name="status", description="What the bot is doing")
    async def status(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("fine")

    try:
        await client.login(fake.token)
        await tree.sync()
        await tree.sync(guild=GUILD)
        assert fake.command_names(None) == ["status"] and fake.command_names(GUILD_ID) == ["testnet"]
        first_id = fake.commands(None)[0]["id"]
        await tree.sync()  # an overwrite with the same name keeps the command's id
        assert fake.commands(None)[0]["id"] == first_id
        assert [scope for scope, _ in fake.command_syncs] == [None, GUILD_ID, None]
        with pytest.raises(discord.Forbidden):
            await client.http.bulk_upsert_guild_commands(fake.application_id, 42, [])
    finally:
        await client.close()


async def test_a_too_long_description_is_refused_like_discord(fake: DiscordFake) -> None:
    client, tree = build_client(Seen())
    try:
        await client.login(fake.token)
        await tree.sync(guild=GUILD)
        # discord.py itself checks descriptions; go under it, as a hand-written payload would.
        bad = [{"name": "testnet", "description": "x" * 101, "type": 1}]
        with pytest.raises(discord.HTTPException) as raised:
            await client.http.bulk_upsert_guild_commands(fake.application_id, GUILD_ID, bad)
        assert raised.value.status == 400 and raised.value.code == 50035
        assert "description" in raised.value.text
        assert fake.command_names(GUILD_ID) == ["testnet"]  # the earlier schema is kept
        for bad_one in (
            [{"name": "Testnet", "description": "upper case", "type": 1}],
            [{"name": "t", "description": "d", "options": [
                {"type": 3, "name": "a", "description": "a"},
                {"type": 3, "name": "b", "description": "b", "required": True}]}],
            [{"name": "t", "description": "d", "options": [
                {"type": 1, "name": "s", "description": "s", "options": [
                    {"type": 2, "name": "g", "description": "g"}]}]}],
            [{"name": "t", "description": "d", "options": [
                {"type": 3, "name": f"o{i}", "description": "o"} for i in range(26)]}],
        ):
            with pytest.raises(discord.HTTPException) as raised:
                await client.http.bulk_upsert_guild_commands(fake.application_id, GUILD_ID, bad_one)
            assert raised.value.code == 50035, bad_one
        assert fake.command_names(GUILD_ID) == ["testnet"]
    finally:
        await client.close()


async def test_message_limits_and_channel_permissions(fake: DiscordFake) -> None:
    client, _ = build_client(Seen())
    try:
        await client.login(fake.token)
        general = client.get_partial_messageable(GENERAL)
        posted = await general.send("deploying v0.62.0", embed=discord.Embed(title="Deploy", description="d" * 4096))
        # Without a gateway cache the message has no guild; use the REST call underneath.
        thread = await client.http.start_thread_with_message(
            GENERAL, posted.id, name="deploy v0.62.0 details", auto_archive_duration=1440)
        thread_id = int(thread["id"])
        await client.get_partial_messageable(thread_id).send("step 1 done")
        with pytest.raises(discord.HTTPException) as twice:
            await client.http.start_thread_with_message(GENERAL, posted.id, name="again", auto_archive_duration=1440)
        assert twice.value.code == 160004
        await posted.edit(content="deployed v0.62.0")
        [message] = fake.messages(GENERAL)
        assert [r.content for r in message.revisions] == ["deploying v0.62.0", "deployed v0.62.0"]
        assert [m.content for m in fake.messages(thread_id)] == ["step 1 done"]

        with pytest.raises(discord.HTTPException) as too_long:
            await general.send("x" * 2001)
        assert too_long.value.code == 50035 and "content" in too_long.value.text
        with pytest.raises(discord.HTTPException) as big_embed:
            await general.send(embed=discord.Embed(description="d" * 4097))
        assert big_embed.value.code == 50035
        total = [discord.Embed(title="t" * 256, description="d" * 4000), discord.Embed(description="e" * 2000)]
        with pytest.raises(discord.HTTPException) as over_total:
            await general.send(embeds=total)
        assert "6000" in over_total.value.text
        with pytest.raises(discord.Forbidden) as no_send:
            await client.get_partial_messageable(READ_ONLY).send("hello")
        assert no_send.value.code == 50013
        with pytest.raises(discord.Forbidden) as no_access:
            await client.get_partial_messageable(HIDDEN).send("hello")
        assert no_access.value.code == 50001
        assert fake.messages(READ_ONLY) == [] and fake.messages(HIDDEN) == []
        assert len(fake.messages(GENERAL)) == 1
    finally:
        await client.close()


async def test_a_429_on_a_channel_post_is_honoured(fake: DiscordFake) -> None:
    client, _ = build_client(Seen())
    route = "POST /channels/{channel_id}/messages"
    try:
        await client.login(fake.token)
        fake.inject_429(route, retry_after=0.6)
        await client.get_partial_messageable(GENERAL).send("after the limit")
        first, second = fake.requests(route)
        assert (first.status, second.status) == (429, 200)
        assert second.received_at - first.received_at >= 0.6
        assert not any(r.early for r in fake.requests())
        assert [m.content for m in fake.messages(GENERAL)] == ["after the limit"]
    finally:
        await client.close()


async def test_bucket_headers_make_the_client_wait_without_a_429() -> None:
    route = "POST /channels/{channel_id}/messages"
    async with DiscordFake(buckets={route: (2, 0.5)}) as fake:
        with fake.pointed_at():
            client, _ = build_client(Seen())
            try:
                await client.login(fake.token)
                general = client.get_partial_messageable(GENERAL)
                for n in range(3):
                    await general.send(f"message {n}")
            finally:
                await client.close()
        posts = fake.requests(route)
        assert [r.status for r in posts] == [200, 200, 200]
        assert posts[2].received_at - posts[0].received_at >= 0.45  # waited for the reset
        assert posts[0].params["channel_id"] == str(GENERAL)


async def test_over_the_limit_is_a_429_with_discords_headers() -> None:
    route = "POST /channels/{channel_id}/messages"
    async with DiscordFake(buckets={route: (1, 5.0)}) as fake, aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bot {fake.token}"}
        url = f"{fake.api_url}/channels/{GENERAL}/messages"
        first = await http.post(url, json={"content": "one"}, headers=headers)
        assert first.status == 200 and first.headers["X-RateLimit-Remaining"] == "0"
        assert first.headers["Content-Type"] == "application/json"
        second = await http.post(url, json={"content": "two"}, headers=headers)
        assert second.status == 429 and second.headers["Via"] and int(second.headers["Retry-After"]) >= 1
        body = await second.json(content_type="application/json")
        assert set(body) == {"message", "retry_after", "global"} and body["global"] is False
        assert 0 < body["retry_after"] <= 5.0
        other_channel = await http.post(f"{fake.api_url}/channels/{READ_ONLY}/messages", json={"content": "x"}, headers=headers)
        assert other_channel.status == 403  # buckets are per channel: not limited, just forbidden
        assert [m.content for m in fake.messages(GENERAL)] == ["one"]


async def test_bad_bodies_are_4xx_never_5xx(fake: DiscordFake) -> None:
    headers = {"Authorization": f"Bot {fake.token}", "Content-Type": "application/json"}
    record = fake.register_interaction(fake.slash_command("testnet incident ack", {"incident_id": 1}))
    targets = [
        ("POST", f"/channels/{GENERAL}/messages"),
        ("PUT", f"/applications/{fake.application_id}/guilds/{GUILD_ID}/commands"),
        ("POST", f"/interactions/{record.id}/{record.token}/callback"),
        ("PUT", f"/guilds/{GUILD_ID}/members/{BOB.id}/roles/abc"),
        ("GET", "/channels/not-a-number"),
    ]
    bodies = [b"{not json", b"[1, 2]", b'"text"', b'{"type": "x", "data": [1]}', b'[{"name": 5}]', b"null"]
    async with aiohttp.ClientSession() as http:
        for method, path in targets:
            for body in bodies:
                async with http.request(method, fake.api_url + path, data=body, headers=headers) as response:
                    assert 400 <= response.status < 500, (method, path, body, response.status)
                    assert "message" in await response.json(content_type="application/json")
        unauthorised = await http.get(f"{fake.api_url}/users/@me")
        assert unauthorised.status == 401
        missing = await http.get(f"{fake.api_url}/no/such/route", headers=headers)
        assert missing.status == 404
    assert fake.messages(GENERAL) == [] and not record.acknowledged


async def test_a_redelivered_interaction_is_answered_once(fake: DiscordFake) -> None:
    seen = Seen()
    async with connected(fake, seen) as (_, tree):
        await tree.sync(guild=GUILD)
        payload = fake.slash_command("testnet incident ack", {"incident_id": 3})
        first = await fake.dispatch_interaction(payload)
        again = await fake.dispatch_interaction(payload)  # Discord may deliver an event twice
        assert first is again
        callbacks = "POST /interactions/{interaction_id}/{interaction_token}/callback"
        await fake.wait_until(lambda: len(fake.requests(callbacks)) == 2)
        assert sorted(r.status for r in fake.requests(callbacks)) == [200, 400]
        assert first.callback_types == [5]


async def test_heartbeats_are_acknowledged() -> None:
    async with DiscordFake(heartbeat_interval_ms=100) as fake:
        with fake.pointed_at():
            seen = Seen()
            async with connected(fake, seen) as (client, _):
                conn = fake.gateway.connections[0]
                await fake.gateway.wait_until(lambda: conn.heartbeats >= 3)
                assert sum(1 for p in conn.sent if p["op"] == 11) >= 3
                assert client.latency < 1.0
                assert len(fake.gateway.connections) == 1  # acknowledged, so no reconnect


async def test_a_global_429_holds_every_route(fake: DiscordFake) -> None:
    async with aiohttp.ClientSession() as http:
        fake.inject_429("GET /users/@me", retry_after=0.5, global_=True)
        headers = {"Authorization": f"Bot {fake.token}"}
        limited = await http.get(f"{fake.api_url}/users/@me", headers=headers)
        assert limited.status == 429 and limited.headers["X-RateLimit-Global"] == "true"
        body = await limited.json(content_type="application/json")
        assert body["global"] is True and body["retry_after"] == 0.5
        other = await http.get(f"{fake.api_url}/gateway/bot", headers=headers)
        assert other.status == 429  # the global limit covers other routes too
        assert fake.requests("GET /gateway/bot")[-1].early


async def test_a_role_add_and_its_refusals(fake: DiscordFake) -> None:
    client, _ = build_client(Seen())
    try:
        await client.login(fake.token)
        await client.http.add_role(GUILD_ID, BOB.id, APPRENTICE, reason="operator self-check passed")
        assert APPRENTICE in fake.member(BOB.id).roles
        [change] = fake.role_changes
        assert (change.user_id, change.role_id, change.added, change.reason) == (
            BOB.id, APPRENTICE, True, "operator self-check passed")
        member = await client.http.get_member(GUILD_ID, BOB.id)
        assert str(APPRENTICE) in member["roles"]
        with pytest.raises(discord.Forbidden) as above:
            await client.http.add_role(GUILD_ID, BOB.id, ADMIN)
        assert above.value.code == 50013 and ADMIN not in fake.member(BOB.id).roles
        with pytest.raises(discord.NotFound) as no_member:
            await client.http.add_role(GUILD_ID, 42, APPRENTICE)
        assert no_member.value.code == 10007
        assert len(fake.role_changes) == 1
    finally:
        await client.close()


# ---------------------------------------------------------------- gateway and interactions


async def test_gateway_frames_are_one_zlib_stream(fake: DiscordFake) -> None:
    seen = Seen()
    async with connected(fake, seen) as (client, _):
        [conn] = fake.gateway.connections
        assert conn.query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
        assert conn.how == "identify"
        await fake.gateway.wait_until(lambda: conn.heartbeats >= 1)
        assert conn.sent[0]["op"] == 10
        assert [p["t"] for p in conn.sent if p["op"] == 0][:2] == ["READY", "GUILD_CREATE"]
        assert any(p["op"] == 11 for p in conn.sent)  # the heartbeat was acknowledged
        assert all(frame.endswith(ZLIB_SUFFIX) for frame in conn.frames)
        stream = zlib.decompressobj()
        assert b'"op":10' in stream.decompress(conn.frames[0])
        with pytest.raises(zlib.error):  # later frames only decode in the same stream
            zlib.decompressobj().decompress(conn.frames[2])
        guild = client.get_guild(GUILD_ID)
        assert guild is not None and guild.get_channel(GENERAL) is not None
        assert {r.id for r in guild.roles} >= {APPRENTICE, ADMIN}


async def test_a_slash_command_defers_and_edits_its_response(fake: DiscordFake) -> None:
    seen = Seen()
    async with connected(fake, seen) as (_, tree):
        await tree.sync(guild=GUILD)
        payload = fake.slash_command("testnet incident ack", {"incident_id": 7, "note": "on it"}, roles=[DEVREL])
        record = await fake.dispatch_interaction(payload)
        await fake.wait_until(lambda: record.original is not None and not record.original.is_loading)
        assert record.callback_types == [5]
        assert record.original is not None and record.original.content == "Incident 7 acknowledged"
        assert seen.acks == [f"7:on it:{record.id}:True"]
        await fake.wait_until(lambda: len(record.followups) == 1)
        assert record.followups[0].embeds[0]["title"] == "Details"
        assert [m.id for m in fake.messages(GENERAL)] == [record.original.id, record.followups[0].id]
        callback = fake.requests("POST /interactions/{interaction_id}/{interaction_token}/callback")[0]
        assert callback.query.get("with_response") == "1"


async def test_answering_twice_or_late_is_refused(fake: DiscordFake) -> None:
    clock = ManualClock()
    fake.clock = clock
    async with aiohttp.ClientSession() as http:
        record = fake.register_interaction(fake.slash_command("testnet incident ack", {"incident_id": 1}))
        url = f"{fake.api_url}/interactions/{record.id}/{record.token}/callback"
        ok = await http.post(url, json={"type": 5})
        assert ok.status == 204  # without with_response, as Discord answers
        again = await http.post(url, json={"type": 4, "data": {"content": "hi"}})
        assert again.status == 400 and (await again.json())["code"] == 40060
        assert record.callback_types == [5]

        late = fake.register_interaction(fake.slash_command("testnet incident ack", {"incident_id": 2}))
        clock.advance(3.5)
        expired = await http.post(f"{fake.api_url}/interactions/{late.id}/{late.token}/callback", json={"type": 5})
        assert expired.status == 404 and (await expired.json())["code"] == 10062
        assert not late.acknowledged
        wrong_token = await http.post(f"{fake.api_url}/interactions/{late.id}/{record.token}/callback", json={"type": 5})
        assert wrong_token.status == 404
        update = await http.post(url.replace(str(record.id), str(late.id)), json={"type": 7})
        assert update.status == 404
        # The follow-up webhook lives 15 minutes from the interaction.
        patch = await http.patch(f"{fake.api_url}/webhooks/{fake.application_id}/{record.token}/messages/@original",
                                 json={"content": "done"})
        assert patch.status == 200 and record.original is not None and record.original.content == "done"
        clock.advance(15 * 60)
        stale = await http.patch(f"{fake.api_url}/webhooks/{fake.application_id}/{record.token}/messages/@original",
                                 json={"content": "too late"})
        assert stale.status == 401 and record.original.content == "done"


async def test_a_button_click_reaches_a_persistent_view(fake: DiscordFake) -> None:
    seen = Seen()
    async with connected(fake, seen) as (client, _):
        posted = await client.get_partial_messageable(GENERAL).send("Deploy v0.62.0?", view=ApproveView(seen))
        record = await fake.dispatch_interaction(
            fake.button_click("confirm:approve:run-42", message_id=posted.id, user=BOB))
        await fake.wait_until(lambda: record.acknowledged)
        assert seen.clicks == [("confirm:approve:run-42", BOB.id)]
        assert record.callback_types == [7]
        message = fake.messages_by_id[posted.id]
        assert message.content == f"Approved by <@{BOB.id}>" and message.components == []
        # A click no view knows goes unanswered; the next known click shows it was processed.
        unknown_click = await fake.dispatch_interaction(fake.button_click("confirm:unknown"))
        after = await fake.dispatch_interaction(fake.button_click("confirm:approve:run-42", user=BOB))
        await fake.wait_until(lambda: after.acknowledged)
        assert not unknown_click.acknowledged and len(seen.clicks) == 2


async def test_a_dropped_gateway_resumes_and_replays_a_missed_interaction_once(fake: DiscordFake) -> None:
    seen = Seen()
    async with connected(fake, seen) as (_, tree):
        await tree.sync(guild=GUILD)
        first = fake.gateway.connections[0]
        await fake.gateway.drop_connection(code=4000)
        missed = await fake.dispatch_interaction(fake.slash_command("testnet incident ack", {"incident_id": 9}))
        assert fake.gateway.current is not None
        missed_seq = fake.gateway.current.seq
        await asyncio.wait_for(seen.resumed.wait(), 10)
        await fake.wait_until(lambda: missed.original is not None and not missed.original.is_loading)
        resumed = fake.gateway.connections[-1]
        assert resumed.how == "resume" and resumed.path == "/resume-gateway"
        resume_payload = next(p for p in resumed.received if p["op"] == 6)
        assert first.session is not None
        assert resume_payload["d"]["session_id"] == first.session.id
        assert resume_payload["d"]["seq"] < missed_seq
        assert [a.split(":")[0] for a in seen.acks] == ["9"]
        assert missed.callback_types == [5]
        # A dispatch after the resume arrives on the new socket, once.
        later = await fake.dispatch_interaction(fake.slash_command("testnet incident ack", {"incident_id": 10}))
        await fake.wait_until(lambda: later.acknowledged)
        assert [a.split(":")[0] for a in seen.acks] == ["9", "10"]


async def test_a_reconnect_request_is_followed_by_a_resume(fake: DiscordFake) -> None:
    seen = Seen()
    async with connected(fake, seen):
        await fake.gateway.request_reconnect()
        await asyncio.wait_for(seen.resumed.wait(), 10)
        assert [c.how for c in fake.gateway.connections] == ["identify", "resume"]
        assert len(fake.gateway.sessions) == 1


async def test_an_invalid_session_makes_the_client_identify_again(fake: DiscordFake) -> None:
    seen = Seen()
    async with connected(fake, seen):
        seen.ready.clear()
        fake.gateway.invalidate_sessions()
        await fake.gateway.drop_connection(code=None)
        await asyncio.wait_for(seen.ready.wait(), 15)
        hows = [c.how for c in fake.gateway.connections]
        assert hows[0] == "identify" and "invalid-session" in hows and hows[-1] == "identify"
        assert len(fake.gateway.sessions) == 2
