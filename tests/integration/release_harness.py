"""Everything a release scenario talks to: a real bare repository, the GitHub fake over
it, the npm and Docker registry fakes and a docs page, and a bot configured for them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.config import BotConfig
from tests.fakes.docker_registry import DockerRegistryFake
from tests.fakes.git_remote import SeededRemote, seed_remote
from tests.fakes.github_release import ReleaseGitHubFake
from tests.fakes.npm_registry import NpmRegistryFake
from tests.harness import make_config

TOKEN = "ghp_releaseTOKEN0123456789abcdef"
REPO = "AztecProtocol/aztec-packages"
WORKFLOW = "release-please.yml"
BRANCH = "aztec-packages-v0.62.0"
WEBHOOK_SECRET = "whsec-release-0123"
ASSETS = ["barretenberg-x86_64-linux-gnu.tar.gz", "barretenberg.wasm.tar.gz"]
PACKAGES = ["@aztec/bb.js", "@aztec/l1-contracts"]
IMAGES = ["aztecprotocol/aztec", "aztecprotocol/aztec-nargo"]


class DocsSite:
    """A docs page that answers ``status`` (200 by default), or never when ``hang``."""

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.hang = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    async def __aenter__(self) -> DocsSite:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._page)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _page(self, request: web.Request) -> web.Response:
        if self.hang.is_set():
            await self._closing.wait()
        if self.delay:
            await asyncio.sleep(self.delay)  # the site's own latency
        return web.Response(status=self.status, text="<html>docs</html>")


@dataclass
class ReleaseWorld:
    """The fakes of one scenario."""

    remote: SeededRemote
    gh: ReleaseGitHubFake
    npm: NpmRegistryFake
    docker: DockerRegistryFake
    docs: DocsSite
    tmp: Path

    def config(self, **release: Any) -> BotConfig:
        """A bot configured for these fakes (``release`` overrides ``release:`` keys)."""
        return make_config(self.tmp, **self.sections(**release))

    def sections(self, **release: Any) -> dict[str, Any]:
        """The ``github:`` and ``release:`` config sections for these fakes."""
        settings: dict[str, Any] = {
            "git_url": self.remote.file_url,
            "workdir": str(self.tmp / "clone"),
            "required_prs": "label:release-{version}",
            "workflow": WORKFLOW,
            "assets": ASSETS,
            "npm_registry": self.npm.url,
            "npm_packages": PACKAGES,
            "docker_images": IMAGES,
            "docker_registry": {"url": self.docker.url, "timeout": "1s"},
            "docs_url": self.docs.url + "/docs/{semver}",
            "check_timeout": "1s",
            "find_run_timeout": "5s",
            "watch_interval": 0.05,
            "watch_max_interval": 0.2,
            "watch_timeout": "20s",
            "webhook_secret": WEBHOOK_SECRET,
            **release,
        }
        return {
            "github": {"repo": REPO, "token": TOKEN, "api_url": self.gh.url},
            "release": settings,
        }

    def publish_everything(self, version: str = "0.62.0") -> None:
        """What a successful release workflow publishes."""
        self.gh.add_release(BRANCH, assets=list(ASSETS), body="## Features\n- things")
        for package in PACKAGES:
            self.npm.publish(package, "0.61.0", version)
        for image in IMAGES:
            self.docker.add_image(image, version)


@asynccontextmanager
async def release_world(tmp: Path) -> AsyncIterator[ReleaseWorld]:
    """Start every fake; stop them at the end."""
    remote = seed_remote(tmp / "remote")
    async with AsyncExitStack() as stack:
        gh = await stack.enter_async_context(
            ReleaseGitHubFake(
                token=TOKEN,
                repo=REPO,
                git_dir=remote.path,
                push_workflows={"aztec-packages-v": WORKFLOW},
                workflow_inputs={"deploy-network.yml": {"version", "network"}},
            )
        )
        npm = await stack.enter_async_context(NpmRegistryFake())
        docker = await stack.enter_async_context(DockerRegistryFake())
        docs = await stack.enter_async_context(DocsSite())
        yield ReleaseWorld(remote, gh, npm, docker, docs, tmp)
