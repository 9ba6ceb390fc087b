"""A fake of Discord's gateway websocket (API v10, JSON, ``zlib-stream`` transport compression).

What a client sees, as Discord's gateway docs describe it: HELLO (op 10) with the
heartbeat interval; heartbeats (op 1) answered by HEARTBEAT_ACK (op 11); IDENTIFY (op 2)
answered by the READY dispatch (``session_id``, ``resume_gateway_url``, the application,
the bot user, every guild as unavailable) and then one GUILD_CREATE per guild; dispatches
numbered by a per-session sequence; RESUME (op 6) on ``resume_gateway_url`` replays the
dispatches after the client's ``seq`` and ends with RESUMED; a session that cannot be
resumed gets INVALID_SESSION (op 9, ``d: false``). Close codes are Discord's (4001 unknown
opcode, 4002 decode error, 4003 not authenticated, 4004 authentication failed, 4005 already
authenticated, 4012 invalid API version).

With ``compress=zlib-stream`` every frame goes through one ``zlib.compressobj`` per
connection, flushed with ``Z_SYNC_FLUSH`` (each binary frame ends in ``00 00 ff ff``).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
PRESENCE_UPDATE = 3
VOICE_STATE_UPDATE = 4
RESUME = 6
RECONNECT = 7
REQUEST_GUILD_MEMBERS = 8
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11

CLOSE_UNKNOWN_ERROR = 4000
CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_API_VERSION = 4012

ZLIB_SUFFIX = b"\x00\x00\xff\xff"


@dataclass
class GatewayConnection:
    """One websocket connection as the fake saw it."""

    path: str
    query: dict[str, str]
    ws: web.WebSocketResponse
    request: web.Request
    compressor: Any | None  # zlib compress object, or None for plain text frames
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: int = 0
    session: GatewaySession | None = None
    how: str = ""  # "identify", "resume" or "" until one happens
    closed_with: int | None = None
    frames: list[bytes] = field(default_factory=list)

    async def send(self, payload: dict[str, Any]) -> bool:
        """Send one payload; False when the socket is already gone."""
        async with self.lock:
            if self.ws.closed:
                return False
            raw = json.dumps(payload, separators=(",", ":")).encode()
            try:
                if self.compressor is not None:
                    frame = self.compressor.compress(raw) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
                    self.frames.append(frame)
                    await self.ws.send_bytes(frame)
                else:
                    await self.ws.send_str(raw.decode())
            except (ConnectionError, RuntimeError):
                return False
            self.sent.append(payload)
            return True


@dataclass
class GatewaySession:
    """A gateway session: its id, sequence and every dispatch sent in it (for replays)."""

    id: str
    token: str
    seq: int = 0
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    resumable: bool = True
    connection: GatewayConnection | None = None
    resumes: int = 0

    def next_event(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Number a dispatch and keep it for replay."""
        self.seq += 1
        self.events.append((self.seq, name, data))
        return {"op": DISPATCH, "t": name, "s": self.seq, "d": data}


