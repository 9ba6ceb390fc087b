"""An HTTP-level fake of Discord (REST API v10 and the gateway) for discord.py's real client.

It serves Discord's paths and JSON on 127.0.0.1 so ``discord.Client`` with an
``app_commands.CommandTree`` runs against it unchanged::

    async with DiscordFake() as fake, fake.pointed_at():
        client = discord.Client(intents=discord.Intents.default())
        tree = app_commands.CommandTree(client)
        await client.login(fake.token)
        await tree.sync(guild=discord.Object(GUILD_ID))
        assert fake.command_names(GUILD_ID) == ["testnet"]

REST (under ``/api/v10``, ``Authorization: Bot <token>`` except the interaction and webhook
routes, whose token is in the path): ``users/@me``, ``oauth2/applications/@me``,
``gateway[/bot]``, global and guild command bulk overwrite/list (validated as Discord does:
see ``discord_limits``), interaction callbacks (types 1, 4, 5, 6, 7, 9; ``with_response``;
40060 when answered twice; 10062 when older than 3 s on the injectable ``clock``),
``webhooks/{app}/{token}`` follow-ups and ``messages/@original`` (15 minutes), channel
messages and threads (403 50001/50013 for channels the bot cannot see or post in), member
role adds and removals (403 50013 for roles at or above the bot's), member lookups.
Errors are Discord's JSON: ``{"message", "code"}`` and, for 50035, an ``errors`` object.
Every answer is ``Content-Type: application/json`` exactly (discord.py ignores a charset).

Rate limits: every route has a bucket (``X-RateLimit-Limit/Remaining/Reset/Reset-After/
Bucket`` headers; the limits per route template can be set with ``buckets=``); over the limit, or after :meth:`DiscordFake.inject_429`, the answer is a
429 with ``{"message", "retry_after", "global"}``, ``Retry-After`` and ``Via`` (discord.py
treats a 429 without ``Via`` as a Cloudflare ban). Requests that arrive while a bucket is
blocked are marked ``early`` in :meth:`DiscordFake.requests`.

Gateway: see ``discord_gateway``; :meth:`DiscordFake.dispatch_interaction` sends an
INTERACTION_CREATE built by :meth:`slash_command` or :meth:`button_click`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import discord_limits as limits
from tests.fakes.discord_gateway import FakeGateway, GatewaySession
from tests.fakes.discord_payloads import (
    BOT_PERMISSIONS,
    EPHEMERAL,
    LOADING,
    MEMBER_PERMISSIONS,
    PUBLIC_THREAD,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    snowflake,
)

API_PREFIX = "/api/v10"
INTERACTION_RESPONSE_WINDOW = 3.0
INTERACTION_TOKEN_LIFETIME = 15 * 60.0
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
NONCE_WINDOW = 5 * 60.0  # Discord: "the past few minutes"

APPLICATION_ID = 1_300_000_000_000_000_001
BOT = FakeUser(1_300_000_000_000_000_001, "testnet-bot", bot=True, global_name="Testnet Bot")
OWNER = FakeUser(1_300_000_000_000_000_002, "owner")
ALICE = FakeUser(1_300_000_000_000_000_011, "alice")
BOB = FakeUser(1_300_000_000_000_000_012, "bob")
CAROL = FakeUser(1_300_000_000_000_000_013, "carol")
GUILD_ID = 1_300_000_000_000_000_100
GENERAL = 1_300_000_000_000_000_101  # the bot may post here
READ_ONLY = 1_300_000_000_000_000_102  # the bot sees it but may not post (50013)
HIDDEN = 1_300_000_000_000_000_103  # the bot cannot see it (50001)
BOT_ROLE = 1_300_000_000_000_000_200
APPRENTICE = 1_300_000_000_000_000_201  # below the bot's role: the bot may grant it
DEVREL = 1_300_000_000_000_000_202
ADMIN = 1_300_000_000_000_000_203  # above the bot's role: 50013

# Default buckets: (limit, window seconds). Discord documents the numbers as subject to
# change; these are the commonly observed ones (5 messages per 5 s per channel).
DEFAULT_BUCKET = (50, 1.0)
ROUTE_BUCKETS: Mapping[str, tuple[int, float]] = {
    "POST /channels/{channel_id}/messages": (5, 5.0),
    "PATCH /channels/{channel_id}/messages/{message_id}": (5, 5.0),
    "PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}": (10, 10.0),
    "DELETE /guilds/{guild_id}/members/{user_id}/roles/{role_id}": (10, 10.0),
}
# Discord keys buckets by these; an interaction callback's bucket is its own interaction
# (as discord.py's routes for callbacks say), so a burst of interactions is not one bucket.
MAJOR_PARAMETERS = ("channel_id", "guild_id", "webhook_id", "webhook_token", "interaction_id", "interaction_token")


class DiscordError(Exception):
    """An error answer in Discord's shape."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            data["errors"] = self.errors
        return data


