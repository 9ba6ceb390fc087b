"""Discord: ``/testnet`` application commands, Approve/Cancel buttons, and delivery of
the bot's messages. The only module that imports ``discord``.

A ``discord.Client`` connects to the gateway (it resumes by itself after a dropped
connection) and carries an ``app_commands.CommandTree`` generated from the command
registry (see :mod:`integrations.chat.discord_schema`), synced to the configured
guilds only when the generated schema changed. Every interaction is deferred at once
and recorded by id, so a redelivered one runs once; the command then runs in a
supervised task and answers through the outbox: the first reply edits the deferred
response, later ones are follow-ups, details go to a thread. Outbound items are
delivered by :class:`DiscordDelivery` through discord.py's REST client, which waits
out Discord's rate limits; what it cannot wait out goes back to the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import logging
import re
import time
import uuid
from typing import Any, Literal, Optional

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands
from discord.http import Route as ApiRoute

from bot.config import DiscordChat
from bot.context import Services
from bot.core import (
    Actor,
    ConfirmRequest,
    ConfirmResult,
    Invocation,
    MessageRef,
    Outcome,
    Table,
)
from bot.dispatcher import Dispatcher
from bot.errors import StartupError
from bot.outbox import DeliveryContext, PermanentFailure, RateLimit, RetryLater, Route
from bot.responder import OutboxResponder, payload_table
from integrations.chat.discord_render import (
    CONFIRM_PREFIX,
    NO_MENTIONS,
    confirmation_components,
    mentioned_roles,
    message_bodies,
    thread_name,
)
from integrations.chat.discord_schema import (
    ROOT,
    ROOT_DESCRIPTION,
    Group,
    Leaf,
    OptionSchema,
    invocation_text,
    layout,
    top_level,
)
from integrations.chat.votes import decide, open_confirmation
from state.confirmations import APPROVED, CANCELLED, Confirmation
from state.records import OutboxItem, Priority

log = logging.getLogger("testnet_bot.discord")

SEEN_SOURCE = "discord-interaction"
RETRY_WINDOW = 900.0
"""Interaction ids are remembered for 15 min (an interaction's whole life)."""
TOKEN_LIFETIME = 15 * 60.0
TOKEN_MARGIN = 30.0
"""An interaction token older than its lifetime minus this is not used any more:
edits of its messages become new channel messages instead."""
MAX_RATELIMIT_WAIT = 30.0
"""Longest 429 discord.py waits out itself; a longer one goes back to the outbox."""
READY_TIMEOUT = 15.0
STARTUP_CHECK_TIMEOUT = 10.0
REQUIRED_PERMISSIONS = discord.Permissions(
    view_channel=True,  # see the channels it answers and posts in
    send_messages=True,  # connection info, incident status, replies outside interactions
    send_messages_in_threads=True,  # details under a command's answer
    create_public_threads=True,  # the thread itself
    embed_links=True,  # tables and connection info as embeds
    read_message_history=True,  # edit its own messages in place
    manage_roles=True,  # give operators their role
)
"""What the bot's role needs in the guild (deploy/discord/README.md gives the integer)."""
POSTS_PER_CHANNEL = (5, 5.0)
"""Discord's usual message bucket: 5 posts per 5 s per channel."""

PERMANENT_CODES = {
    50001: "the bot cannot see the channel: give its role View Channel there",
    50013: "the bot lacks a permission there (Send Messages, Send Messages in Threads, "
    "Create Public Threads or Embed Links)",
    10003: "the channel does not exist",
    10008: "the message to edit no longer exists",
    50035: "Discord refused the message's form",
    50006: "the message was empty",
    50005: "the bot may not edit that message",
    160004: "a thread already exists for that message",
}


_TOKEN_IN_PATH = re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/\s?]+")


