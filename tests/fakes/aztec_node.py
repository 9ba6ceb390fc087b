"""A JSON-RPC 2.0 fake of an Aztec node's public API, for the operator self-check.

The self-check Aztec's public testnet used: the operator asks their own node
``node_getL2Tips`` (reads ``result.proven.number``) and then
``node_getArchiveSiblingPath`` with ``[n, n]`` (block number and leaf index, sent as
strings by the usual ``curl`` one-liner), and pastes the base64 result; the bot asks a
reference node the same question and compares.

Shapes follow the node's JSON-RPC server (``SafeJsonRpcServer`` in aztec-packages'
foundation): ``POST /`` with ``{"jsonrpc", "id", "method", "params"}``; a result is
``{"jsonrpc", "id", "result"}``; an error answers HTTP 400 with ``{"jsonrpc", "id",
"error": {"code", "message"}}``: -32601 ``Method not found: <name>``, -32701 for parameters
the schema refuses (the node validates with zod), -32702 for an error the node throws, such
as a block beyond what it has synced (``Queried block N not yet synced by the node (node is
synced upto M).``), -32700 for a body that is not JSON. ``GET /status`` answers 200 while
healthy.

The sibling path is derived from (seed, block, leaf): two fakes with the same seed agree,
a different seed (a node on another chain, or a forged answer) disagrees. It is the
base64 of a 4-byte big-endian count followed by ``ARCHIVE_HEIGHT`` 32-byte hashes, as the
node serialises a ``SiblingPath``.

Modes: ``slow`` (each answer waits ``delay`` seconds), ``down`` (the port refuses
connections: the server is stopped), ``unavailable`` (HTTP 503 with a plain-text body).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

ARCHIVE_HEIGHT = 29
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32701  # the node's code for a zod validation failure
EXECUTION_ERROR = -32702
PARSE_ERROR = -32700
INVALID_REQUEST = -32600


@dataclass(frozen=True)
class RpcCall:
    """One JSON-RPC request as the fake saw it."""

    method: str
    params: Any
    received_at: float  # time.monotonic()
    status: int


def block_hash(seed: str, number: int) -> str:
    """The fake chain's hash of block ``number`` (0x-prefixed, 32 bytes)."""
    return "0x" + hashlib.sha256(f"{seed}:block:{number}".encode()).hexdigest()


def sibling_path(seed: str, block: int, leaf: int) -> str:
    """The base64 sibling path the fake node answers for ``[block, leaf]``."""
    hashes = b"".join(
        hashlib.sha256(f"{seed}:archive:{block}:{leaf}:{level}".encode()).digest()
        for level in range(ARCHIVE_HEIGHT)
    )
    return base64.b64encode(ARCHIVE_HEIGHT.to_bytes(4, "big") + hashes).decode()


def _as_block_number(value: Any) -> int | None:
    """A non-negative integer from a number or a decimal string (as zod coerces), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class AztecNodeFake:
    """An Aztec node's JSON-RPC endpoint on 127.0.0.1.

    ``latest``, ``proven`` and ``finalized`` are the chain tips; the archive answers only for
    blocks up to ``latest`` (the node's synced block).
    """

    def __init__(
        self,
        *,
        seed: str = "alpha-testnet",
        latest: int = 1_250,
        proven: int = 1_240,
        finalized: int = 1_200,
        port: int = 0,
    ) -> None:
        self.seed = seed
        self.latest = latest
        self.proven = proven
        self.finalized = finalized
        self.delay = 0.0
        self.unavailable = False
        self.calls: list[RpcCall] = []
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> AztecNodeFake:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen (again, on the same port after :meth:`go_down`)."""
        app = web.Application()
        app.router.add_post("/", self._rpc)
        app.router.add_get("/status", self._status)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port or self._port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening: connections to the port are refused."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def go_down(self) -> None:
        """The ``down`` mode: the node stops answering at all (connection refused)."""
        await self.stop()

    async def come_back(self) -> None:
        """Undo :meth:`go_down` on the same port."""
        await self.start()

    def set_slow(self, delay: float) -> None:
        """The ``slow`` mode: every answer waits ``delay`` seconds (0 to turn it off)."""
        self.delay = delay

    @property
    def url(self) -> str:
        """The node's RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    def advance(self, blocks: int = 1) -> None:
        """The chain grows: every tip moves forward."""
        self.latest += blocks
        self.proven += blocks
        self.finalized += blocks

    def expected_proof(self, block: int) -> str:
        """What this node answers to ``node_getArchiveSiblingPath [block, block]``."""
        return sibling_path(self.seed, block, block)

    # ------------------------------------------------------------ serving

    async def _status(self, request: web.Request) -> web.Response:
        if self.unavailable:
            return web.Response(status=503, text="Service Unavailable")
        return web.Response(status=200)

    def _answer(self, status: int, body: dict[str, Any]) -> web.Response:
        return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json")

    async def _rpc(self, request: web.Request) -> web.Response:
        received = time.monotonic()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.unavailable:
            self.calls.append(RpcCall("?", None, received, 503))
            return web.Response(status=503, text="Service Unavailable")
        try:
            body = json.loads(await request.text())
        except ValueError as exc:
            self.calls.append(RpcCall("?", None, received, 400))
            return self._answer(
                400, {"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": f"Parse error: {exc}"}}
            )
        if not isinstance(body, dict):
            self.calls.append(RpcCall("?", None, received, 400))
            return self._answer(400, {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": "Invalid Request"}})
        method, params, rpc_id = body.get("method"), body.get("params", []), body.get("id")
        status, answer = self._call(method, params)
        answer = {"jsonrpc": body.get("jsonrpc", "2.0"), "id": rpc_id, **answer}
        self.calls.append(RpcCall(str(method), params, received, status))
        return self._answer(status, answer)

    def _call(self, method: Any, params: Any) -> tuple[int, dict[str, Any]]:
        if method == "node_getL2Tips":
            return 200, {"result": self._tips()}
        if method == "node_getBlockNumber":
            return 200, {"result": self.latest}
        if method == "node_getProvenBlockNumber":
            return 200, {"result": self.proven}
        if method == "node_getArchiveSiblingPath":
            return self._archive_sibling_path(params)
        return 400, {"error": {"code": METHOD_NOT_FOUND, "message": f"Method not found: {method}"}}

    def _tips(self) -> dict[str, Any]:
        return {
            name: {"number": number, "hash": block_hash(self.seed, number)}
            for name, number in (("latest", self.latest), ("proven", self.proven), ("finalized", self.finalized))
        }

    def _archive_sibling_path(self, params: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(params, list) or len(params) != 2:
            return 400, {"error": {"code": INVALID_PARAMS, "message": "Expected 2 parameters (params)"}}
        block, leaf = (_as_block_number(p) for p in params)
        problems = [
            f"Expected a block number, received {params[i]!r} ({i})"
            for i, value in enumerate((block, leaf))
            if value is None
        ]
        if problems or block is None or leaf is None:
            return 400, {"error": {"code": INVALID_PARAMS, "message": ". ".join(problems)}}
        if block > self.latest:
            message = f"Queried block {block} not yet synced by the node (node is synced upto {self.latest})."
            return 400, {"error": {"code": EXECUTION_ERROR, "message": message}}
        if leaf > block:
            return 400, {"error": {"code": EXECUTION_ERROR, "message": f"Leaf index {leaf} is beyond the archive at block {block}"}}
        return 200, {"result": sibling_path(self.seed, block, leaf)}
