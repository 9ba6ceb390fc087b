"""The Aztec node fake answers the operator self-check's two JSON-RPC calls as the node does.

Driven over real HTTP with aiohttp: the tips, a sibling path that agrees between two nodes
of one chain and disagrees across chains, the node's error answers, and the slow, down and
unavailable modes.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import aiohttp
import pytest

from tests.fakes.aztec_node import (
    ARCHIVE_HEIGHT,
    EXECUTION_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    AztecNodeFake,
)


async def rpc(url: str, method: str, params: list[Any], *, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
        async with http.post(url, json={"jsonrpc": "2.0", "method": method, "params": params, "id": 67}) as response:
            return response.status, await response.json()


async def self_check(url: str) -> tuple[int, str]:
    """What an operator runs on their node: the proven tip, then its sibling path."""
    _, tips = await rpc(url, "node_getL2Tips", [])
    block = tips["result"]["proven"]["number"]
    _, proof = await rpc(url, "node_getArchiveSiblingPath", [str(block), str(block)])
    return block, proof["result"]


async def test_l2_tips_have_latest_proven_and_finalized() -> None:
    async with AztecNodeFake(latest=1250, proven=1240, finalized=1200) as node:
        status, body = await rpc(node.url, "node_getL2Tips", [])
        assert status == 200 and body["id"] == 67 and body["jsonrpc"] == "2.0"
        tips = body["result"]
        assert {k: v["number"] for k, v in tips.items()} == {"latest": 1250, "proven": 1240, "finalized": 1200}
        assert all(v["hash"].startswith("0x") and len(v["hash"]) == 66 for v in tips.values())


async def test_the_same_chain_agrees_and_another_disagrees() -> None:
    async with AztecNodeFake(seed="alpha") as operator, AztecNodeFake(seed="alpha") as reference, \
            AztecNodeFake(seed="forked") as other:
        block, proof = await self_check(operator.url)
        _, answer = await rpc(reference.url, "node_getArchiveSiblingPath", [block, block])
        assert answer["result"] == proof == reference.expected_proof(block)
        _, forked = await rpc(other.url, "node_getArchiveSiblingPath", [block, block])
        assert forked["result"] != proof
        raw = base64.b64decode(proof)
        assert int.from_bytes(raw[:4], "big") == ARCHIVE_HEIGHT and len(raw) == 4 + 32 * ARCHIVE_HEIGHT
        _, earlier = await rpc(reference.url, "node_getArchiveSiblingPath", [block - 1, block - 1])
        assert earlier["result"] != proof


async def test_errors_are_the_nodes() -> None:
    async with AztecNodeFake(latest=100, proven=90) as node:
        status, unknown = await rpc(node.url, "node_getNothing", [])
        assert status == 400 and unknown["error"]["code"] == METHOD_NOT_FOUND
        assert unknown["error"]["message"] == "Method not found: node_getNothing"
        for bad in ([], ["abc", "abc"], [-1, -1], [1]):
            status, body = await rpc(node.url, "node_getArchiveSiblingPath", bad)
            assert status == 400 and body["error"]["code"] == INVALID_PARAMS, bad
            assert "result" not in body
        status, future = await rpc(node.url, "node_getArchiveSiblingPath", [101, 101])
        assert status == 400 and future["error"]["code"] == EXECUTION_ERROR
        assert "not yet synced by the node (node is synced upto 100)" in future["error"]["message"]
        status, ok = await rpc(node.url, "node_getArchiveSiblingPath", [100, 100])
        assert status == 200 and ok["result"]
        async with aiohttp.ClientSession() as http, http.post(node.url, data=b"{not json") as response:
            assert response.status == 400
            assert (await response.json())["error"]["code"] == PARSE_ERROR
        assert [c.status for c in node.calls].count(200) == 1


async def test_the_chain_moves_on() -> None:
    async with AztecNodeFake(latest=10, proven=5) as node:
        status, _ = await rpc(node.url, "node_getArchiveSiblingPath", [12, 12])
        assert status == 400
        node.advance(5)
        status, body = await rpc(node.url, "node_getArchiveSiblingPath", [12, 12])
        assert status == 200 and body["result"] == node.expected_proof(12)


async def test_slow_mode_delays_every_answer() -> None:
    async with AztecNodeFake() as node:
        node.set_slow(0.5)
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await rpc(node.url, "node_getL2Tips", [], timeout=0.2)
        status, _ = await rpc(node.url, "node_getL2Tips", [], timeout=2.0)
        assert status == 200 and time.monotonic() - started >= 0.5
        node.set_slow(0)
        started = time.monotonic()
        await rpc(node.url, "node_getL2Tips", [])
        assert time.monotonic() - started < 0.4


async def test_down_refuses_connections_and_unavailable_answers_503() -> None:
    async with AztecNodeFake() as node:
        url = node.url
        await node.go_down()
        with pytest.raises(aiohttp.ClientConnectorError):
            await rpc(url, "node_getL2Tips", [])
        await node.come_back()
        assert node.url == url
        status, _ = await rpc(url, "node_getL2Tips", [])
        assert status == 200
        node.unavailable = True
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json={"jsonrpc": "2.0", "method": "node_getL2Tips", "params": [], "id": 1}) as r:
                assert r.status == 503 and r.content_type == "text/plain"
            async with http.get(f"{url}/status") as r:
                assert r.status == 503