class FakeGateway:
    """The gateway half of the Discord fake; ``DiscordFake`` mounts it and feeds it state."""

    def __init__(
        self,
        *,
        token: str,
        ready_payload: Callable[[GatewaySession, str], dict[str, Any]],
        guild_payloads: Callable[[], list[dict[str, Any]]],
        heartbeat_interval_ms: int = 41_250,
    ) -> None:
        self._token = token
        self._ready_payload = ready_payload
        self._guild_payloads = guild_payloads
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.connections: list[GatewayConnection] = []
        self.sessions: dict[str, GatewaySession] = {}
        self.current: GatewaySession | None = None
        self.base_url = ""  # set by the owner once the server listens
        self._changed = asyncio.Event()

    # ------------------------------------------------------------ the websocket handler

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one gateway connection until either side closes it."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        query = dict(request.query)
        compress = query.get("compress")
        conn = GatewayConnection(
            path=request.path,
            query=query,
            ws=ws,
            request=request,
            compressor=zlib.compressobj() if compress == "zlib-stream" else None,
        )
        self.connections.append(conn)
        self._notify()
        if query.get("v") not in ("10",):
            await self._close(conn, CLOSE_INVALID_API_VERSION, "Invalid API version")
            return ws
        if query.get("encoding", "json") != "json" or compress not in (None, "zlib-stream"):
            await self._close(conn, CLOSE_DECODE_ERROR, "Decode error")
            return ws
        await conn.send({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None})
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    if message.type is WSMsgType.BINARY:
                        await self._close(conn, CLOSE_DECODE_ERROR, "Decode error")
                    break
                try:
                    payload = json.loads(message.data)
                    op = payload["op"]
                except (ValueError, KeyError, TypeError):
                    await self._close(conn, CLOSE_DECODE_ERROR, "Decode error")
                    break
                conn.received.append(payload)
                self._notify()
                if not await self._on_payload(conn, op, payload.get("d")):
                    break
        finally:
            if conn.session is not None and conn.session.connection is conn:
                conn.session.connection = None
            if conn.closed_with is None:
                conn.closed_with = ws.close_code
            self._notify()
        return ws

    async def _on_payload(self, conn: GatewayConnection, op: Any, data: Any) -> bool:
        if op == HEARTBEAT:
            conn.heartbeats += 1
            await conn.send({"op": HEARTBEAT_ACK, "s": None, "t": None, "d": None})
            return True
        if op == IDENTIFY:
            return await self._identify(conn, data)
        if op == RESUME:
            return await self._resume(conn, data)
        if conn.session is None:
            await self._close(conn, CLOSE_NOT_AUTHENTICATED, "Not authenticated")
            return False
        if op in (PRESENCE_UPDATE, VOICE_STATE_UPDATE, REQUEST_GUILD_MEMBERS):
            return True
        await self._close(conn, CLOSE_UNKNOWN_OPCODE, "Unknown opcode")
        return False

    async def _identify(self, conn: GatewayConnection, data: Any) -> bool:
        if conn.session is not None:
            await self._close(conn, CLOSE_ALREADY_AUTHENTICATED, "Already authenticated")
            return False
        if not isinstance(data, dict) or data.get("token") != self._token:
            await self._close(conn, CLOSE_AUTHENTICATION_FAILED, "Authentication failed")
            return False
        session = GatewaySession(id=uuid.uuid4().hex, token=self._token)
        self.sessions[session.id] = session
        self.current = session
        session.connection = conn
        conn.session = session
        conn.how = "identify"
        await conn.send(session.next_event("READY", self._ready_payload(session, self.resume_url)))
        for guild in self._guild_payloads():
            await conn.send(session.next_event("GUILD_CREATE", guild))
        self._notify()
        return True

    async def _resume(self, conn: GatewayConnection, data: Any) -> bool:
        if not isinstance(data, dict) or data.get("token") != self._token:
            await self._close(conn, CLOSE_AUTHENTICATION_FAILED, "Authentication failed")
            return False
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq")
        if session is None or not session.resumable or not isinstance(seq, int) or seq > session.seq:
            conn.how = "invalid-session"
            await conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            self._notify()
            return True
        old = session.connection
        session.connection = conn
        conn.session = session
        conn.how = "resume"
        session.resumes += 1
        self.current = session
        if old is not None and old is not conn and not old.ws.closed:
            await old.ws.close(code=CLOSE_UNKNOWN_ERROR)
        for number, name, event in list(session.events):
            if number > seq:
                await conn.send({"op": DISPATCH, "t": name, "s": number, "d": event})
        await conn.send(session.next_event("RESUMED", {"_trace": ["fake-gateway"]}))
        self._notify()
        return True

    async def _close(self, conn: GatewayConnection, code: int, reason: str) -> None:
        conn.closed_with = code
        await conn.ws.close(code=code, message=reason.encode())
        self._notify()

    # ------------------------------------------------------------ what tests call

    @property
    def url(self) -> str:
        """The URL ``GET /gateway/bot`` hands out."""
        return f"{self.base_url}/gateway"

    @property
    def resume_url(self) -> str:
        """The ``resume_gateway_url`` READY hands out (a different path, so tests can tell)."""
        return f"{self.base_url}/resume-gateway"

    async def dispatch(self, name: str, data: dict[str, Any]) -> int:
        """Send a dispatch in the current session (kept for replay if nobody is connected).

        Returns its sequence number.
        """
        session = self.current
        if session is None:
            raise RuntimeError("no gateway session: the client has not identified yet")
        payload = session.next_event(name, data)
        if session.connection is not None:
            await session.connection.send(payload)
        self._notify()
        return int(payload["s"])

    async def drop_connection(self, code: int | None = CLOSE_UNKNOWN_ERROR) -> None:
        """Close the current session's socket: with ``code``, or abruptly when None.

        The session stays resumable; dispatches sent until the client resumes are replayed.
        """
        session = self.current
        conn = session.connection if session else None
        if session is None or conn is None:
            raise RuntimeError("no connected gateway session to drop")
        session.connection = None
        if code is None:
            conn.closed_with = 1006
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
        else:
            conn.closed_with = code
            await conn.ws.close(code=code, message=b"dropped by the test")
        self._notify()

    async def request_reconnect(self) -> None:
        """Send RECONNECT (op 7) on the current socket: the client should close it and resume."""
        session = self.current
        conn = session.connection if session else None
        if conn is None:
            raise RuntimeError("no connected gateway session to ask to reconnect")
        await conn.send({"op": RECONNECT, "d": None, "s": None, "t": None})
        self._notify()

    def invalidate_sessions(self) -> None:
        """Make every session impossible to resume (the next RESUME gets INVALID_SESSION)."""
        for session in self.sessions.values():
            session.resumable = False

    async def close_all(self) -> None:
        """Close every open socket (the fake is stopping)."""
        for conn in self.connections:
            if not conn.ws.closed:
                await conn.ws.close(code=1001)

    def _notify(self) -> None:
        self._changed.set()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("gateway condition not met in time")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
            except TimeoutError:
                pass
