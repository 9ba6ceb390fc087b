"""An HTTP-level fake of the parts of Slack the bot uses: Web API, response URLs, Socket Mode.

It serves Slack's paths and JSON shapes on 127.0.0.1 so the real ``AsyncWebClient``,
``AsyncWebhookClient`` (bolt's ``respond``) and socket-mode ``SocketModeClient`` run
against it unchanged::

    async with SlackFake(bot_token="xoxb-test", app_token="xapp-test") as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        posted = await client.chat_postMessage(channel=DEPLOYS, text="deploying v0.62.0")
        await client.chat_update(channel=DEPLOYS, ts=posted["ts"], text="deployed v0.62.0")
        [message] = slack.messages(DEPLOYS)
        assert [r.text for r in message.revisions] == ["deploying v0.62.0", "deployed v0.62.0"]

Web API methods (``POST``/``GET /api/<method>``): ``auth.test``, ``chat.postMessage``,
``chat.update``, ``chat.postEphemeral``, ``chat.getPermalink``, ``conversations.info``,
``usergroups.users.list``, ``users.info`` and ``apps.connections.open``. Arguments are read
from the query string, a form-encoded body, or (for the ``chat.*`` write methods only, as
Slack does) a JSON body; the token from ``Authorization: Bearer`` or a ``token`` argument.
Errors are Slack's: HTTP 200 with ``{"ok": false, "error": ...}`` (``not_authed``,
``invalid_auth``, ``token_revoked``, ``not_allowed_token_type``, ``missing_scope`` with
``needed``/``provided``, ``channel_not_found``, ``message_not_found``, ...).

Messages are held to Slack's limits: blocks are validated as Block Kit does (at most 50
blocks, a section's text at most 3,000 characters, ... → ``invalid_blocks`` with
Slack's ``errors`` list), blocks holding more than 12,000 characters of text in all are
refused with ``msg_blocks_too_long``, and a ``text`` over 40,000 characters is cut
there with a ``message_truncated`` warning. ``users.info`` answers like Slack: the
handle in ``name``, the chosen ``profile.display_name`` (often empty) and the
``real_name``.

Faults are queued per method with :meth:`SlackFake.fail_next` (HTTP 429 + ``Retry-After``,
5xx, ``ok: false`` errors, slow answers). Every request is logged with its arrival time
(:meth:`SlackFake.calls`), and :meth:`SlackFake.wait_until` waits on a condition with a
deadline instead of sleeping.

Response URLs minted by :meth:`SlackFake.response_url` live on the fake (``POST
/response/<key>``); what is posted to them is recorded and applied: ephemeral replies,
``in_channel`` posts, ``replace_original`` and ``delete_original`` on the stored message.

Socket Mode: ``apps.connections.open`` (app token only) returns a ``ws://`` URL with a
single-use ticket; the fake greets each connection with ``hello``, lets the test push
envelopes (:meth:`SlackFake.socket_send_slash_command`,
:meth:`SlackFake.socket_send_block_action`), records the client's acks
(:meth:`SlackFake.wait_for_ack`), and can ask the client to reconnect
(:meth:`SlackFake.socket_disconnect`) or drop the connection (:meth:`SlackFake.socket_drop`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

TEAM_ID = "T0TESTNET"
TEAM_DOMAIN = "testnet"
APP_ID = "A0TESTBOT"
BOT_USER_ID = "U0TESTBOT"
BOT_ID = "B0TESTBOT"
DEPLOYS = "C0DEPLOYS"
INCIDENTS = "C0INCIDNT"
ALICE = "U0ALICE"
BOB = "U0BOB"

DEFAULT_SCOPES = frozenset(
    {"chat:write", "commands", "channels:read", "groups:read", "usergroups:read", "users:read"}
)
# The scope each method needs with a bot token; None: any valid token will do.
METHOD_SCOPES: Mapping[str, str | None] = {
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.getPermalink": None,
    "conversations.info": "channels:read",
    "usergroups.users.list": "usergroups:read",
    "users.info": "users:read",
}
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
JSON_BODY_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})
STRUCTURED_ARGS = ("blocks", "attachments", "metadata")
# Slack's message limits (Block Kit reference; the text limit from Slack's changelog
# "Truncating really long messages"; the block-text total is what Slack is seen to
# refuse with msg_blocks_too_long).
MESSAGE_BLOCKS_MAX = 50
SECTION_TEXT_LIMIT = 3000
SECTION_FIELDS_MAX = 10
FIELD_TEXT_LIMIT = 2000
HEADER_TEXT_LIMIT = 150
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
BLOCKS_TEXT_LIMIT = 12_000
TEXT_LIMIT = 40_000
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_LIFETIME = 30 * 60.0
SERVER_ERROR_PAGE = "<html><body><h1>Slack is having trouble</h1></body></html>"

ApiHandler = Callable[["_Call"], Awaitable[dict[str, Any]]]


# ---------------------------------------------------------------- records the tests read


@dataclass(frozen=True)
class LoggedCall:
    """One Web API request as the fake saw it.

    ``params`` are the decoded arguments (query, form or JSON; structured form fields such
    as ``blocks`` already parsed), ``encoding`` says how the body came (``"json"``,
    ``"form"`` or ``"query"``), ``error`` is Slack's error code or None when ``ok``.
    """

    method: str
    received_at: float  # time.monotonic()
    params: Mapping[str, Any]
    encoding: str
    token: str | None
    status: int
    error: str | None
    fault: bool


@dataclass(frozen=True)
class Revision:
    """One version of a message: as posted, or after an edit."""

    text: str
    blocks: list[dict[str, Any]] | None
    attachments: list[dict[str, Any]] | None
    via: str  # "chat.postMessage", "chat.update" or "response_url"
    at: float  # time.monotonic()


@dataclass
class FakeMessage:
    """A message stored in a channel; ``revisions[0]`` is what was posted."""

    channel: str
    ts: str
    user: str
    thread_ts: str | None
    revisions: list[Revision]
    metadata: dict[str, Any] | None = None
    deleted: bool = False

    @property
    def text(self) -> str:
        """The current text."""
        return self.revisions[-1].text

    @property
    def blocks(self) -> list[dict[str, Any]] | None:
        """The current blocks."""
        return self.revisions[-1].blocks

    @property
    def edits(self) -> int:
        """How many times the message was edited in place."""
        return len(self.revisions) - 1

    def to_json(self, team_id: str, bot_id: str) -> dict[str, Any]:
        """The message as the Web API returns it."""
        body: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "bot_id": bot_id,
            "text": self.text,
            "ts": self.ts,
            "team": team_id,
        }
        if self.blocks is not None:
            body["blocks"] = self.blocks
        if self.revisions[-1].attachments is not None:
            body["attachments"] = self.revisions[-1].attachments
        if self.thread_ts is not None:
            body["thread_ts"] = self.thread_ts
        if self.metadata is not None:
            body["metadata"] = self.metadata
        if self.edits:
            body["edited"] = {"user": self.user, "ts": self.ts}
        return body


@dataclass(frozen=True)
class FakeEphemeral:
    """An ephemeral message: only ``user`` sees it, Slack keeps no copy."""

    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None
    via: str  # "chat.postEphemeral" or "response_url"
    at: float


@dataclass(frozen=True)
class ResponseUrlPost:
    """One POST to a response URL and how the fake answered it."""

    url: str
    body: Mapping[str, Any]
    received_at: float
    status: int
    outcome: str  # "ephemeral", "in_channel", "replaced", "deleted" or the error text


@dataclass
class _ResponseUrl:
    url: str
    channel_id: str
    user_id: str
    message_ts: str | None
    created_at: float
    uses: int = 0
    expired: bool = False


@dataclass(frozen=True)
class SocketAck:
    """What a Socket Mode client sent back for an envelope."""

    envelope_id: str
    payload: Mapping[str, Any] | None
    received_at: float
    connection: int  # 1 for the first connection the fake accepted, 2 for the next, ...


@dataclass
class FakeChannel:
    """A conversation; ``members`` None means everyone is in it."""

    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    bot_is_member: bool = True
    members: set[str] | None = None


@dataclass
class FakeUser:
    """A workspace member."""

    id: str
    name: str
    real_name: str = ""
    is_bot: bool = False
    deleted: bool = False
    display_name: str = ""  # what the person chose to be called; often left empty


@dataclass(frozen=True)
class SlackFault:
    """What the fake does instead of serving one Web API call.

    ``status`` 429 answers ``{"ok": false, "error": "ratelimited"}`` with ``Retry-After``;
    another 4xx/5xx answers an HTML error page; 200 with ``error`` answers
    ``{"ok": false, "error": error}``. ``status=None`` only delays by ``delay`` seconds.
    """

    status: int | None = None
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0


@dataclass
class _FaultRule:
    fault: SlackFault
    remaining: int


class SlackApiFailure(Exception):
    """An ``ok: false`` answer of a Web API method, with Slack's extra fields."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class _Call:
    method: str
    params: dict[str, Any]
    token: str


