"""``POST /hooks/github`` on the bot's HTTP server: what a GitHub delivery must carry,
and that nothing a client sends gets a 5xx or wakes a follower unless it is signed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.app import Bot
from commands.release.tools import RELEASE
from tests.harness import make_config

SECRET = "whsec-0123456789"


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


RELEASE_BODY = json.dumps({"action": "published", "release": {"tag_name": "v1"}}).encode()
CASES: list[tuple[str, bytes, dict[str, str], int]] = [
    ("unsigned", RELEASE_BODY, {"X-GitHub-Event": "release"}, 401),
    (
        "wrong secret",
        RELEASE_BODY,
        {"X-GitHub-Event": "release", "X-Hub-Signature-256": sign(RELEASE_BODY, "x")},
        401,
    ),
    (
        "sha1 header only",
        RELEASE_BODY,
        {"X-GitHub-Event": "release", "X-Hub-Signature": "sha1=00"},
        401,
    ),
    (
        "signature of another body",
        RELEASE_BODY,
        {"X-GitHub-Event": "release", "X-Hub-Signature-256": sign(b"{}")},
        401,
    ),
    (
        "upper-case hex",
        RELEASE_BODY,
        {"X-GitHub-Event": "release", "X-Hub-Signature-256": sign(RELEASE_BODY).upper()},
        401,
    ),
    (
        "not JSON",
        b"\xff\xfe{",
        {"X-GitHub-Event": "release", "X-Hub-Signature-256": sign(b"\xff\xfe{")},
        400,
    ),
    (
        "a JSON array",
        b"[1]",
        {"X-GitHub-Event": "release", "X-Hub-Signature-256": sign(b"[1]")},
        400,
    ),
    (
        "release without its object",
        b'{"release": 3}',
        {"X-GitHub-Event": "release", "X-Hub-Signature-256": sign(b'{"release": 3}')},
        400,
    ),
    (
        "an event not followed",
        b"{}",
        {"X-GitHub-Event": "star", "X-Hub-Signature-256": sign(b"{}")},
        202,
    ),
    ("no event name", b"{}", {"X-Hub-Signature-256": sign(b"{}")}, 202),
    (
        "ping",
        b'{"zen": "Keep it simple."}',
        {"X-GitHub-Event": "ping", "X-Hub-Signature-256": sign(b'{"zen": "Keep it simple."}')},
        200,
    ),
]


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    config = make_config(
        tmp_path,
        github={"repo": "o/r", "token": "t0ken", "api_url": "http://127.0.0.1:9"},
        release={"webhook_secret": SECRET},
    )
    async with Bot(config) as running:
        yield running


@pytest.mark.parametrize(("case", "body", "headers", "status"), CASES, ids=[c[0] for c in CASES])
async def test_deliveries_are_answered_by_what_they_carry(
    bot: Bot, case: str, body: bytes, headers: dict[str, str], status: int
) -> None:
    kit = bot.services.need(RELEASE)
    before = kit.generation()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{bot.url}/hooks/github", data=body, headers=headers) as response,
    ):
        assert response.status == status, await response.text()
        assert "error" in await response.json() if status >= 400 else True
    assert kit.generation() == before  # only a followed, signed event wakes anyone


async def test_a_signed_release_event_wakes_the_followers(bot: Bot) -> None:
    kit = bot.services.need(RELEASE)
    before = kit.generation()
    waiter = asyncio.create_task(kit.wait_for_change(before, timeout=5))
    headers = {"X-GitHub-Event": "release", "X-Hub-Signature-256": sign(RELEASE_BODY)}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{bot.url}/hooks/github", data=RELEASE_BODY, headers=headers) as response,
    ):
        assert response.status == 200
    assert await waiter is True


async def test_an_oversized_body_gets_413(bot: Bot) -> None:
    chunk = b" " * (1 << 20)

    async def body() -> AsyncIterator[bytes]:  # chunked: no Content-Length to refuse early
        for _ in range(26):
            yield chunk

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{bot.url}/hooks/github", data=body(), headers={"X-GitHub-Event": "release"}
        ) as response,
    ):
        assert response.status == 413


async def test_without_a_secret_the_endpoint_is_off(tmp_path: Path) -> None:
    config = make_config(tmp_path, github={"repo": "o/r", "token": "t0ken"})
    async with (
        Bot(config) as running,
        aiohttp.ClientSession() as http,
        http.post(
            f"{running.url}/hooks/github", data=b"{}", headers={"X-Hub-Signature-256": sign(b"{}")}
        ) as response,
    ):
        assert response.status == 404
