"""The registry client against the registry fake: the anonymous token flow, private
repositories by credentials, missing tags, and registries that cannot answer."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from integrations.image_refs import RegistryDenied, RegistryUnreachable
from integrations.registry import MANIFEST_TYPES, RegistryClient
from tests.fakes.docker_registry import DOCKER_V2, DockerRegistryFake

REPO = "aztecprotocol/aztec"
MANIFESTS = f"/v2/{REPO}/manifests"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def registry() -> AsyncIterator[DockerRegistryFake]:
    async with DockerRegistryFake() as fake:
        fake.add_image(REPO, "0.61.0", "0.62.0")
        yield fake


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_a_published_tag_exists_and_a_missing_one_does_not(
    http: aiohttp.ClientSession, registry: DockerRegistryFake
) -> None:
    client = RegistryClient(http, registry.url)
    assert await client.tag_exists(REPO, "0.62.0") is True
    assert await client.tag_exists(REPO, "v0.62.0") is False
    # The first HEAD met the challenge, a token was fetched once and reused.
    assert registry.count("GET", "/token") == 1
    assert registry.count("HEAD", f"{MANIFESTS}/0.62.0") == 2
    assert registry.count("HEAD", f"{MANIFESTS}/v0.62.0") == 1
    (token_request,) = [r for r in registry.requests if r.path == "/token"]
    assert token_request.query == {
        "scope": f"repository:{REPO}:pull",
        "service": "registry.docker.io",
    }
    assert "Authorization" not in token_request.headers  # anonymous


async def test_every_manifest_kind_is_accepted_and_the_digest_reported(
    http: aiohttp.ClientSession, registry: DockerRegistryFake
) -> None:
    registry.add_image("org/single", "1.0.0", media_type=DOCKER_V2)
    client = RegistryClient(http, registry.url)
    index = await client.manifest(REPO, "0.62.0")
    assert index is not None and index.digest == registry.digest(REPO, "0.62.0")
    assert index.media_type == "application/vnd.oci.image.index.v1+json"
    single = await client.manifest("org/single", "1.0.0")
    assert single is not None and single.media_type == DOCKER_V2
    accept = registry.manifest_requests()[-1].headers["Accept"]
    assert [t.strip() for t in accept.split(",")] == list(MANIFEST_TYPES)


async def test_without_the_index_accept_header_the_registry_hides_an_index(
    http: aiohttp.ClientSession, registry: DockerRegistryFake
) -> None:
    """What the Accept header protects against: the fake answers like distribution."""
    async with http.get(
        f"{registry.url}/token",
        params={"service": "registry.docker.io", "scope": f"repository:{REPO}:pull"},
    ) as reply:
        token = (await reply.json())["token"]
    auth = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{registry.url}{MANIFESTS}/0.62.0", headers=auth) as plain:
        assert plain.status == 404
        assert (await plain.json())["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    async with http.get(f"{registry.url}{MANIFESTS}/0.62.0") as anonymous:
        assert anonymous.status == 401
        assert (
            'scope="repository:aztecprotocol/aztec:pull"' in anonymous.headers["WWW-Authenticate"]
        )


async def test_a_private_repository_needs_the_credentials(
    http: aiohttp.ClientSession, registry: DockerRegistryFake
) -> None:
    registry.add_image("team/node", "1.2.3", private=True)
    registry.users["deployer"] = "s3cret"
    with pytest.raises(RegistryDenied, match="team/node"):
        await RegistryClient(http, registry.url).tag_exists("team/node", "1.2.3")
    wrong = RegistryClient(http, registry.url, username="deployer", password="guess")
    with pytest.raises(RegistryDenied, match="refused the credentials"):
        await wrong.tag_exists("team/node", "1.2.3")
    right = RegistryClient(http, registry.url, username="deployer", password="s3cret")
    assert await right.tag_exists("team/node", "1.2.3") is True
    assert await right.tag_exists("team/node", "9.9.9") is False
    assert "s3cret" not in repr(right)


async def test_an_expired_token_is_renewed(
    http: aiohttp.ClientSession, registry: DockerRegistryFake
) -> None:
    now = [1000.0]
    client = RegistryClient(http, registry.url, clock=lambda: now[0])
    assert await client.tag_exists(REPO, "0.61.0")
    assert await client.tag_exists(REPO, "0.61.0")
    assert registry.count("GET", "/token") == 1
    now[0] += registry.token_seconds  # past the token's lifetime
    assert await client.tag_exists(REPO, "0.61.0")
    assert registry.count("GET", "/token") == 2


@pytest.mark.parametrize("status", [503, 429])
async def test_a_failing_registry_is_unreachable_not_missing(
    http: aiohttp.ClientSession, registry: DockerRegistryFake, status: int
) -> None:
    registry.fail_status = status
    with pytest.raises(RegistryUnreachable, match=str(status)):
        await RegistryClient(http, registry.url).tag_exists(REPO, "0.62.0")
    registry.fail_status = None
    assert await RegistryClient(http, registry.url).tag_exists(REPO, "0.62.0")


async def test_a_closed_port_is_unreachable(http: aiohttp.ClientSession) -> None:
    client = RegistryClient(http, closed_port_url(), timeout=5)
    with pytest.raises(RegistryUnreachable, match="cannot reach"):
        await client.tag_exists(REPO, "0.62.0")