# ---------------------------------------------------------------- the fake


class SlackFake:
    """An aiohttp server on 127.0.0.1 that behaves like Slack for one workspace and one app.

    Use it as an async context manager; hand :attr:`api_url` to ``AsyncWebClient(base_url=)``.
    It starts with two channels (:data:`DEPLOYS` ``#deploys`` and :data:`INCIDENTS`
    ``#incidents``) and two users (:data:`ALICE`, :data:`BOB`); add more with
    :meth:`add_channel`, :meth:`add_user` and :meth:`set_usergroup`.
    """

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        team_id: str = TEAM_ID,
        team_domain: str = TEAM_DOMAIN,
        app_id: str = APP_ID,
        bot_user_id: str = BOT_USER_ID,
        bot_id: str = BOT_ID,
        scopes: frozenset[str] = DEFAULT_SCOPES,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.team_domain = team_domain
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.scopes: set[str] = set(scopes)
        self.revoked_tokens: set[str] = set()
        self.channels: dict[str, FakeChannel] = {}
        self.users: dict[str, FakeUser] = {}
        self.usergroups: dict[str, set[str]] = {}
        self.requests: list[LoggedCall] = []
        self.ephemerals: list[FakeEphemeral] = []
        self.response_posts: list[ResponseUrlPost] = []
        self.acks: list[SocketAck] = []
        self.envelopes_sent: list[dict[str, Any]] = []
        self.socket_connections_opened = 0
        self._messages: dict[str, list[FakeMessage]] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._faults: dict[str, list[_FaultRule]] = {}
        self._tickets: set[str] = set()
        self._sockets: list[tuple[int, web.WebSocketResponse]] = []
        self._ts_counter = itertools.count(1)
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, ApiHandler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.info": self._conversations_info,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
            "apps.connections.open": self._apps_connections_open,
        }
        self.base_url = ""
        self.api_url = ""
        self.add_channel(DEPLOYS, "deploys")
        self.add_channel(INCIDENTS, "incidents")
        self.add_user(ALICE, "alice", real_name="Alice Release", display_name="Alice R")
        self.add_user(BOB, "bob", real_name="Bob Builder")  # no display name set
        self.add_user(bot_user_id, "testnet-bot", is_bot=True)

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> SlackFake:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response)
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        self.api_url = f"{self.base_url}/api/"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing.set()
        for _, ws in list(self._sockets):
            await ws.close(code=1001, message=b"fake shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------ workspace set-up

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        is_archived: bool = False,
        bot_is_member: bool = True,
        members: set[str] | None = None,
    ) -> FakeChannel:
        """Create (or replace) a conversation the bot can be asked about or post to."""
        channel = FakeChannel(channel_id, name, is_private, is_archived, bot_is_member, members)
        self.channels[channel_id] = channel
        self._messages.setdefault(channel_id, [])
        return channel

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str = "",
        display_name: str = "",
        is_bot: bool = False,
    ) -> FakeUser:
        """Create (or replace) a workspace member: ``name`` is the login handle,
        ``display_name`` may be empty (as for many people who never set one)."""
        user = FakeUser(user_id, name, real_name or name, is_bot, display_name=display_name)
        self.users[user_id] = user
        return user

    def set_usergroup(self, usergroup_id: str, members: set[str]) -> None:
        """Set the members ``usergroups.users.list`` returns for ``usergroup_id`` (S...)."""
        self.usergroups[usergroup_id] = set(members)

    def revoke(self, token: str) -> None:
        """Make every later call with ``token`` fail with ``token_revoked``."""
        self.revoked_tokens.add(token)

    # ------------------------------------------------------------ faults and waiting

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (after the token was checked).

        ``status=429`` answers ``ratelimited`` with ``Retry-After: retry_after`` (1 when not
        given); a 5xx answers an HTML page; ``error`` alone answers HTTP 200 with
        ``{"ok": false, "error": error}``; ``delay`` alone only slows the call down.
        """
        if status is None and error is None and not delay:
            raise ValueError("fail_next needs a status, an error or a delay")
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = SlackFault(status=status, error=error, retry_after=retry_after, delay=delay)
        self._faults.setdefault(method, []).append(_FaultRule(fault, times))

    def calls(self, method: str | None = None) -> list[LoggedCall]:
        """The logged Web API calls of ``method`` (all when None), in arrival order."""
        return [c for c in self.requests if method is None or c.method == method]

    def count(self, method: str | None = None) -> int:
        """How many Web API calls of ``method`` (all when None) the fake has answered."""
        return len(self.calls(method))

    async def wait_until(self, condition: Callable[[], bool], *, within: float = 5.0) -> None:
        """Return once ``condition()`` holds, re-checking whenever the fake's state changes.

        Raises TimeoutError if it does not hold within ``within`` seconds.
        """
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(condition)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------ stored conversation

    def messages(self, channel: str, *, thread_ts: str | None = None) -> list[FakeMessage]:
        """Messages in ``channel`` in posting order, deleted ones included (``.deleted``).

        With ``thread_ts``, only the replies in that thread.
        """
        stored = self._messages.get(channel, [])
        if thread_ts is None:
            return list(stored)
        return [m for m in stored if m.thread_ts == thread_ts and m.ts != thread_ts]

    def message(self, channel: str, ts: str) -> FakeMessage:
        """The stored message ``ts`` in ``channel``; KeyError when there is none."""
        for stored in self._messages.get(channel, []):
            if stored.ts == ts:
                return stored
        raise KeyError(f"no message {ts} in {channel}")

    def post_message(self, channel: str, text: str, *, user: str = ALICE) -> FakeMessage:
        """Put a message into ``channel`` as if ``user`` had typed it (for thread tests)."""
        return self._store_message(channel, user, text, None, None, None, None, "test")

    def _store_message(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        attachments: list[dict[str, Any]] | None,
        thread_ts: str | None,
        metadata: dict[str, Any] | None,
        via: str,
    ) -> FakeMessage:
        revision = Revision(text, blocks, attachments, via, time.monotonic())
        stored = FakeMessage(channel, self._next_ts(), user, thread_ts, [revision], metadata)
        self._messages.setdefault(channel, []).append(stored)
        return stored

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts_counter):06d}"

    # ------------------------------------------------------------ payload builders

    def response_url(
        self, *, channel_id: str = DEPLOYS, user_id: str = ALICE, message_ts: str | None = None
    ) -> str:
        """Mint a response URL on the fake, as Slack does for one command or interaction.

        With ``message_ts`` (block actions), ``replace_original``/``delete_original`` act on
        that message. A URL accepts :data:`RESPONSE_URL_MAX_USES` posts.
        """
        key = f"{self.team_id}/{next(self._ids)}/{uuid.uuid4().hex[:24]}"
        url = f"{self.base_url}/response/{key.replace('/', '-')}"
        self._response_urls[url] = _ResponseUrl(
            url, channel_id, user_id, message_ts, time.monotonic()
        )
        return url

    def expire_response_url(self, url: str) -> None:
        """Age ``url`` past Slack's 30-minute lifetime."""
        self._response_urls[url].expired = True

    def responses(self, url: str | None = None) -> list[ResponseUrlPost]:
        """Posts to response URLs (to ``url`` only when given), in arrival order."""
        return [p for p in self.response_posts if url is None or p.url == url]

    def slash_command(
        self,
        text: str,
        *,
        command: str = "/testnet",
        user_id: str = ALICE,
        channel_id: str = DEPLOYS,
    ) -> dict[str, str]:
        """The form fields Slack posts for ``/command text``, with a fresh response URL."""
        user = self.users.get(user_id)
        channel = self.channels.get(channel_id)
        return {
            "token": "verification-token-unused",
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel.name if channel else "privategroup",
            "user_id": user_id,
            "user_name": user.name if user else user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self.response_url(channel_id=channel_id, user_id=user_id),
            "trigger_id": self._trigger_id(),
        }

    def block_action(
        self,
        action_id: str,
        *,
        value: str = "",
        block_id: str = "confirm",
        user_id: str = ALICE,
        channel_id: str = DEPLOYS,
        message_ts: str | None = None,
    ) -> dict[str, Any]:
        """A ``block_actions`` payload for a button click on message ``message_ts``.

        The message is taken from the fake's store when it has it (so its blocks are the
        ones the bot posted); the response URL is minted for that message.
        """
        user = self.users.get(user_id)
        channel = self.channels.get(channel_id)
        ts = message_ts or self._next_ts()
        try:
            message = self.message(channel_id, ts).to_json(self.team_id, self.bot_id)
        except KeyError:
            message = {"type": "message", "user": self.bot_user_id, "text": "", "ts": ts}
        action_ts = f"{time.time():.6f}"
        return {
            "type": "block_actions",
            "user": {
                "id": user_id,
                "username": user.name if user else user_id.lower(),
                "name": user.name if user else user_id.lower(),
                "team_id": self.team_id,
            },
            "api_app_id": self.app_id,
            "token": "verification-token-unused",
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_id,
                "is_ephemeral": False,
            },
            "trigger_id": self._trigger_id(),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": channel.name if channel else "privategroup"},
            "message": message,
            "state": {"values": {}},
            "response_url": self.response_url(
                channel_id=channel_id, user_id=user_id, message_ts=ts
            ),
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": {"type": "plain_text", "text": action_id, "emoji": True},
                    "value": value,
                    "action_ts": action_ts,
                }
            ],
        }

    def _trigger_id(self) -> str:
        return f"{next(self._ids)}.{int(time.time())}.{uuid.uuid4().hex}"

    # ------------------------------------------------------------ Socket Mode controls

    @property
    def socket_connections(self) -> int:
        """How many Socket Mode connections are open now."""
        return sum(1 for _, ws in self._sockets if not ws.closed)

    async def wait_for_socket(self, *, opened: int = 1, within: float = 5.0) -> None:
        """Wait until ``opened`` connections have been accepted and one is open."""
        await self.wait_until(
            lambda: self.socket_connections_opened >= opened and self.socket_connections > 0,
            within=within,
        )

    async def socket_send(self, envelope: Mapping[str, Any]) -> None:
        """Send a raw message to the newest open Socket Mode connection."""
        open_sockets = [ws for _, ws in self._sockets if not ws.closed]
        if not open_sockets:
            raise RuntimeError("no Socket Mode connection is open")
        self.envelopes_sent.append(dict(envelope))
        await open_sockets[-1].send_json(dict(envelope))

    async def socket_send_slash_command(self, text: str, **fields: Any) -> str:
        """Push a ``slash_commands`` envelope (fields as :meth:`slash_command`); its id."""
        envelope_id = str(uuid.uuid4())
        payload = self.slash_command(text, **fields)
        await self.socket_send(
            {
                "envelope_id": envelope_id,
                "type": "slash_commands",
                "payload": payload,
                "accepts_response_payload": True,
            }
        )
        return envelope_id

    async def socket_send_block_action(self, action_id: str, **fields: Any) -> str:
        """Push an ``interactive`` block_actions envelope (as :meth:`block_action`); its id."""
        envelope_id = str(uuid.uuid4())
        payload = self.block_action(action_id, **fields)
        await self.socket_send(
            {
                "envelope_id": envelope_id,
                "type": "interactive",
                "payload": payload,
                "accepts_response_payload": False,
            }
        )
        return envelope_id

    async def wait_for_ack(self, envelope_id: str, *, within: float = 5.0) -> SocketAck:
        """The client's ack of ``envelope_id``, waiting up to ``within`` seconds for it."""
        await self.wait_until(
            lambda: any(a.envelope_id == envelope_id for a in self.acks), within=within
        )
        return next(a for a in self.acks if a.envelope_id == envelope_id)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Tell the newest connection to reconnect, as Slack does before it recycles one.

        The client is expected to open a new connection and close this one itself.
        """
        await self.socket_send(
            {
                "type": "disconnect",
                "reason": reason,
                "debug_info": {"host": "applink-fake-1"},
            }
        )

    async def socket_drop(self) -> None:
        """Close the newest connection from the server side without warning."""
        open_sockets = [ws for _, ws in self._sockets if not ws.closed]
        if not open_sockets:
            raise RuntimeError("no Socket Mode connection is open")
        await open_sockets[-1].close(code=1001, message=b"going away")

    # ------------------------------------------------------------ HTTP: Web API

    async def _api(self, request: web.Request) -> web.Response:
        received_at = time.monotonic()
        method = request.match_info["method"]
        params, encoding = await _read_params(request, method)
        token = _bearer(request) or params.pop("token", None)
        fault: SlackFault | None = None
        try:
            self._check_token(method, token)
            fault = self._take_fault(method)
            if fault is not None and fault.delay:
                await self._pause(fault.delay)
            if fault is not None and fault.status not in (None, 200):
                response, error = _fault_response(fault)
            else:
                if fault is not None and fault.error is not None:
                    raise SlackApiFailure(fault.error)
                response, error = await self._serve(method, params, str(token)), None
        except SlackApiFailure as failure:
            body = {"ok": False, "error": failure.error, **failure.extra}
            response, error = self._json(method, body), failure.error
        self.requests.append(
            LoggedCall(
                method,
                received_at,
                params,
                encoding,
                token,
                response.status,
                error,
                fault is not None,
            )
        )
        await self._notify()
        return response

    async def _serve(self, method: str, params: dict[str, Any], token: str) -> web.Response:
        self._check_scope(method)
        handler = self._handlers.get(method)
        if handler is None:
            raise SlackApiFailure("unknown_method", req_method=method)
        body = {"ok": True, **await handler(_Call(method, params, token))}
        return self._json(method, body)

    def _json(self, method: str, body: dict[str, Any]) -> web.Response:
        headers = {"x-oauth-scopes": ",".join(sorted(self.scopes))}
        needed = METHOD_SCOPES.get(method)
        if needed:
            headers["x-accepted-oauth-scopes"] = needed
        return web.json_response(body, headers=headers)

    def _check_token(self, method: str, token: str | None) -> None:
        if not token:
            raise SlackApiFailure("not_authed")
        if token in self.revoked_tokens:
            raise SlackApiFailure("token_revoked")
        if token not in {self.bot_token, self.app_token}:
            raise SlackApiFailure("invalid_auth")
        wants_app_token = method in APP_TOKEN_METHODS
        if (token == self.app_token) != wants_app_token:
            raise SlackApiFailure("not_allowed_token_type")

    def _check_scope(self, method: str) -> None:
        needed = METHOD_SCOPES.get(method)
        if needed is not None and needed not in self.scopes:
            raise SlackApiFailure(
                "missing_scope", needed=needed, provided=",".join(sorted(self.scopes))
            )

    def _take_fault(self, method: str) -> SlackFault | None:
        for rule in self._faults.get(method, []):
            if rule.remaining > 0:
                rule.remaining -= 1
                return rule.fault
        return None

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return

    # ------------------------------------------------------------ Web API methods

    def _channel(self, params: Mapping[str, Any], key: str = "channel") -> FakeChannel:
        wanted = str(params.get(key) or "")
        if not wanted:
            raise SlackApiFailure("channel_not_found")
        if wanted in self.channels:
            return self.channels[wanted]
        name = wanted.removeprefix("#")
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise SlackApiFailure("channel_not_found")

    async def _auth_test(self, call: _Call) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_domain.title(),
            "user": "testnet-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    async def _chat_post_message(self, call: _Call) -> dict[str, Any]:
        channel = self._writable_channel(call.params)
        text, blocks, attachments = _content(call.params)
        thread_ts = call.params.get("thread_ts") or None
        if thread_ts is not None:
            parent = self._find(channel.id, str(thread_ts), "thread_not_found")
            thread_ts = parent.thread_ts or parent.ts
        stored = self._store_message(
            channel.id,
            self.bot_user_id,
            text,
            blocks,
            attachments,
            thread_ts,
            call.params.get("metadata"),
            call.method,
        )
        if thread_ts is not None:
            self.message(channel.id, thread_ts).thread_ts = thread_ts
        return {
            "channel": channel.id,
            "ts": stored.ts,
            "message": stored.to_json(self.team_id, self.bot_id),
            **_truncation(call.params),
        }

    async def _chat_update(self, call: _Call) -> dict[str, Any]:
        channel = self._channel(call.params)
        stored = self._find(channel.id, str(call.params.get("ts") or ""), "message_not_found")
        if stored.user != self.bot_user_id:
            raise SlackApiFailure("cant_update_message")
        text, blocks, attachments = _content(call.params, allow_empty="blocks" in call.params)
        revision = Revision(
            text,
            blocks if "blocks" in call.params else stored.blocks,
            attachments,
            call.method,
            time.monotonic(),
        )
        stored.revisions.append(revision)
        return {
            "channel": channel.id,
            "ts": stored.ts,
            "text": stored.text,
            "message": stored.to_json(self.team_id, self.bot_id),
            **_truncation(call.params),
        }

    async def _chat_post_ephemeral(self, call: _Call) -> dict[str, Any]:
        channel = self._writable_channel(call.params)
        user = str(call.params.get("user") or "")
        if user not in self.users:
            raise SlackApiFailure("user_not_found")
        if channel.members is not None and user not in channel.members:
            raise SlackApiFailure("user_not_in_channel")
        text, blocks, _ = _content(call.params)
        thread_ts = call.params.get("thread_ts") or None
        self.ephemerals.append(
            FakeEphemeral(channel.id, user, text, blocks, thread_ts, call.method, time.monotonic())
        )
        return {"message_ts": self._next_ts()}

    async def _chat_get_permalink(self, call: _Call) -> dict[str, Any]:
        channel = self._channel(call.params)
        stored = self._find(
            channel.id, str(call.params.get("message_ts") or ""), "message_not_found"
        )
        permalink = (
            f"https://{self.team_domain}.slack.com/archives/{channel.id}/"
            f"p{stored.ts.replace('.', '')}"
        )
        if stored.thread_ts is not None and stored.thread_ts != stored.ts:
            permalink += f"?thread_ts={stored.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": permalink}

    async def _conversations_info(self, call: _Call) -> dict[str, Any]:
        channel = self._channel(call.params)
        if channel.is_private and not channel.bot_is_member:
            raise SlackApiFailure("channel_not_found")
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": not channel.is_private,
                "is_group": False,
                "is_im": False,
                "is_private": channel.is_private,
                "is_archived": channel.is_archived,
                "is_member": channel.bot_is_member,
                "created": 1_700_000_000,
                "creator": ALICE,
                "name_normalized": channel.name,
                "context_team_id": self.team_id,
            }
        }

    async def _usergroups_users_list(self, call: _Call) -> dict[str, Any]:
        usergroup = str(call.params.get("usergroup") or "")
        if usergroup not in self.usergroups:
            raise SlackApiFailure("no_such_subteam")
        return {"users": sorted(self.usergroups[usergroup])}

    async def _users_info(self, call: _Call) -> dict[str, Any]:
        user = self.users.get(str(call.params.get("user") or ""))
        if user is None:
            raise SlackApiFailure("user_not_found")
        return {
            "user": {
                "id": user.id,
                "team_id": self.team_id,
                "name": user.name,
                "real_name": user.real_name,
                "deleted": user.deleted,
                "is_bot": user.is_bot,
                "is_admin": False,
                "tz": "Etc/UTC",
                "profile": {
                    "real_name": user.real_name,
                    "real_name_normalized": user.real_name,
                    "display_name": user.display_name,
                    "display_name_normalized": user.display_name,
                    "team": self.team_id,
                },
            }
        }

    async def _apps_connections_open(self, call: _Call) -> dict[str, Any]:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        ws_base = self.base_url.replace("http://", "ws://", 1)
        return {"url": f"{ws_base}/link/?ticket={ticket}&app_id={self.app_id}"}

    def _writable_channel(self, params: Mapping[str, Any]) -> FakeChannel:
        channel = self._channel(params)
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        if not channel.bot_is_member:
            raise SlackApiFailure("not_in_channel")
        return channel

    def _find(self, channel: str, ts: str, error: str) -> FakeMessage:
        try:
            stored = self.message(channel, ts)
        except KeyError:
            raise SlackApiFailure(error) from None
        if stored.deleted:
            raise SlackApiFailure(error)
        return stored

    # ------------------------------------------------------------ HTTP: response URLs

    async def _response(self, request: web.Request) -> web.Response:
        received_at = time.monotonic()
        url = f"{self.base_url}{request.rel_url.raw_path}"
        raw = await request.read()
        try:
            decoded = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            decoded = None
        if isinstance(decoded, dict):
            body: dict[str, Any] = decoded
            status, outcome = self._apply_response(url, body)
        else:
            body, status, outcome = {}, 400, "invalid_payload"
        self.response_posts.append(ResponseUrlPost(url, body, received_at, status, outcome))
        await self._notify()
        text = "ok" if status == 200 else outcome
        return web.Response(status=status, text=text, content_type="text/html")

    def _apply_response(self, url: str, body: Mapping[str, Any]) -> tuple[int, str]:
        minted = self._response_urls.get(url)
        if minted is None or minted.expired:
            return 404, "expired_url"
        age = time.monotonic() - minted.created_at
        if age > RESPONSE_URL_LIFETIME:
            return 404, "expired_url"
        if minted.uses >= RESPONSE_URL_MAX_USES:
            return 404, "used_url"
        minted.uses += 1
        target = None
        if minted.message_ts is not None:
            target = next(
                (m for m in self._messages.get(minted.channel_id, []) if m.ts == minted.message_ts),
                None,
            )
        if body.get("delete_original"):
            if target is None:
                return 404, "message_not_found"
            target.deleted = True
            return 200, "deleted"
        text = str(body.get("text") or "")
        blocks = body.get("blocks")
        if not text and not blocks:
            return 400, "no_text"
        if blocks is not None and (not isinstance(blocks, list) or block_errors(blocks)):
            return 400, "invalid_blocks"
        text = text[:TEXT_LIMIT]
        if body.get("replace_original") and target is not None:
            revision = Revision(
                text, blocks, body.get("attachments"), "response_url", time.monotonic()
            )
            target.revisions.append(revision)
            return 200, "replaced"
        thread_ts = body.get("thread_ts")
        if body.get("response_type") == "in_channel":
            self._store_message(
                minted.channel_id,
                self.bot_user_id,
                text,
                blocks,
                body.get("attachments"),
                thread_ts,
                None,
                "response_url",
            )
            return 200, "in_channel"
        self.ephemerals.append(
            FakeEphemeral(
                minted.channel_id,
                minted.user_id,
                text,
                blocks,
                thread_ts,
                "response_url",
                time.monotonic(),
            )
        )
        return 200, "ephemeral"

    # ------------------------------------------------------------ Socket Mode websocket

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid_ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True, timeout=2.0)
        await ws.prepare(request)
        self.socket_connections_opened += 1
        number = self.socket_connections_opened
        self._sockets.append((number, ws))
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": self.socket_connections,
                "debug_info": {
                    "host": "applink-fake-1",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        await self._notify()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._record_ack(message.data, number)
        finally:
            self._sockets = [(n, s) for n, s in self._sockets if s is not ws]
            await self._notify()
        return ws

    async def _record_ack(self, data: str, connection: int) -> None:
        try:
            ack = json.loads(data)
        except json.JSONDecodeError:
            return
        if isinstance(ack, dict) and "envelope_id" in ack:
            self.acks.append(
                SocketAck(ack["envelope_id"], ack.get("payload"), time.monotonic(), connection)
            )
            await self._notify()


# ---------------------------------------------------------------- request decoding


async def _read_params(request: web.Request, method: str) -> tuple[dict[str, Any], str]:
    """Merge query and body arguments the way Slack reads them."""
    params: dict[str, Any] = dict(request.query)
    encoding = "query"
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            raw = await request.read()
            if method in JSON_BODY_METHODS and raw:
                decoded = json.loads(raw)
                if isinstance(decoded, dict):
                    params.update(decoded)
                encoding = "json"
        else:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
            encoding = "form"
    for key in STRUCTURED_ARGS:
        value = params.get(key)
        if isinstance(value, str) and value:
            try:
                params[key] = json.loads(value)
            except json.JSONDecodeError:
                pass  # left as text: the method answers invalid_blocks / invalid_attachments
    return params, encoding


def _bearer(request: web.Request) -> str | None:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return None


def block_errors(blocks: list[Any]) -> list[str]:
    """What Slack's Block Kit validation says about ``blocks`` (empty when valid), in
    its words: ``must be less than 3001 characters [json-pointer:/blocks/0/text/text]``."""
    errors: list[str] = []
    if len(blocks) > MESSAGE_BLOCKS_MAX:
        errors.append(f"no more than {MESSAGE_BLOCKS_MAX} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(f"missing required field: type [json-pointer:{where}]")
            continue
        kind = block["type"]
        if kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and not fields:
                errors.append(f"must provide either text or fields [json-pointer:{where}]")
            if text is not None:
                errors += _text_errors(text, SECTION_TEXT_LIMIT, f"{where}/text")
            if isinstance(fields, list):
                if len(fields) > SECTION_FIELDS_MAX:
                    errors.append(
                        f"no more than {SECTION_FIELDS_MAX} items allowed "
                        f"[json-pointer:{where}/fields]"
                    )
                for n, field_text in enumerate(fields):
                    errors += _text_errors(field_text, FIELD_TEXT_LIMIT, f"{where}/fields/{n}")
        elif kind == "header":
            errors += _text_errors(block.get("text"), HEADER_TEXT_LIMIT, f"{where}/text")
        elif kind in ("context", "actions"):
            elements = block.get("elements")
            most = CONTEXT_ELEMENTS_MAX if kind == "context" else ACTIONS_ELEMENTS_MAX
            if not isinstance(elements, list) or not elements:
                errors.append(f"must provide at least 1 item [json-pointer:{where}/elements]")
            elif len(elements) > most:
                errors.append(f"no more than {most} items allowed [json-pointer:{where}/elements]")
    return errors


def _text_errors(text: Any, limit: int, where: str) -> list[str]:
    if not isinstance(text, dict) or text.get("type") not in ("mrkdwn", "plain_text"):
        return [f"failed to match all allowed schemas [json-pointer:{where}]"]
    body = text.get("text")
    if not isinstance(body, str) or not body:
        return [f"must be more than 0 characters [json-pointer:{where}/text]"]
    if len(body) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{where}/text]"]
    return []


def blocks_text_length(value: Any) -> int:
    """Characters of text held anywhere in ``value`` (every ``text`` string)."""
    if isinstance(value, list):
        return sum(blocks_text_length(v) for v in value)
    if isinstance(value, dict):
        own = value.get("text")
        return (len(own) if isinstance(own, str) else 0) + sum(
            blocks_text_length(v) for k, v in value.items() if k != "text" or not isinstance(v, str)
        )
    return 0


def _content(
    params: Mapping[str, Any], *, allow_empty: bool = False
) -> tuple[str, list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
    """A message's text (cut at :data:`TEXT_LIMIT`, as Slack does), blocks and
    attachments, refused as Slack refuses them."""
    text = str(params.get("text") or "")
    blocks = params.get("blocks")
    attachments = params.get("attachments")
    if blocks is not None and not isinstance(blocks, list):
        raise SlackApiFailure("invalid_blocks")
    if blocks:
        errors = block_errors(blocks)
        if errors:
            raise SlackApiFailure(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        if blocks_text_length(blocks) > BLOCKS_TEXT_LIMIT:
            raise SlackApiFailure("msg_blocks_too_long")
    if attachments is not None and not isinstance(attachments, list):
        raise SlackApiFailure("invalid_attachments")
    if not (text or blocks or attachments or allow_empty):
        raise SlackApiFailure("no_text")
    return text[:TEXT_LIMIT], blocks, attachments


def _truncation(params: Mapping[str, Any]) -> dict[str, Any]:
    """The warning Slack adds to a successful answer when it cut the text."""
    if len(str(params.get("text") or "")) <= TEXT_LIMIT:
        return {}
    return {
        "warning": "message_truncated",
        "response_metadata": {
            "warnings": ["message_truncated"],
            "messages": [
                "[WARN] Your message was truncated but still posted. "
                f"The `text` field accepts up to {TEXT_LIMIT:,} characters."
            ],
        },
    }


def _fault_response(fault: SlackFault) -> tuple[web.Response, str]:
    """The response for a fault with a non-200 status, and the error the log records."""
    status = fault.status or 500
    if status == 429:
        error = fault.error or "ratelimited"
        response = web.json_response(
            {"ok": False, "error": error},
            status=429,
            headers={"Retry-After": str(fault.retry_after)},
        )
        return response, error
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    page = web.Response(
        status=status, text=SERVER_ERROR_PAGE, content_type="text/html", headers=headers
    )
    return page, fault.error or f"http_{status}"
