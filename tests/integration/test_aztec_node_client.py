"""The Aztec node JSON-RPC client against the node fake: answers, the node's own
JSON-RPC errors with their messages, and a node that is down, slow or not JSON-RPC."""

from __future__ import annotations

import aiohttp
import pytest

from integrations.aztec_models import L2Tips, NodeRpcError, NodeUnavailable
from integrations.aztec_node import AztecNodeAccess
from tests.fakes.aztec_node import EXECUTION_ERROR, METHOD_NOT_FOUND, AztecNodeFake


async def test_tips_and_sibling_paths_are_read() -> None:
    async with (
        AztecNodeFake(latest=90, proven=80, finalized=70) as fake,
        aiohttp.ClientSession() as http,
    ):
        node = AztecNodeAccess(http).node(fake.url, timeout=2)
        assert await node.l2_tips() == L2Tips(latest=90, proven=80, finalized=70)
        assert await node.archive_sibling_path(80, 80) == fake.expected_proof(80)
        assert fake.calls[-1].params == ["80", "80"]


async def test_json_rpc_errors_carry_the_nodes_code_and_message() -> None:
    async with AztecNodeFake(latest=90) as fake, aiohttp.ClientSession() as http:
        node = AztecNodeAccess(http).node(fake.url, timeout=2)
        with pytest.raises(NodeRpcError) as raised:
            await node.archive_sibling_path(95, 95)
        assert raised.value.code == EXECUTION_ERROR
        assert "Queried block 95 not yet synced by the node" in raised.value.reason
        with pytest.raises(NodeRpcError) as raised:
            await AztecNodeAccess(http).node(fake.url, timeout=2).call("node_nope", [])
        assert raised.value.code == METHOD_NOT_FOUND and "node_nope" in raised.value.message


async def test_a_node_that_is_down_slow_or_unavailable_is_unavailable() -> None:
    async with AztecNodeFake() as fake, aiohttp.ClientSession() as http:
        node = AztecNodeAccess(http).node(fake.url, timeout=0.3)
        fake.unavailable = True
        with pytest.raises(NodeUnavailable, match="HTTP 503 without JSON-RPC"):
            await node.l2_tips()
        fake.unavailable = False
        fake.set_slow(1.0)
        with pytest.raises(NodeUnavailable, match=r"did not answer within 0\.3s"):
            await node.l2_tips()
        fake.set_slow(0)
        await fake.go_down()
        with pytest.raises(NodeUnavailable, match="cannot reach the node"):
            await node.l2_tips()
        await fake.come_back()
        assert (await node.l2_tips()).proven == fake.proven
