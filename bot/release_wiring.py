"""Composition of the release feature: GitHub, the clone, the npm, registry and page
probes behind :data:`~commands.release.tools.RELEASE`, and ``/hooks/github``."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp import web

from bot.config import BotConfig
from bot.context import Services
from bot.github_webhook import GitHubWebhook
from bot.registry_access import RegistryAccess
from commands.common import WORKFLOWS
from commands.release.tools import RELEASE, ReleaseTools
from integrations.git import GitIdentity, GitRepo
from integrations.github import GitHubClient
from integrations.npm import NpmRegistryClient
from integrations.probes import HttpProbes


class _Pages:
    def __init__(self, probes: HttpProbes) -> None:
        self._probes = probes

    async def status(self, url: str, *, timeout: float) -> int:
        return (await self._probes.get(url, timeout=timeout)).status


class _Images:
    def __init__(self, access: RegistryAccess, config: BotConfig) -> None:
        self._access = access
        self._registry = config.release.docker_registry

    async def tag_exists(self, repository: str, tag: str) -> bool:
        return await self._access.tag_exists_in(self._registry, repository, tag)


def release_tools(config: BotConfig, http: aiohttp.ClientSession) -> ReleaseTools | None:
    """The release services, or None when GitHub is not configured."""
    github = config.github
    if github is None:
        return None
    release = config.release
    repo = release.repo or github.repo
    token = github.token.get_secret_value()
    url = release.git_url or f"https://github.com/{repo}.git"
    identity = GitIdentity.parse(release.git_author)
    workdir = Path(release.workdir)

    async def open_clone() -> GitRepo:
        workdir.parent.mkdir(parents=True, exist_ok=True)
        return await GitRepo.clone_or_fetch(
            url,
            workdir,
            identity=identity,
            token=token,
            timeout=release.git_timeout,
            allow_file_protocol=url.startswith("file://"),
        )

    return ReleaseTools(
        repo=repo,
        github=GitHubClient(http, repo=repo, token=token, api_url=str(github.api_url)),
        open_clone=open_clone,
        packages=NpmRegistryClient(http, str(release.npm_registry)),
        images=_Images(RegistryAccess(http), config),
        pages=_Pages(HttpProbes(http)),
    )


def wire_release(
    services: Services, app: web.Application, http: aiohttp.ClientSession, *, background: bool
) -> None:
    """Provide :data:`RELEASE` and :data:`~commands.common.WORKFLOWS` when GitHub is
    configured; a bot (``background``) also mounts ``/hooks/github``."""
    kit = release_tools(services.config, http)
    if kit is not None:
        services.provide(RELEASE, kit)
        github = services.config.github
        assert github is not None
        services.provide(
            WORKFLOWS,
            GitHubClient(
                http,
                repo=github.repo,
                token=github.token.get_secret_value(),
                api_url=str(github.api_url),
            ),
        )
    if background:
        secret = services.config.release.webhook_secret
        GitHubWebhook(secret.get_secret_value() if secret else None, kit).mount(app)