def _invalid_form(errors: dict[str, Any]) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", errors)


def _bad_nonce() -> dict[str, Any]:
    return {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be 25 or fewer in length."}]}


def unknown(what: str, code: int) -> DiscordError:
    return DiscordError(404, code, f"Unknown {what}")


MISSING_ACCESS = (403, 50001, "Missing Access")
MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON answer with ``Content-Type: application/json`` exactly, as Discord sends it."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(body=json.dumps(data).encode(), status=status, headers=all_headers)


# ---------------------------------------------------------------- records tests read


@dataclass(frozen=True)
class LoggedRequest:
    """One REST request as the fake saw it.

    ``route`` is the template (``"POST /channels/{channel_id}/messages"``), ``early`` True
    when it arrived while its bucket (or the global limit) was still blocked.
    """

    method: str
    path: str
    route: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any
    received_at: float  # time.monotonic()
    status: int
    early: bool
    audit_reason: str | None


@dataclass
class InteractionRecord:
    """An interaction the fake dispatched, with what the bot answered."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    created_at: float  # on the fake's clock
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    original: FakeMessage | None = None
    followups: list[FakeMessage] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        """True once the first callback was accepted."""
        return bool(self.callbacks)

    @property
    def callback_types(self) -> list[int]:
        """The types of the accepted callbacks (at most one: Discord refuses a second)."""
        return [c["type"] for c in self.callbacks]


@dataclass(frozen=True)
class RoleChange:
    """A role added to (``added``) or removed from a member through the REST API."""

    guild_id: int
    user_id: int
    role_id: int
    added: bool
    reason: str | None
    at: float  # time.monotonic()


@dataclass
class _Bucket:
    limit: int
    window: float
    hash: str
    window_start: float = 0.0
    count: int = 0
    blocked_until: float = 0.0


@dataclass
class _Injected:
    retry_after: float
    is_global: bool
    remaining: int


class ManualClock:
    """A clock a test moves by hand (for the 3-second and 15-minute interaction windows)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def default_guild() -> FakeGuild:
    """One guild: a postable, a read-only and a hidden channel; roles below and above the bot."""
    guild = FakeGuild(id=GUILD_ID, name="Testnet", bot_role_id=BOT_ROLE, bot_role_position=5)
    for channel in (
        FakeChannel(GENERAL, "general", GUILD_ID),
        FakeChannel(READ_ONLY, "announcements", GUILD_ID, bot_can_send=False),
        FakeChannel(HIDDEN, "staff", GUILD_ID, bot_can_view=False),
    ):
        guild.channels[channel.id] = channel
    for role in (
        FakeRole(GUILD_ID, "@everyone", 0, MEMBER_PERMISSIONS),
        FakeRole(APPRENTICE, "Apprentice", 1),
        FakeRole(DEVREL, "DevRel", 2),
        FakeRole(BOT_ROLE, "testnet-bot", 5, BOT_PERMISSIONS, managed=True),
        FakeRole(ADMIN, "Admin", 10, 1 << 3),
    ):
        guild.roles[role.id] = role
    for member in (
        FakeMember(OWNER, {ADMIN}),
        FakeMember(BOT, {BOT_ROLE}),
        FakeMember(ALICE, {DEVREL}),
        FakeMember(BOB),
        FakeMember(CAROL),
    ):
        guild.members[member.user.id] = member
    return guild


# ---------------------------------------------------------------- the fake


Handler = Callable[[web.Request, Any], Awaitable[web.StreamResponse]]


class DiscordFake:
    """Discord's REST API and gateway on one local aiohttp server."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token.discord.test",
        guilds: Sequence[FakeGuild] | None = None,
        clock: Callable[[], float] = time.monotonic,
        heartbeat_interval_ms: int = 41_250,
        buckets: Mapping[str, tuple[int, float]] | None = None,
    ) -> None:
        self.token = token
        self.bucket_policies: dict[str, tuple[int, float]] = {**ROUTE_BUCKETS, **(buckets or {})}
        self.application_id = APPLICATION_ID
        self.bot = BOT
        self.clock = clock
        self.guilds: dict[int, FakeGuild] = {g.id: g for g in (guilds or [default_guild()])}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.command_syncs: list[tuple[int | None, list[dict[str, Any]]]] = []
        self.messages_by_id: dict[int, FakeMessage] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.role_changes: list[RoleChange] = []
        self._nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self._log: list[LoggedRequest] = []
        self._buckets: dict[str, _Bucket] = {}
        self._injected: dict[str, list[_Injected]] = {}
        self._global_blocked_until = 0.0
        self._changed = asyncio.Event()
        self.gateway = FakeGateway(
            token=token,
            ready_payload=self._ready_payload,
            guild_payloads=lambda: [g.payload(self.bot) for g in self.guilds.values()],
            heartbeat_interval_ms=heartbeat_interval_ms,
        )
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> DiscordFake:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on an ephemeral port of 127.0.0.1."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/resume-gateway", self.gateway.handle)
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/users/@me", self._get_me),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/applications/@me", self._get_application),
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/gateway/bot", self._get_gateway_bot),
            ("GET", "/applications/{application_id}/commands", self._get_commands),
            ("PUT", "/applications/{application_id}/commands", self._put_commands),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self._get_commands),
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self._put_commands),
            ("POST", "/interactions/{interaction_id}/{interaction_token}/callback", self._callback),
            ("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", self._get_webhook_message),
            ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", self._edit_webhook_message),
            ("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", self._delete_webhook_message),
            ("POST", "/webhooks/{webhook_id}/{webhook_token}", self._post_followup),
            ("GET", "/channels/{channel_id}", self._get_channel),
            ("POST", "/channels/{channel_id}/messages", self._post_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message),
            ("POST", "/channels/{channel_id}/messages/{message_id}/threads", self._start_thread),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member),
            ("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self._add_role),
            ("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self._remove_role),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, API_PREFIX + path, self._wrap(handler))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.gateway.base_url = f"ws://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        """Close the gateway sockets and the server."""
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_url(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @contextlib.contextmanager
    def pointed_at(self) -> Iterator[None]:
        """Point discord.py's REST base and default gateway at this fake for the block."""
        import discord.gateway
        import discord.http
        import yarl

        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway.url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    # ------------------------------------------------------------ middleware: log, limits, auth

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            result: web.StreamResponse = await handler(request)
            return result
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPNotFound:
            response = json_response({"message": "404: Not Found", "code": 0}, 404)
        except web.HTTPMethodNotAllowed:
            response = json_response({"message": "405: Method Not Allowed", "code": 0}, 405)
        return response

    def _wrap(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            received = time.monotonic()
            info = request.match_info
            canonical = info.route.resource.canonical if info.route.resource else request.path
            route = f"{request.method} {canonical[len(API_PREFIX):]}"
            params = dict(info)
            body: Any = None
            early = False
            headers: dict[str, str] = {}
            try:
                body = await self._read_body(request)
                early, headers = self._rate_limit(route, params, received)
                if not route.startswith(("POST /interactions/", "GET /webhooks/", "PATCH /webhooks/",
                                         "DELETE /webhooks/", "POST /webhooks/")):
                    self._authorize(request)
                response = await handler(request, body)
                response.headers.update(headers)
            except _RateLimited as limited:
                response, early = limited.response, limited.early
            except DiscordError as error:
                response = json_response(error.body(), error.status, headers)
            self._log.append(
                LoggedRequest(
                    method=request.method,
                    path=request.path,
                    route=route,
                    params=params,
                    query=dict(request.query),
                    body=body,
                    received_at=received,
                    status=response.status,
                    early=early,
                    audit_reason=request.headers.get("X-Audit-Log-Reason"),
                )
            )
            self._notify()
            return response

        return serve

    async def _read_body(self, request: web.Request) -> Any:
        if not request.body_exists:
            return None
        if request.content_type == "multipart/form-data":
            form = await request.post()
            raw = form.get("payload_json")
            text = raw if isinstance(raw, str) else ""
        else:
            text = await request.text()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise DiscordError(400, 50109, "The request body contains invalid JSON.") from exc

    def _authorize(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            raise DiscordError(401, 0, "401: Unauthorized")

    def _rate_limit(
        self, route: str, params: Mapping[str, str], now: float
    ) -> tuple[bool, dict[str, str]]:
        """Apply the route's bucket; raise a 429 answer or return (early, headers)."""
        major = "+".join(params[k] for k in MAJOR_PARAMETERS if k in params)
        key = f"{route}:{major}"
        bucket = self._buckets.get(key)
        if bucket is None:
            limit, window = self.bucket_policies.get(route, DEFAULT_BUCKET)
            digest = hashlib.sha1(route.encode()).hexdigest()[:16]
            bucket = self._buckets[key] = _Bucket(limit, window, digest, window_start=now)
        early = now < bucket.blocked_until or now < self._global_blocked_until
        if now < self._global_blocked_until:
            raise _RateLimited(self._too_many(bucket, self._global_blocked_until - now, True, now), early)
        if now < bucket.blocked_until:
            raise _RateLimited(self._too_many(bucket, bucket.blocked_until - now, False, now), early)
        queued = self._injected.get(route)
        if queued:
            injected = queued[0]
            injected.remaining -= 1
            if injected.remaining <= 0:
                queued.pop(0)
            if injected.is_global:
                self._global_blocked_until = now + injected.retry_after
            else:
                bucket.blocked_until = now + injected.retry_after
            raise _RateLimited(self._too_many(bucket, injected.retry_after, injected.is_global, now))
        if now - bucket.window_start >= bucket.window:
            bucket.window_start, bucket.count = now, 0
        if bucket.count >= bucket.limit:
            wait = bucket.window_start + bucket.window - now
            bucket.blocked_until = now + wait
            raise _RateLimited(self._too_many(bucket, wait, False, now))
        bucket.count += 1
        reset_after = bucket.window_start + bucket.window - now
        return early, {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(bucket.limit - bucket.count),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket.hash,
        }

    def _too_many(self, bucket: _Bucket, retry_after: float, is_global: bool, now: float) -> web.Response:
        retry_after = max(retry_after, 0.001)
        headers = {
            "Retry-After": str(math.ceil(retry_after)),
            "Via": "1.1 google",
            "X-RateLimit-Scope": "global" if is_global else "user",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update(
                {
                    "X-RateLimit-Limit": str(bucket.limit),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                    "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                    "X-RateLimit-Bucket": bucket.hash,
                }
            )
        body = {"message": "You are being rate limited.", "retry_after": round(retry_after, 3), "global": is_global}
        return json_response(body, 429, headers)

    # ------------------------------------------------------------ faults tests inject

    def inject_429(self, route: str, retry_after: float, global_: bool = False, *, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``route`` (a template such as
        ``"POST /channels/{channel_id}/messages"``) with a 429 and block the bucket (or, with
        ``global_``, every route) for ``retry_after`` seconds."""
        self._injected.setdefault(route, []).append(_Injected(retry_after, global_, times))

    # ------------------------------------------------------------ REST handlers

    async def _get_me(self, request: web.Request, body: Any) -> web.Response:
        data = self.bot.payload()
        data.update(verified=True, mfa_enabled=False, email=None, locale="en-US")
        return json_response(data)

    async def _get_application(self, request: web.Request, body: Any) -> web.Response:
        return json_response(
            {
                "id": str(self.application_id),
                "name": "testnet-bot",
                "icon": None,
                "description": "Runs the testnet's runbooks.",
                "summary": "",
                "type": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": OWNER.payload(),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "bot": self.bot.payload(),
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "install_params": {"scopes": ["bot", "applications.commands"], "permissions": str(BOT_PERMISSIONS)},
                "approximate_guild_count": len(self.guilds),
            }
        )

    async def _get_gateway(self, request: web.Request, body: Any) -> web.Response:
        return json_response({"url": self.gateway.url})

    async def _get_gateway_bot(self, request: web.Request, body: Any) -> web.Response:
        return json_response(
            {
                "url": self.gateway.url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000 - len(self.gateway.sessions),
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    def _scope(self, request: web.Request) -> int | None:
        if request.match_info["application_id"] != str(self.application_id):
            raise DiscordError(403, 50001, "Missing Access")
        if "guild_id" not in request.match_info:
            return None
        guild_id = int(request.match_info["guild_id"])
        if guild_id not in self.guilds:
            raise DiscordError(403, 50001, "Missing Access")
        return guild_id

    async def _get_commands(self, request: web.Request, body: Any) -> web.Response:
        guild_id = self._scope(request)
        return json_response(self.commands(guild_id))

    async def _put_commands(self, request: web.Request, body: Any) -> web.Response:
        guild_id = self._scope(request)
        errors = limits.commands_errors(body)
        if errors:
            raise _invalid_form(errors)
        previous = {(c["type"], c["name"]): c for c in self.commands(guild_id)}
        stored = []
        for command in body:
            kind = command.get("type", 1)
            old = previous.get((kind, command["name"]))
            record = {
                "id": old["id"] if old else str(snowflake()),
                "application_id": str(self.application_id),
                "version": str(snowflake()),
                "default_member_permissions": command.get("default_member_permissions"),
                "type": kind,
                "name": command["name"],
                "name_localizations": command.get("name_localizations"),
                "description": command.get("description", ""),
                "description_localizations": command.get("description_localizations"),
                "options": command.get("options") or [],
                "nsfw": bool(command.get("nsfw", False)),
                "integration_types": command.get("integration_types", [0]),
                "contexts": command.get("contexts"),
            }
            if guild_id is not None:
                record["guild_id"] = str(guild_id)
            else:
                record["dm_permission"] = command.get("dm_permission", True)
            stored.append(record)
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        self.command_syncs.append((guild_id, stored))
        return json_response(stored)

    # interactions -------------------------------------------------

    def _interaction(self, interaction_id: str, token: str) -> InteractionRecord:
        try:
            record = self.interactions[int(interaction_id)]
        except (KeyError, ValueError):
            raise unknown("interaction", 10062) from None
        if record.token != token:
            raise unknown("interaction", 10062)
        return record

    async def _callback(self, request: web.Request, body: Any) -> web.Response:
        record = self._interaction(request.match_info["interaction_id"], request.match_info["interaction_token"])
        if record.acknowledged:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if self.clock() - record.created_at > INTERACTION_RESPONSE_WINDOW:
            raise unknown("interaction", 10062)
        if not isinstance(body, dict) or not isinstance(body.get("type"), int):
            raise _invalid_form({"type": {"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}})
        kind = body["type"]
        data = _json_object(body.get("data"), key="data")
        allowed = {4, 5, 9} | ({6, 7} if record.type == 3 else set()) | ({1} if record.type == 1 else set())
        if kind not in allowed:
            raise _invalid_form(
                {"type": {"_errors": [{"code": "INTERACTION_RESPONSE_TYPE_INVALID", "message": "Invalid interaction response type"}]}}
            )
        if kind in (4, 7):
            errors = limits.message_errors(data)
            if errors:
                raise _invalid_form({"data": errors})
            if kind == 4 and limits.is_empty_message(data):
                raise DiscordError(400, 50006, "Cannot send an empty message")
        channel_id = int(record.payload.get("channel_id") or 0)
        guild_id = int(record.payload["guild_id"]) if record.payload.get("guild_id") else None
        resource: dict[str, Any] = {"type": kind}
        if kind in (4, 5):
            message = FakeMessage(
                id=snowflake(),
                channel_id=channel_id,
                guild_id=guild_id,
                author=self.bot,
                webhook_id=self.application_id,
                application_id=self.application_id,
                interaction_id=record.id,
                flags=(int(data.get("flags") or 0) & EPHEMERAL) | (LOADING if kind == 5 else 0),
            )
            message.apply(data if kind == 4 else {}, edit=False)
            record.original = message
            self.messages_by_id[message.id] = message
            resource["message"] = message.payload()
        elif kind in (6, 7):
            target = self._component_message(record)
            record.original = target
            if kind == 7 and target is not None:
                target.apply(data, edit=True)
                resource["message"] = target.payload()
        record.callbacks.append(body)
        self._notify()
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return web.Response(status=204)
        original = record.original
        return json_response(
            {
                "interaction": {
                    "id": str(record.id),
                    "type": record.type,
                    "response_message_id": str(original.id) if original else None,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(original and original.flags & EPHEMERAL),
                },
                "resource": resource,
            }
        )

    def _component_message(self, record: InteractionRecord) -> FakeMessage | None:
        message = record.payload.get("message") or {}
        try:
            return self.messages_by_id[int(message.get("id", 0))]
        except (KeyError, ValueError):
            return None

    def _webhook_interaction(self, request: web.Request) -> InteractionRecord:
        if request.match_info["webhook_id"] != str(self.application_id):
            raise unknown("Webhook", 10015)
        token = request.match_info["webhook_token"]
        record = next((r for r in self.interactions.values() if r.token == token), None)
        if record is None or not record.acknowledged:
            raise unknown("Webhook", 10015)
        if self.clock() - record.created_at > INTERACTION_TOKEN_LIFETIME:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        return record

    def _webhook_message(self, request: web.Request) -> tuple[InteractionRecord, FakeMessage]:
        record = self._webhook_interaction(request)
        message_id = request.match_info["message_id"]
        if message_id == "@original":
            message = record.original
        else:
            message = next((m for m in record.followups if str(m.id) == message_id), None)
        if message is None or message.deleted:
            raise unknown("Message", 10008)
        return record, message

    async def _get_webhook_message(self, request: web.Request, body: Any) -> web.Response:
        _, message = self._webhook_message(request)
        return json_response(message.payload())

    async def _edit_webhook_message(self, request: web.Request, body: Any) -> web.Response:
        _, message = self._webhook_message(request)
        body = _json_object(body)
        errors = limits.message_errors(body)
        if errors:
            raise _invalid_form(errors)
        message.apply(body, edit=True)
        self._notify()
        return json_response(message.payload())

    async def _delete_webhook_message(self, request: web.Request, body: Any) -> web.Response:
        _, message = self._webhook_message(request)
        message.deleted = True
        self._notify()
        return web.Response(status=204)

    async def _post_followup(self, request: web.Request, body: Any) -> web.StreamResponse:
        record = self._webhook_interaction(request)
        body = _json_object(body)
        errors = limits.message_errors(body)
        if errors:
            raise _invalid_form(errors)
        if limits.is_empty_message(body):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        message = FakeMessage(
            id=snowflake(),
            channel_id=int(record.payload.get("channel_id") or 0),
            guild_id=int(record.payload["guild_id"]) if record.payload.get("guild_id") else None,
            author=self.bot,
            webhook_id=self.application_id,
            application_id=self.application_id,
            flags=int(body.get("flags") or 0) & EPHEMERAL,
        )
        message.apply(body, edit=False)
        record.followups.append(message)
        self.messages_by_id[message.id] = message
        self._notify()
        if request.query.get("wait", "").lower() in ("1", "true"):
            return json_response(message.payload())
        return web.Response(status=204)

    # channels -------------------------------------------------------

    def _channel(self, channel_id: str, *, send: bool = False) -> FakeChannel:
        for guild in self.guilds.values():
            channel = guild.channels.get(int(channel_id)) if channel_id.isdigit() else None
            if channel is not None:
                if not channel.bot_can_view:
                    raise DiscordError(*MISSING_ACCESS)
                if send and not channel.bot_can_send:
                    raise DiscordError(*MISSING_PERMISSIONS)
                return channel
        raise unknown("Channel", 10003)

    async def _get_channel(self, request: web.Request, body: Any) -> web.Response:
        channel = self._channel(request.match_info["channel_id"])
        return json_response(channel.payload(self.bot.id))

    async def _post_message(self, request: web.Request, body: Any) -> web.Response:
        channel = self._channel(request.match_info["channel_id"], send=True)
        body = _json_object(body)
        errors = limits.message_errors(body)
        if errors:
            raise _invalid_form(errors)
        if limits.is_empty_message(body):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        nonce = body.get("nonce")
        if nonce is not None and (not isinstance(nonce, str | int) or len(str(nonce)) > limits.NONCE_LIMIT):
            raise _invalid_form({"nonce": _bad_nonce()})
        if nonce is not None and body.get("enforce_nonce"):
            # Discord: the same author's message with this nonce in the last few minutes
            # is returned instead of creating another.
            key = (channel.id, str(nonce))
            earlier = self._nonces.get(key)
            if earlier is not None and self.clock() - earlier[1] < NONCE_WINDOW:
                return json_response(self.messages_by_id[earlier[0]].payload())
        message = FakeMessage(id=snowflake(), channel_id=channel.id, guild_id=channel.guild_id, author=self.bot)
        message.apply(body, edit=False)
        self.messages_by_id[message.id] = message
        if nonce is not None:
            self._nonces[(channel.id, str(nonce))] = (message.id, self.clock())
        self._notify()
        return json_response(message.payload())

    def _channel_message(self, request: web.Request, *, send: bool) -> tuple[FakeChannel, FakeMessage]:
        channel = self._channel(request.match_info["channel_id"], send=send)
        message_id = request.match_info["message_id"]
        message = self.messages_by_id.get(int(message_id)) if message_id.isdigit() else None
        if message is None or message.deleted or message.channel_id != channel.id:
            raise unknown("Message", 10008)
        return channel, message

    async def _get_message(self, request: web.Request, body: Any) -> web.Response:
        _, message = self._channel_message(request, send=False)
        return json_response(message.payload())

    async def _edit_message(self, request: web.Request, body: Any) -> web.Response:
        _, message = self._channel_message(request, send=False)
        if message.author.id != self.bot.id or message.webhook_id is not None:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        body = _json_object(body)
        errors = limits.message_errors(body)
        if errors:
            raise _invalid_form(errors)
        message.apply(body, edit=True)
        self._notify()
        return json_response(message.payload())

    async def _start_thread(self, request: web.Request, body: Any) -> web.Response:
        channel, message = self._channel_message(request, send=True)
        body = _json_object(body)
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= limits.THREAD_NAME_LIMIT:
            raise _invalid_form({"name": {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be between 1 and 100 in length."}]}})
        if message.thread_id is not None:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        thread = FakeChannel(
            id=message.id,
            name=name,
            guild_id=channel.guild_id,
            type=PUBLIC_THREAD,
            parent_id=channel.id,
            owner_id=self.bot.id,
            bot_can_send=channel.bot_can_send,
        )
        self.guilds[channel.guild_id].channels[thread.id] = thread
        message.thread_id = thread.id
        self._notify()
        return json_response(thread.payload(self.bot.id), 201)

    # members and roles ---------------------------------------------

    def _member(self, request: web.Request) -> tuple[FakeGuild, FakeMember]:
        guild = self.guilds.get(int(request.match_info["guild_id"])) if request.match_info["guild_id"].isdigit() else None
        if guild is None:
            raise unknown("Guild", 10004)
        user_id = request.match_info["user_id"]
        member = guild.members.get(int(user_id)) if user_id.isdigit() else None
        if member is None:
            raise unknown("Member", 10007)
        return guild, member

    async def _get_member(self, request: web.Request, body: Any) -> web.Response:
        _, member = self._member(request)
        return json_response(member.payload())

    async def _change_role(self, request: web.Request, *, add: bool) -> web.Response:
        guild, member = self._member(request)
        role_id = request.match_info["role_id"]
        role = guild.roles.get(int(role_id)) if role_id.isdigit() else None
        if role is None:
            raise unknown("Role", 10011)
        if not guild.bot_can_manage_roles:
            raise DiscordError(*MISSING_PERMISSIONS)
        if role.managed or role.position >= guild.bot_role_position or role.id == guild.id:
            raise DiscordError(*MISSING_PERMISSIONS)
        if add:
            member.roles.add(role.id)
        else:
            member.roles.discard(role.id)
        self.role_changes.append(
            RoleChange(guild.id, member.user.id, role.id, add, request.headers.get("X-Audit-Log-Reason"), time.monotonic())
        )
        self._notify()
        return web.Response(status=204)

    async def _add_role(self, request: web.Request, body: Any) -> web.Response:
        return await self._change_role(request, add=True)

    async def _remove_role(self, request: web.Request, body: Any) -> web.Response:
        return await self._change_role(request, add=False)

    # ------------------------------------------------------------ gateway payloads

    def _ready_payload(self, session: GatewaySession, resume_url: str) -> dict[str, Any]:
        return {
            "v": 10,
            "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": resume_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "presences": [],
            "relationships": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": ["local"],
            "_trace": ["fake-gateway"],
        }

    # ------------------------------------------------------------ interaction payloads

    def _member_in(self, guild_id: int, user: FakeUser, roles: Sequence[int] | None) -> FakeMember:
        guild = self.guilds[guild_id]
        member = guild.members.get(user.id)
        if member is None:
            member = guild.members[user.id] = FakeMember(user)
        if roles is not None:
            member.roles = set(roles)
        return member

    def _base_interaction(
        self,
        kind: int,
        *,
        user: FakeUser,
        roles: Sequence[int] | None,
        guild_id: int,
        channel_id: int,
        app_permissions: int,
    ) -> dict[str, Any]:
        member = self._member_in(guild_id, user, roles)
        channel = self.guilds[guild_id].channels.get(channel_id) or FakeChannel(channel_id, "unknown", guild_id)
        interaction_id = snowflake()
        return {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "guild_id": str(guild_id),
            "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
            "channel_id": str(channel_id),
            "channel": {**channel.payload(self.bot.id), "permissions": str(MEMBER_PERMISSIONS)},
            "member": member.payload(permissions=MEMBER_PERMISSIONS),
            "token": f"aW50ZXJhY3Rpb246{interaction_id}:{hashlib.sha1(str(interaction_id).encode()).hexdigest()}",
            "version": 1,
            "app_permissions": str(app_permissions),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild_id)},
            "context": 0,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }

    def _find_command(self, name: str, guild_id: int) -> dict[str, Any] | None:
        for command in [*self.guild_commands.get(guild_id, []), *self.global_commands]:
            if command["name"] == name and command["type"] == 1:
                return command
        return None

    def slash_command(
        self,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: FakeUser = ALICE,
        roles: Sequence[int] | None = None,
        guild_id: int = GUILD_ID,
        channel_id: int = GENERAL,
        app_permissions: int = BOT_PERMISSIONS,
    ) -> dict[str, Any]:
        """An APPLICATION_COMMAND interaction for ``command`` ("testnet incident ack").

        ``options`` go to the innermost subcommand; their types come from the synced schema
        when the command was synced, else from the Python values (str, int, bool, float).
        ``roles`` replaces the member's role ids (None keeps the guild's record).
        """
        path = command.split()
        payload = self._base_interaction(
            2, user=user, roles=roles, guild_id=guild_id, channel_id=channel_id, app_permissions=app_permissions
        )
        schema = self._find_command(path[0], guild_id)
        level_schema: list[dict[str, Any]] = schema["options"] if schema else []
        nested: list[dict[str, Any]] = []
        holder = nested
        for name in path[1:]:
            spec = next((o for o in level_schema if o.get("name") == name), None)
            kind = spec["type"] if spec else (limits.SUB_COMMAND if name == path[-1] else limits.SUB_COMMAND_GROUP)
            node: dict[str, Any] = {"type": kind, "name": name, "options": []}
            holder.append(node)
            holder = node["options"]
            level_schema = spec.get("options", []) if spec else []
        for name, value in (options or {}).items():
            spec = next((o for o in level_schema if o.get("name") == name), None)
            holder.append({"type": spec["type"] if spec else _option_type(value), "name": name, "value": value})
        data: dict[str, Any] = {
            "id": schema["id"] if schema else str(snowflake()),
            "name": path[0],
            "type": 1,
            "options": nested,
        }
        if schema and schema.get("guild_id"):
            data["guild_id"] = schema["guild_id"]
        payload["data"] = data
        return payload

    def button_click(
        self,
        custom_id: str,
        *,
        message_id: int | None = None,
        user: FakeUser = ALICE,
        roles: Sequence[int] | None = None,
        guild_id: int = GUILD_ID,
        channel_id: int = GENERAL,
        app_permissions: int = BOT_PERMISSIONS,
    ) -> dict[str, Any]:
        """A MESSAGE_COMPONENT interaction: a click on the button ``custom_id``.

        ``message_id`` names the message the button is on (one the fake holds); without it,
        a message carrying that button is made up (as after a restart, for persistent views).
        """
        payload = self._base_interaction(
            3, user=user, roles=roles, guild_id=guild_id, channel_id=channel_id, app_permissions=app_permissions
        )
        message = self.messages_by_id.get(message_id) if message_id is not None else None
        if message is None:
            message = FakeMessage(id=message_id or snowflake(), channel_id=channel_id, guild_id=guild_id, author=self.bot)
            message.apply(
                {
                    "content": "",
                    "components": [{"type": 1, "components": [{"type": 2, "style": 1, "label": "Go", "custom_id": custom_id}]}],
                },
                edit=False,
            )
            self.messages_by_id[message.id] = message
        payload["message"] = message.payload()
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        return payload

    def register_interaction(self, payload: dict[str, Any]) -> InteractionRecord:
        """Know the interaction (its 3-second window starts now) without dispatching it.

        Registering the same payload again returns the first record (a redelivery).
        """
        record = InteractionRecord(
            id=int(payload["id"]),
            token=payload["token"],
            type=int(payload["type"]),
            payload=payload,
            created_at=self.clock(),
        )
        return self.interactions.setdefault(record.id, record)

    async def dispatch_interaction(self, payload: dict[str, Any]) -> InteractionRecord:
        """Register the interaction and send it as INTERACTION_CREATE in the current session."""
        record = self.register_interaction(payload)
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return record

    # ------------------------------------------------------------ what tests read

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """The synced commands of a guild (or the global ones), as Discord stores them."""
        return list(self.global_commands if guild_id is None else self.guild_commands.get(guild_id, []))

    def command_names(self, guild_id: int | None = None) -> list[str]:
        """The names of the synced commands of a scope."""
        return [c["name"] for c in self.commands(guild_id)]

    def messages(self, channel_id: int) -> list[FakeMessage]:
        """Messages in a channel (or thread), oldest first, deleted ones left out."""
        return [m for m in self.messages_by_id.values() if m.channel_id == channel_id and not m.deleted]

    def member(self, user_id: int, guild_id: int = GUILD_ID) -> FakeMember:
        """A member of a guild."""
        return self.guilds[guild_id].members[user_id]

    def requests(self, route: str | None = None) -> list[LoggedRequest]:
        """Every REST request, oldest first; only those of ``route`` (a template) if given."""
        return [r for r in self._log if route is None or r.route == route]

    def _notify(self) -> None:
        self._changed.set()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("Discord fake condition not met in time")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))


class _RateLimited(Exception):
    def __init__(self, response: web.Response, early: bool = False) -> None:
        super().__init__("rate limited")
        self.response = response
        self.early = early


def _json_object(value: Any, *, key: str | None = None) -> dict[str, Any]:
    """A JSON body (or part of one) that must be an object; None counts as empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        error = {"_errors": [{"code": "MODEL_TYPE_CONVERT", "message": "Only dictionaries may be used in a ModelType"}]}
        raise _invalid_form({key: error} if key else error)
    return value


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return limits.BOOLEAN
    if isinstance(value, int):
        return limits.INTEGER
    if isinstance(value, float):
        return limits.NUMBER
    return limits.STRING


@contextlib.asynccontextmanager
async def running_fake(**kwargs: Any) -> AsyncIterator[DiscordFake]:
    """A started fake, pointed at by discord.py, for the block."""
    async with DiscordFake(**kwargs) as fake:
        with fake.pointed_at():
            yield fake
