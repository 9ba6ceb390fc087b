"""PrometheusClient against the real Prometheus binary, plus HTTP-level failure fakes."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from integrations.prometheus import (
    COMPARISON_OPS,
    PrometheusClient,
    PrometheusQueryError,
    PrometheusUnavailable,
    Sample,
    compare,
)
from tests.binaries import require_binary
from tests.fakes.promstack import (
    MetricsEndpoint,
    RunningPrometheus,
    free_port,
    start_prometheus,
    wait_until,
)

BLOCKS_ADVANCING = "increase(block_height[5s])"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def chain() -> AsyncIterator[MetricsEndpoint]:
    async with MetricsEndpoint() as metrics:
        metrics.set("block_height", 100, labels={"network": "alpha"}, advance_per_scrape=1)
        yield metrics


@pytest.fixture
async def prometheus(tmp_path: Path, chain: MetricsEndpoint) -> AsyncIterator[RunningPrometheus]:
    binary = require_binary("prometheus")
    async with start_prometheus(tmp_path, binary=binary, scrape_targets=[chain.target]) as prom:
        yield prom


# ---------------------------------------------------------------- the real binary


async def test_block_production_check_passes_while_advancing_and_fails_once_stalled(
    prometheus: RunningPrometheus, chain: MetricsEndpoint, session: aiohttp.ClientSession
) -> None:
    await prometheus.wait_for_target_up()  # ~5 s: Prometheus batches discovery updates
    client = PrometheusClient(session, prometheus.url)

    async def increase() -> list[Sample]:
        return await client.instant_query(BLOCKS_ADVANCING, timeout=5)

    async def producing() -> bool:
        samples = await increase()
        return len(samples) == 1 and compare(samples[0].value, ">", 0)

    await wait_until(producing, timeout=20, what="increase(block_height) > 0")
    [sample] = await increase()
    assert sample.labels["network"] == "alpha"
    assert sample.labels["job"] == "targets"

    chain.stall("block_height", labels={"network": "alpha"})

    async def stalled() -> bool:
        samples = await increase()
        return len(samples) == 1 and not compare(samples[0].value, ">", 0)

    await wait_until(stalled, timeout=20, what="increase(block_height) to drop to 0")
    [sample] = await increase()
    assert sample.value == 0
    [height] = await client.instant_query("block_height", timeout=5)
    assert height.value == chain.value("block_height", labels={"network": "alpha"})


async def test_scalar_and_special_values(
    prometheus: RunningPrometheus, session: aiohttp.ClientSession
) -> None:
    client = PrometheusClient(session, f"{prometheus.url}/")  # a trailing slash is fine
    assert await client.instant_query("1 + 1", timeout=5) == [Sample(labels={}, value=2.0)]
    [nan] = await client.instant_query("0 / 0", timeout=5)
    assert math.isnan(nan.value)
    [inf] = await client.instant_query("1 / 0", timeout=5)
    assert inf.value == math.inf
    [minus_inf] = await client.instant_query("vector(-1 / 0)", timeout=5)
    assert minus_inf == Sample(labels={}, value=-math.inf)
    assert await client.instant_query('absent_metric{network="nope"}', timeout=5) == []


async def test_invalid_promql_is_a_query_error_with_prometheus_text(
    prometheus: RunningPrometheus, session: aiohttp.ClientSession
) -> None:
    client = PrometheusClient(session, prometheus.url)
    with pytest.raises(PrometheusQueryError) as caught:
        await client.instant_query("increase(block_height[5s]", timeout=5)
    assert caught.value.error_type == "bad_data"
    assert caught.value.status == 400
    assert "parse error" in caught.value.message
    assert "unclosed left parenthesis" in caught.value.message


async def test_range_vector_result_is_refused(
    prometheus: RunningPrometheus, session: aiohttp.ClientSession
) -> None:
    client = PrometheusClient(session, prometheus.url)
    with pytest.raises(PrometheusQueryError, match="returned a matrix") as caught:
        await client.instant_query("up[5s]", timeout=5)
    assert caught.value.error_type == "unsupported_result"


async def test_stopped_prometheus_is_unavailable(
    tmp_path: Path, chain: MetricsEndpoint, session: aiohttp.ClientSession
) -> None:
    binary = require_binary("prometheus")
    async with start_prometheus(tmp_path, binary=binary, scrape_targets=[chain.target]) as prom:
        client = PrometheusClient(session, prom.url)
        assert await client.instant_query("1", timeout=5) == [Sample(labels={}, value=1.0)]
    with pytest.raises(PrometheusUnavailable, match="cannot reach Prometheus"):
        await client.instant_query("1", timeout=5)


# ---------------------------------------------------------------- HTTP-level failures


async def test_nothing_listening_is_unavailable(session: aiohttp.ClientSession) -> None:
    client = PrometheusClient(session, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PrometheusUnavailable, match="cannot reach Prometheus at http://127"):
        await client.instant_query("up", timeout=2)


class FakeServer:
    """A one-route aiohttp server standing in for a broken or slow Prometheus."""

    def __init__(self, handler: Callable[[web.Request], Awaitable[web.Response]]) -> None:
        self.app = web.Application()
        self.app.router.add_post("/api/v1/query", handler)
        self.runner = web.AppRunner(self.app)
        self.url = ""

    async def __aenter__(self) -> FakeServer:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


async def test_timeout_is_unavailable(session: aiohttp.ClientSession) -> None:
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"status": "success", "data": {}})

    async with FakeServer(hang) as server:
        client = PrometheusClient(session, server.url)
        try:
            with pytest.raises(
                PrometheusUnavailable, match=re.escape("did not answer within 0.2s")
            ):
                await client.instant_query("up", timeout=0.2)
        finally:
            release.set()


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            503,
            '{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}',
            "answered HTTP 503: query timed out in expression evaluation",
        ),
        (502, "<html>Bad Gateway</html>", "answered HTTP 502: <html>Bad Gateway</html>"),
        (404, "404 page not found", "answered HTTP 404: 404 page not found"),
        (200, '{"status":"success","data":{"resultType":"vector"}}', "cannot read"),
    ],
)
async def test_broken_answers_are_unavailable(
    session: aiohttp.ClientSession, status: int, body: str, message: str
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type="application/json")

    async with FakeServer(answer) as server:
        client = PrometheusClient(session, server.url)
        with pytest.raises(PrometheusUnavailable, match=message) as caught:
            await client.instant_query("up", timeout=5)
        assert caught.value.status == status


async def test_execution_error_is_a_query_error(session: aiohttp.ClientSession) -> None:
    async def answer(request: web.Request) -> web.Response:
        form = await request.post()
        assert form["query"] == "up"
        assert form["timeout"] == "3s"
        return web.json_response(
            {"status": "error", "errorType": "execution", "error": "many-to-many matching"},
            status=422,
        )

    async with FakeServer(answer) as server:
        client = PrometheusClient(session, server.url)
        with pytest.raises(PrometheusQueryError, match="execution: many-to-many") as caught:
            await client.instant_query("up", timeout=3)
        assert caught.value.status == 422


# ---------------------------------------------------------------- compare


@pytest.mark.parametrize(
    ("value", "op", "threshold", "expected"),
    [
        (1, ">", 0, True),
        (0, ">", 0, False),
        (0, ">=", 0, True),
        (-1, ">=", 0, False),
        (-1, "<", 0, True),
        (0, "<", 0, False),
        (0, "<=", 0, True),
        (1, "<=", 0, False),
        (3, "==", 3, True),
        (3, "==", 4, False),
        (3, "!=", 4, True),
        (3, "!=", 3, False),
        (math.inf, ">", 1e308, True),
    ],
)
def test_compare(value: float, op: str, threshold: float, expected: bool) -> None:
    assert compare(value, op, threshold) is expected


@pytest.mark.parametrize("op", COMPARISON_OPS)
def test_nan_only_satisfies_not_equal(op: str) -> None:
    assert compare(math.nan, op, 0) is (op == "!=")


@pytest.mark.parametrize("op", ["=", "=>", "gt", ""])
def test_compare_refuses_unknown_operators(op: str) -> None:
    with pytest.raises(ValueError, match="unknown comparison operator"):
        compare(1, op, 0)
