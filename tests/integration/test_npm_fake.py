"""The npm registry fake answers as the registry documents: packuments for encoded and raw
scoped names, abbreviated metadata on request, single versions and dist-tags, the
registry's 404 bodies, and the slow/down faults a status check must survive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.fakes.npm_registry import ABBREVIATED, NpmRegistryFake

BB = "@aztec/bb.js"


@pytest.fixture
async def npm() -> AsyncIterator[NpmRegistryFake]:
    async with NpmRegistryFake() as fake:
        fake.publish(BB, "0.61.0", "0.62.0")
        fake.publish("@aztec/l1-contracts", "0.62.0")
        fake.publish("aztec", "0.62.0")
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, str, object]:
    async with http.get(url, headers=headers) as response:
        return response.status, response.headers["Content-Type"], await response.json(content_type=None)


async def test_a_scoped_packument_is_served_for_the_encoded_and_the_raw_name(
    http: aiohttp.ClientSession, npm: NpmRegistryFake
) -> None:
    status, content_type, encoded = await get(http, f"{npm.url}/@aztec%2fbb.js")
    assert (status, content_type) == (200, "application/json")
    _, _, raw = await get(http, f"{npm.url}/@aztec/bb.js")
    assert encoded == raw
    assert isinstance(encoded, dict)
    assert encoded["_id"] == encoded["name"] == BB
    assert encoded["dist-tags"] == {"latest": "0.62.0"}
    assert sorted(encoded["versions"]) == ["0.61.0", "0.62.0"]
    assert set(encoded["time"]) == {"created", "modified", "0.61.0", "0.62.0"}
    assert encoded["time"]["modified"] == encoded["time"]["0.62.0"] > encoded["time"]["0.61.0"]
    manifest = encoded["versions"]["0.62.0"]
    assert manifest["_id"] == f"{BB}@0.62.0"
    assert manifest["dist"]["tarball"] == f"{npm.url}/{BB}/-/bb.js-0.62.0.tgz"
    assert manifest["dist"]["integrity"].startswith("sha512-")
    # The request log keeps what was sent on the wire.
    assert [r.raw_path.lower() for r in npm.requests] == ["/@aztec%2fbb.js", "/@aztec/bb.js"]
    assert npm.count("/@aztec/bb.js") == 2


async def test_abbreviated_metadata_only_when_asked_for(
    http: aiohttp.ClientSession, npm: NpmRegistryFake
) -> None:
    typical = f"{ABBREVIATED}; q=1.0, application/json; q=0.8, */*"
    status, content_type, short = await get(http, f"{npm.url}/@aztec%2fbb.js", Accept=typical)
    assert (status, content_type) == (200, ABBREVIATED)
    assert isinstance(short, dict)
    assert set(short) == {"name", "modified", "dist-tags", "versions"}
    assert set(short["versions"]["0.62.0"]) == {"name", "version", "dist", "dependencies", "engines"}
    _, content_type, full = await get(http, f"{npm.url}/@aztec%2fbb.js", Accept="application/json")
    assert content_type == "application/json"
    assert isinstance(full, dict) and "time" in full and "_id" in full["versions"]["0.62.0"]


async def test_versions_and_dist_tags_resolve_and_missing_ones_are_404(
    http: aiohttp.ClientSession, npm: NpmRegistryFake
) -> None:
    status, _, manifest = await get(http, f"{npm.url}/@aztec/bb.js/0.61.0")
    assert status == 200 and isinstance(manifest, dict) and manifest["version"] == "0.61.0"
    npm.tag(BB, "next", "0.61.0")
    _, _, latest = await get(http, f"{npm.url}/@aztec%2fbb.js/latest")
    _, _, tagged = await get(http, f"{npm.url}/@aztec%2fbb.js/next")
    assert isinstance(latest, dict) and isinstance(tagged, dict)
    assert (latest["version"], tagged["version"]) == ("0.62.0", "0.61.0")
    _, _, plain = await get(http, f"{npm.url}/aztec/0.62.0")
    assert isinstance(plain, dict) and plain["_id"] == "aztec@0.62.0"

    assert await get(http, f"{npm.url}/@aztec/bb.js/0.63.0") == (
        404,
        "application/json",
        "version not found: 0.63.0",
    )
    for missing in ("/@aztec%2fnope", "/@aztec/nope/0.62.0", "/nope", "/@aztec"):
        status, _, body = await get(http, npm.url + missing)
        assert (status, body) == (404, {"error": "Not found"}), missing
    with pytest.raises(KeyError):
        npm.tag(BB, "next", "9.9.9")


async def test_slow_and_down_registries(http: aiohttp.ClientSession, npm: NpmRegistryFake) -> None:
    npm.slow(0.4)
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(f"{npm.url}/@aztec%2fbb.js", timeout=aiohttp.ClientTimeout(total=0.1)):
            pass
    started = time.monotonic()
    status, _, body = await get(http, f"{npm.url}/@aztec%2fbb.js/0.62.0")
    assert status == 200 and isinstance(body, dict) and body["version"] == "0.62.0"
    assert time.monotonic() - started >= 0.4

    npm.down()
    async with http.get(f"{npm.url}/@aztec%2fbb.js") as response:
        assert response.status == 503
    npm.up()
    started = time.monotonic()
    status, _, _ = await get(http, f"{npm.url}/-/ping")
    assert status == 200 and time.monotonic() - started < 0.4