class _HideInteractionTokens(logging.Filter):
    """Hides interaction tokens in discord.py's log lines (its rate-limit warnings
    name the URL, and a webhook URL carries the token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        scrubbed = _TOKEN_IN_PATH.sub(r"\1***", text)
        if scrubbed != text:
            record.msg, record.args = scrubbed, None
        return True


_HIDE_TOKENS = _HideInteractionTokens()
for _name in ("discord.http", "discord.webhook.async_", "discord.client", "discord.gateway"):
    logging.getLogger(_name).addFilter(_HIDE_TOKENS)


def destination(channel: int | str) -> str:
    """The outbox destination of a Discord channel."""
    return f"discord:{channel}"


def schema_digest(payload: list[dict[str, Any]]) -> str:
    """A stable digest of a command schema (what decides whether to sync again)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# -- delivery ------------------------------------------------------------------


class DiscordDelivery:
    """Posts, edits, follow-ups and thread replies through discord.py's REST client."""

    def __init__(self, http: discord.http.HTTPClient, clock: Any = time.time) -> None:
        self.http = http
        self.clock = clock

    async def deliver(self, item: OutboxItem, context: DeliveryContext) -> dict[str, Any] | None:
        """Send one item; map Discord's answers onto retry / permanent failure."""
        try:
            if item.op == "update":
                await self._update(item, context)
                return None
            if item.op == "private":
                await self._private(item)
                return None
            if item.op == "add_role":
                await self._add_role(item)
                return None
            return await self._post(item, context)
        except discord.RateLimited as exc:  # refused before sending: nothing was posted
            raise RetryLater("Discord rate limit", exc.retry_after, maybe_sent=False) from exc
        except discord.HTTPException as exc:
            self._refused(item, exc)
            raise AssertionError("unreachable") from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise RetryLater(f"Discord unreachable: {exc!r}") from exc

    # posts -------------------------------------------------------------

    def _bodies(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        if "raw" in payload:  # a continuation already cut to size
            return [dict(payload["raw"])]
        bodies = message_bodies(payload.get("text", ""), payload_table(payload.get("table")))
        if payload.get("components") is not None:
            bodies[0]["components"] = payload["components"]
        for body in bodies:
            roles = mentioned_roles(body.get("content", ""))
            body["allowed_mentions"] = {**NO_MENTIONS, "roles": roles} if roles else NO_MENTIONS
        return bodies

    def _token_alive(self, interaction: dict[str, Any] | None) -> bool:
        return bool(interaction) and (
            self.clock() - float(interaction["at"]) < TOKEN_LIFETIME - TOKEN_MARGIN  # type: ignore[index]
        )

    async def _post(self, item: OutboxItem, context: DeliveryContext) -> dict[str, Any]:
        """Post a message and return its ref. A message too long for one Discord message
        is split: the first part is posted now, the others queued after it, each once."""
        payload = item.payload
        bodies = self._bodies(payload)
        channel = item.destination.split(":", 1)[1]
        interaction = payload.get("interaction")
        if payload.get("thread_key"):
            parent = context.ref(payload["thread_key"])
            if parent is None:
                raise PermanentFailure("the thread's first message was never posted")
            thread = await self._thread_of(parent, payload["thread_key"], context)
            ref = await self._channel_post(thread, bodies[0], _nonce(item))
        elif self._token_alive(interaction) and payload.get("original"):
            ref = await self._edit_original(interaction, bodies[0])  # type: ignore[arg-type]
        elif self._token_alive(interaction):
            ref = await self._followup(interaction, bodies[0])  # type: ignore[arg-type]
        else:
            ref = await self._channel_post(channel, bodies[0], _nonce(item))
        ref["title"] = thread_name(payload.get("text", ""))
        for number, body in enumerate(bodies[1:], start=2):
            rest: dict[str, Any] = {
                "raw": body,
                **({"interaction": interaction} if interaction else {}),
            }
            if payload.get("thread_key"):
                rest["thread_key"] = payload["thread_key"]
            context.store.enqueue(
                item.destination, "post", rest, dedupe_key=f"discord-continued:{item.id}:{number}"
            )
        return ref

    async def _channel_post(
        self, channel: str | int, body: dict[str, Any], nonce: str | None = None
    ) -> dict[str, Any]:
        """Post ``body``; with ``nonce``, a retry whose first answer was lost returns the
        message Discord already made instead of posting it twice."""
        route = ApiRoute("POST", "/channels/{channel_id}/messages", channel_id=channel)
        if nonce is not None:
            body = {**body, "nonce": nonce, "enforce_nonce": True}
        data = await self.http.request(route, json=body)
        return {"via": "channel", "channel": str(data["channel_id"]), "message": str(data["id"])}

    async def _edit_original(
        self, interaction: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        route = ApiRoute(
            "PATCH",
            "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
            webhook_id=interaction["app"],
            webhook_token=interaction["token"],
        )
        data = await self.http.request(route, json=body)
        return {
            "via": "original",
            "channel": str(data["channel_id"]),
            "message": str(data["id"]),
            "interaction": interaction,
        }

    async def _followup(self, interaction: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        route = ApiRoute(
            "POST",
            "/webhooks/{webhook_id}/{webhook_token}",
            webhook_id=interaction["app"],
            webhook_token=interaction["token"],
        )
        data = await self.http.request(route, json=body, params={"wait": "true"})
        return {
            "via": "followup",
            "channel": str(data["channel_id"]),
            "message": str(data["id"]),
            "interaction": interaction,
        }

    async def _thread_of(self, parent: dict[str, Any], key: str, context: DeliveryContext) -> str:
        """The thread under ``parent``, started now if it has none yet."""
        if parent.get("thread"):
            return str(parent["thread"])
        route = ApiRoute(
            "POST",
            "/channels/{channel_id}/messages/{message_id}/threads",
            channel_id=parent["channel"],
            message_id=parent["message"],
        )
        try:
            data = await self.http.request(
                route,
                json={"name": parent.get("title") or "details", "auto_archive_duration": 1440},
            )
            thread = str(data["id"])
        except discord.HTTPException as exc:
            if exc.code != 160004:
                raise
            thread = str(parent["message"])  # a message's thread has the message's id
        context.store.set_message_ref(key, {**parent, "thread": thread})
        return thread

    # edits -------------------------------------------------------------

    async def _update(self, item: OutboxItem, context: DeliveryContext) -> None:
        ref = context.ref(item.message_key)
        if ref is None or item.message_key is None:
            raise PermanentFailure("the message to edit was never posted")
        body = self._bodies(item.payload)[0]
        if "components" not in body:
            body["components"] = []  # an edit removes buttons unless it brings its own
        interaction = ref.get("interaction")
        if ref["via"] in ("original", "followup"):
            if self._token_alive(interaction):
                target = "@original" if ref["via"] == "original" else ref["message"]
                route = ApiRoute(
                    "PATCH",
                    "/webhooks/{webhook_id}/{webhook_token}/messages/" + target,
                    webhook_id=interaction["app"],  # type: ignore[index]
                    webhook_token=interaction["token"],  # type: ignore[index]
                )
                try:
                    await self.http.request(route, json=body)
                    return
                except discord.HTTPException as exc:
                    if exc.status != 401:
                        raise
            # The interaction's token has expired: show the new state as a new message
            # in the channel, and edit that one from now on.
            new = await self._channel_post(ref["channel"], body)
            context.store.set_message_ref(item.message_key, new)
            return
        route = ApiRoute(
            "PATCH",
            "/channels/{channel_id}/messages/{message_id}",
            channel_id=ref["channel"],
            message_id=ref["message"],
        )
        await self.http.request(route, json=body)

    async def _private(self, item: OutboxItem) -> None:
        """An ephemeral follow-up only the person who asked sees (dropped, and logged,
        once the interaction's token has expired)."""
        payload = item.payload
        interaction = payload.get("interaction")
        if not self._token_alive(interaction):
            log.warning(
                "a private Discord reply came too late to send", extra={"event": "discord_late"}
            )
            return
        assert interaction is not None
        body = {**self._bodies(payload)[0], "flags": 64}
        route = ApiRoute(
            "POST",
            "/webhooks/{webhook_id}/{webhook_token}",
            webhook_id=interaction["app"],
            webhook_token=interaction["token"],
        )
        await self.http.request(route, json=body, params={"wait": "true"})
        if payload.get("delete_original"):
            route = ApiRoute(
                "DELETE",
                "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                webhook_id=interaction["app"],
                webhook_token=interaction["token"],
            )
            with contextlib.suppress(discord.NotFound):
                await self.http.request(route)

    async def _add_role(self, item: OutboxItem) -> None:
        """Give a member a role (destination ``discord:guild:<id>``, payload ``user``,
        ``role``, ``reason``); adding a role the member has already is a no-op at Discord."""
        guild = item.destination.rsplit(":", 1)[1]
        payload = item.payload
        await self.http.add_role(
            int(guild), int(payload["user"]), int(payload["role"]), reason=payload.get("reason")
        )

    def _refused(self, item: OutboxItem, exc: discord.HTTPException) -> None:
        if exc.status == 429:
            is_global = exc.response is not None and bool(
                exc.response.headers.get("X-RateLimit-Global")
            )
            raise RetryLater(
                "Discord rate limit", _retry_after(exc), maybe_sent=False, pause_route=is_global
            )
        if exc.status >= 500:
            raise RetryLater(f"Discord answered {exc.status}")
        hint = PERMANENT_CODES.get(exc.code, "Discord refused the request")
        log.error(
            "Discord refused %s to %s: %s %s (%s)",
            item.op,
            item.destination,
            exc.status,
            exc.code,
            hint,
            extra={"event": "discord_refused", "code": exc.code, "status": exc.status},
        )
        raise PermanentFailure(f"Discord {exc.status} {exc.code}: {hint}")


def _nonce(item: OutboxItem) -> str:
    """The nonce of an outbox item's channel post: the same for every attempt of the
    item, different for any other item (of this database or another); 25 characters,
    Discord's most."""
    seed = f"{item.id}:{item.created_at!r}:{item.message_key}:{item.destination}"
    return hashlib.sha256(seed.encode()).hexdigest()[:25]


def _retry_after(exc: discord.HTTPException) -> float | None:
    header = exc.response.headers.get("Retry-After") if exc.response is not None else None
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


# -- the command tree ------------------------------------------------------------

_ANNOTATIONS: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool}


def _annotation(option: OptionSchema) -> Any:
    base: Any = Literal.__getitem__(option.choices) if option.choices else _ANNOTATIONS[option.kind]
    if option.kind == "boolean" or option.required:
        return base
    return Optional[base]  # noqa: UP045 (built at run time from a type object)


def _command(leaf: Leaf, run: Any) -> app_commands.Command[Any, Any, None]:
    """A discord.py command whose parameters are the leaf's options."""

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await run(interaction, leaf, values)

    params = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    for option in leaf.options:
        if option.required:
            default: Any = inspect.Parameter.empty
        else:
            default = False if option.kind == "boolean" else None
        params.append(
            inspect.Parameter(
                option.param,
                inspect.Parameter.KEYWORD_ONLY,
                default=default,
                annotation=_annotation(option),
            )
        )
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__name__ = callback.__qualname__ = leaf.name.replace("-", "_")
    callback.__doc__ = None
    described = app_commands.describe(**{o.param: o.description for o in leaf.options})
    renames = {o.param: o.name for o in leaf.options if o.name != o.param}
    function: Any = described(callback)
    if renames:
        function = app_commands.rename(**renames)(function)
    return app_commands.Command(name=leaf.name, description=leaf.description, callback=function)


def build_top_level(groups: tuple[Group, ...], run: Any) -> list[app_commands.Group]:
    """``/operator``, ``/validator``: the registry's top-level commands on their own."""
    built = []
    for entry in groups:
        group = app_commands.Group(name=entry.name, description=entry.description)
        for leaf in entry.leaves:
            group.add_command(_command(leaf, run))
        built.append(group)
    return built


def build_root(entries: tuple[Leaf | Group, ...], run: Any) -> app_commands.Group:
    """``/testnet`` with every entry as a subcommand or subcommand group."""
    root = app_commands.Group(name=ROOT, description=ROOT_DESCRIPTION)
    for entry in entries:
        if isinstance(entry, Group):
            group = app_commands.Group(name=entry.name, description=entry.description, parent=root)
            for leaf in entry.leaves:
                group.add_command(_command(leaf, run))
        else:
            root.add_command(_command(entry, run))
    return root


# -- responder -------------------------------------------------------------------


class DiscordResponder(OutboxResponder):
    """Replies to one interaction: the first edits its deferred response."""

    def __init__(
        self, adapter: DiscordAdapter, channel: str, interaction: dict[str, Any] | None
    ) -> None:
        extra = {"interaction": interaction} if interaction else {}
        super().__init__(adapter.services.outbox, destination(channel), extra)
        self.adapter = adapter
        self.interaction = interaction
        self.original_used = interaction is None

    def first_reply(self, payload: dict[str, Any]) -> Priority:
        """Mark ``payload`` as the one that fills the deferred response, if none has;
        return its priority (the first reply goes ahead of the channel's traffic)."""
        if self.original_used:
            return Priority.REPLY
        self.original_used = True
        payload["original"] = True
        return Priority.URGENT

    async def reply(self, text: str, *, table: Table | None = None) -> MessageRef:
        """Queue a message: the deferred response's content first, follow-ups after."""
        payload = self._payload(text, table)
        priority = self.first_reply(payload)
        key = self.outbox.post(self.destination, payload, priority=priority)
        return MessageRef(self.destination, key)

    async def reply_private(self, text: str) -> None:
        """An ephemeral follow-up; the deferred response is removed if nothing else
        used it (so a usage error is not left "thinking" in the channel)."""
        if self.interaction is None:
            await self.reply(text)
            return
        payload: dict[str, Any] = {"text": text, "interaction": self.interaction}
        priority = Priority.REPLY
        if not self.original_used:
            self.original_used = True
            payload["delete_original"] = True
            priority = Priority.URGENT
        self.outbox.enqueue(self.destination, "private", payload, priority=priority)

    async def confirm(self, request: ConfirmRequest) -> ConfirmResult:
        """Post the plan with Approve/Cancel and wait for enough approvers or the timeout."""
        return await self.adapter.ask(self, request)


def _channel_post(item: OutboxItem) -> bool:
    """Whether ``item`` is a channel message (limited per channel); answers through an
    interaction's webhook have their own limits."""
    payload = item.payload
    return item.op == "post" and (not payload.get("interaction") or bool(payload.get("thread_key")))


def _interaction_ref(interaction: discord.Interaction, at: float) -> dict[str, Any]:
    return {"app": str(interaction.application_id), "token": interaction.token, "at": at}


# -- adapter ---------------------------------------------------------------------


class DiscordAdapter:
    """The Discord side of the bot: client, command tree, confirmations, delivery route."""

    def __init__(self, config: DiscordChat, services: Services, dispatcher: Dispatcher) -> None:
        self.config = config
        self.services = services
        self.dispatcher = dispatcher
        self.entries = layout(services.registry)
        self.client = discord.Client(
            intents=discord.Intents(guilds=True),
            max_ratelimit_timeout=MAX_RATELIMIT_WAIT,
            guild_ready_timeout=0.5,
            enable_debug_events=False,
        )
        self.tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(self.client)
        self.tree.on_error = self._tree_error  # type: ignore[method-assign]
        self.root = build_root(self.entries, self._on_command)
        self.top_commands = build_top_level(top_level(services.registry), self._on_command)
        guilds = [discord.Object(g) for g in config.guilds]
        if guilds:
            for command in (self.root, *self.top_commands):
                self.tree.add_command(command, guilds=guilds)
        self.ready = asyncio.Event()
        self._waiters: dict[str, asyncio.Future[ConfirmResult]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._saved_base: tuple[str, yarl.URL] | None = None
        self.client.event(self.on_ready)
        self.client.add_dynamic_items(_confirm_button(self))
        delivery = DiscordDelivery(self.client.http, services.clock)
        count, per = POSTS_PER_CHANNEL
        posts = RateLimit(count, per, _channel_post)
        services.outbox.add_route("discord", Route(delivery, limits=[posts]))

    # -- lifecycle -----------------------------------------------------------

    async def on_ready(self) -> None:
        """The gateway session is ready (again)."""
        log.info("discord: gateway ready", extra={"event": "discord_ready"})
        self.ready.set()

    async def start(self) -> None:
        """Log in (raising :class:`StartupError` with what to fix when Discord refuses
        the token or cannot be reached), sync ``/testnet`` where its schema changed,
        expire confirmations a previous process left waiting, connect the gateway."""
        if self.config.api_url is not None:
            self._saved_base = (
                discord.http.Route.BASE,
                discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
            )
            discord.http.Route.BASE = str(self.config.api_url).rstrip("/")
        token = self.config.token.get_secret_value()
        where = str(self.config.api_url or "discord.com")
        try:
            await asyncio.wait_for(self.client.login(token), STARTUP_CHECK_TIMEOUT)
            if self.config.api_url is not None:
                _, url, _ = await self.client.http.get_bot_gateway()
                discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        except discord.LoginFailure:
            await self._close_client()
            raise StartupError(
                "Discord refused the bot token at start-up;"
                " check DISCORD_TOKEN (chat.discord.token)"
            ) from None
        except (aiohttp.ClientError, TimeoutError, OSError, discord.HTTPException) as exc:
            await self._close_client()
            raise StartupError(
                f"cannot reach Discord at {where} to log in: {exc!r}"
                " (check the network, a proxy, or chat.discord.api_url)"
            ) from None
        wanted = self.config.application_id
        if wanted is not None and self.client.application_id != wanted:
            await self._close_client()
            raise StartupError(
                f"the Discord token belongs to application {self.client.application_id},"
                f" not chat.discord.application_id {wanted}"
            )
        await self._sync()
        for conf in self.services.store.confirmations.pending():
            if conf.destination.startswith("discord:"):
                self.services.store.confirmations.expire(conf.id)
                self._edit(conf, "⌛ This request was interrupted by a bot restart; run it again.")
        self._runner = self.services.supervisor.spawn("discord-gateway", self._connect())
        try:
            await asyncio.wait_for(self.ready.wait(), READY_TIMEOUT)
        except TimeoutError:
            log.warning(
                "discord: the gateway is not ready yet; continuing", extra={"event": "discord_slow"}
            )

    async def _connect(self) -> None:
        try:
            await self.client.connect(reconnect=True)
        except discord.DiscordException as exc:
            log.error(
                "discord: gateway connection ended: %r",
                exc,
                extra={"event": "discord_gateway_error"},
            )

    async def _sync(self) -> None:
        """Sync ``/testnet`` to each configured guild whose stored digest differs from
        the generated schema (or where Discord no longer has it)."""
        store = self.services.store
        for guild_id in self.config.guilds:
            guild = discord.Object(guild_id)
            schema = [c.to_dict(self.tree) for c in self.tree.get_commands(guild=guild)]
            digest = schema_digest(schema)
            try:
                if store.command_syncs.digest("discord", str(guild_id)) == digest:
                    present = await self.tree.fetch_commands(guild=guild)
                    wanted = sorted([ROOT, *(c.name for c in self.top_commands)])
                    if sorted(c.name for c in present) == wanted:
                        log.info(
                            "discord: /testnet unchanged in guild %s",
                            guild_id,
                            extra={"event": "discord_sync_skipped"},
                        )
                        continue
                await self.tree.sync(guild=guild)
            except discord.Forbidden as exc:
                await self._close_client()
                raise StartupError(
                    f"Discord refused to sync /testnet to guild {guild_id} ({exc.code}): invite the"
                    " bot there with the `bot applications.commands` scopes"
                ) from None
            except discord.HTTPException as exc:
                await self._close_client()
                raise StartupError(
                    f"Discord refused the /testnet schema for guild {guild_id}: {exc.text}"
                ) from None
            store.command_syncs.save("discord", str(guild_id), digest)
            log.info(
                "discord: synced /testnet to guild %s", guild_id, extra={"event": "discord_synced"}
            )

    async def _close_client(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.close()
        self._restore_base()

    def _restore_base(self) -> None:
        if self._saved_base is not None:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = (
                self._saved_base
            )
            self._saved_base = None

    async def stop(self) -> None:
        """Close the gateway and refuse confirmations still waiting."""
        for future in self._waiters.values():
            if not future.done():
                future.set_result(ConfirmResult(False, reason="the bot is shutting down"))
        await self.client.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        self._restore_base()

    # -- commands ------------------------------------------------------------

    def actor(self, user: discord.User | discord.Member) -> Actor:
        """The person behind an interaction; a member's role ids are their groups."""
        # The interaction payload's role ids (Member._roles), not the guild cache's
        # Role objects: a role the cache has not seen still counts.
        roles = getattr(user, "_roles", None)
        ids = [str(r) for r in roles] if roles is not None else []
        return Actor("discord", str(user.id), user.display_name, frozenset(ids))

    async def _on_command(
        self, interaction: discord.Interaction, leaf: Leaf, values: dict[str, Any]
    ) -> None:
        if not self.services.store.seen.first_time(SEEN_SOURCE, str(interaction.id), RETRY_WINDOW):
            log.info(
                "ignored a redelivered interaction %s",
                interaction.id,
                extra={"event": "discord_redelivery"},
            )
            return
        received = self.services.clock()
        try:
            await interaction.response.defer(thinking=True)
        except discord.HTTPException as exc:
            log.warning(
                "could not defer interaction %s: %s %s",
                interaction.id,
                exc.status,
                exc.code,
                extra={"event": "discord_defer_failed"},
            )
            return
        self.services.supervisor.spawn(
            f"discord-command:{interaction.id}",
            self._run_command(interaction, leaf, values, received),
        )

    async def _tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """A command Discord still shows but this bot no longer has (a schema not yet
        synced), or options that do not match: say so instead of failing silently."""
        log.warning(
            "discord: could not run an interaction: %s",
            error,
            extra={"event": "discord_tree_error"},
        )
        if interaction.response.is_done():
            return
        with contextlib.suppress(discord.HTTPException):
            await interaction.response.send_message(
                "I do not know that command (any more). Try `/testnet help`.", ephemeral=True
            )

    async def _run_command(
        self, interaction: discord.Interaction, leaf: Leaf, values: dict[str, Any], received: float
    ) -> None:
        channel = str(interaction.channel_id or "")
        responder = DiscordResponder(self, channel, _interaction_ref(interaction, received))
        text = invocation_text(leaf.spec, values)
        invocation = Invocation(
            actor=self.actor(interaction.user),
            text=text,
            responder=responder,
            trace_id=uuid.uuid4().hex[:12],
            channel=channel,
            extra={"interaction": str(interaction.id)},
        )
        outcome = await self.dispatcher.submit(invocation)
        if not responder.original_used:  # nothing was said: do not leave it "thinking"
            mark = "✅" if outcome is Outcome.OK else "✖️"
            await responder.reply(f"{mark} `{text.removeprefix('/').strip()}`: {outcome.value}.")

    # -- confirmations -------------------------------------------------------

    def _edit(self, conf: Confirmation, status: str) -> None:
        if conf.message_key is None:
            return
        self.services.outbox.enqueue(
            conf.destination,
            "update",
            {"text": f"{conf.plan}\n{status}"},
            message_key=conf.message_key,
        )

    async def ask(self, responder: DiscordResponder, request: ConfirmRequest) -> ConfirmResult:
        """Post a confirmation and wait for its outcome."""
        store = self.services.store
        timeout = min(request.timeout, self.config.confirm_timeout)
        conf, key = open_confirmation(store, request, responder.destination, timeout)
        minutes = max(1, round(timeout / 60))
        needs = (
            f"Needs {request.approvals} people: someone other than"
            f" <@{request.requester.id}> must approve."
            if request.approvals >= 2
            else f"<@{request.requester.id}> or someone with `{request.permission}` may approve."
        )
        text = f"{request.plan}\n{needs} Expires in {minutes} min."
        future: asyncio.Future[ConfirmResult] = asyncio.get_running_loop().create_future()
        self._waiters[conf.id] = future
        payload = {**responder._payload(text, None), "components": confirmation_components(conf.id)}
        responder.first_reply(payload)
        self.services.outbox.enqueue(  # a prompt goes ahead of the channel's other traffic
            responder.destination, "post", payload, message_key=key, priority=Priority.URGENT
        )
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            vote = store.confirmations.expire(conf.id)
            if vote.changed:
                self._edit(conf, f"⌛ Expired after {minutes} min without approval; run it again.")
                return ConfirmResult(False, reason="expired without approval")
            return self._result(vote.confirmation)
        finally:
            self._waiters.pop(conf.id, None)

    def _result(self, conf: Confirmation) -> ConfirmResult:
        if conf.state == APPROVED:
            return ConfirmResult(True, tuple(f"<@{a}>" for a in conf.approvers), "approved")
        if conf.state == CANCELLED:
            return ConfirmResult(False, reason=f"cancelled by <@{conf.decided_by}>")
        return ConfirmResult(False, reason="expired without approval")

    async def on_click(self, interaction: discord.Interaction, action: str, cid: str) -> None:
        """A click on Approve or Cancel: acknowledged at once, counted once."""
        if not self.services.store.seen.first_time(SEEN_SOURCE, str(interaction.id), RETRY_WINDOW):
            return
        received = self.services.clock()
        try:
            await interaction.response.defer()
        except discord.HTTPException as exc:
            log.warning(
                "could not acknowledge click %s: %s",
                interaction.id,
                exc.code,
                extra={"event": "discord_defer_failed"},
            )
            return
        self._vote(interaction, action == "approve", cid, received)

    def _vote(
        self, interaction: discord.Interaction, approve: bool, cid: str, received: float
    ) -> None:
        decision = decide(
            self.services.store.confirmations,
            self.services.permissions,
            self.actor(interaction.user),
            cid,
            approve,
        )
        conf = decision.confirmation
        if decision.tell is not None:
            ref = _interaction_ref(interaction, received)
            self.services.outbox.enqueue(
                destination(str(interaction.channel_id or "")),
                "private",
                {"text": decision.tell, "interaction": ref},
            )
        if conf is not None and decision.status is not None and conf.message_key is not None:
            payload: dict[str, Any] = {"text": f"{conf.plan}\n{decision.status}"}
            if decision.keep_buttons:
                payload["components"] = confirmation_components(conf.id)
            self.services.outbox.enqueue(
                conf.destination, "update", payload, message_key=conf.message_key
            )
        if conf is not None and decision.settled:
            self._settle(conf)

    def _settle(self, conf: Confirmation) -> None:
        future = self._waiters.get(conf.id)
        if future is not None and not future.done():
            future.set_result(self._result(conf))


def _confirm_button(
    adapter: DiscordAdapter,
) -> type[discord.ui.DynamicItem[discord.ui.Button[Any]]]:
    """The persistent Approve/Cancel button: any ``testnet:confirm:<action>:<id>`` custom
    id, whenever it was posted (before a restart too), reaches ``adapter``."""
    template = re.escape(CONFIRM_PREFIX) + r":(?P<action>approve|cancel):(?P<cid>[0-9a-f]{1,64})"

    class ConfirmButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=template):
        def __init__(self, action: str, cid: str) -> None:
            super().__init__(
                discord.ui.Button(
                    label=action.title(), custom_id=f"{CONFIRM_PREFIX}:{action}:{cid}"
                )
            )
            self.action = action
            self.cid = cid

        @classmethod
        async def from_custom_id(
            cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
        ) -> ConfirmButton:
            return cls(match["action"], match["cid"])

        async def callback(self, interaction: discord.Interaction) -> None:
            await adapter.on_click(interaction, self.action, self.cid)

    return ConfirmButton
