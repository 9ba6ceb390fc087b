"""What the release commands are handed: GitHub, the clone, the package and page
probes, and the wake-up a GitHub webhook gives to whoever follows a release."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from bot.config import ReleaseConfig
from bot.context import Context, ServiceKey, Services
from bot.core import Actor, MessageRef
from commands.versions import Version

if TYPE_CHECKING:
    from integrations.git import GitRepo
    from integrations.github import GitHubClient


class PackageIndex(Protocol):
    """The npm registry, as the checklist asks it."""

    async def has_version(self, package: str, version: str, *, timeout: float) -> bool:
        """Whether ``package`` is published at ``version``; raises when it cannot say."""
        ...


class PageProbe(Protocol):
    """An HTTP GET reduced to its status."""

    async def status(self, url: str, *, timeout: float) -> int:
        """The status ``url`` answers with; raises when it cannot be reached."""
        ...


class ImageIndex(Protocol):
    """A container registry, as the checklist asks it."""

    async def tag_exists(self, repository: str, tag: str) -> bool:
        """Whether ``repository:tag`` exists; raises when the registry cannot say."""
        ...


@dataclass
class ReleaseTools:
    """The services of the release capability (the composition root builds them)."""

    repo: str
    """owner/name of the repository released."""
    github: GitHubClient
    open_clone: Callable[[], Awaitable[GitRepo]]
    """Clone (or fetch) the repository into the work directory."""
    packages: PackageIndex
    images: ImageIndex
    pages: PageProbe
    git_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """One git operation at a time: the clone has one index and one work tree."""
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _generation: int = 0

    @property
    def repo_name(self) -> str:
        """The repository's name without its owner (``aztec-packages``)."""
        return self.repo.split("/", 1)[1]

    async def poke(self) -> None:
        """Wake everyone following a release: something changed on GitHub."""
        async with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def generation(self) -> int:
        """A counter :meth:`poke` bumps; pass it to :meth:`wait_for_change`."""
        return self._generation

    async def wait_for_change(self, since: int, *, timeout: float) -> bool:
        """Wait until :meth:`poke` is called after generation ``since`` or ``timeout``
        passes; True when poked."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: self._generation != since)
        except TimeoutError:
            return False
        return True


RELEASE: ServiceKey[ReleaseTools] = ServiceKey(
    "release tools",
    "Releases need GitHub: set `github:` (repo and token) in the config, "
    "and `release:` for the branch and artifacts.",
)
"""The release capability's services."""


def tools(ctx: Context | Services) -> ReleaseTools:
    """The release services, or a :class:`CommandError` saying how to set them up."""
    services = ctx.services if isinstance(ctx, Context) else ctx
    return services.need(RELEASE)


def branch_name(config: ReleaseConfig, repo_name: str, version: Version) -> str:
    """The release branch (and release tag) of ``version``: ``aztec-packages-v0.62.0``."""
    return config.branch_template.format(
        repo_name=repo_name, version=version.text, semver=version.semver
    )


def mention(actor: Actor) -> str:
    """How to call ``actor`` in a message on their platform."""
    if actor.platform in {"slack", "discord"}:
        return f"<@{actor.id}>"
    return actor.name


def short(sha: str) -> str:
    """A commit's short form."""
    return sha[:10]


class Progress(Protocol):
    """Where a release run reports: a message edited in place and replies."""

    async def reply(self, text: str) -> MessageRef: ...

    async def update(self, ref: MessageRef, text: str) -> None: ...


async def poll(
    kit: ReleaseTools,
    step: Callable[[], Awaitable[bool]],
    *,
    first: float,
    most: float,
    until: float,
    clock: Callable[[], float],
) -> bool:
    """Call ``step`` until it returns True, waiting ``first`` seconds between calls and
    doubling up to ``most``; a :meth:`ReleaseTools.poke` (a GitHub webhook) cuts a wait
    short. False when the clock passes ``until`` first."""
    interval = first
    while True:
        generation = kit.generation()
        if await step():
            return True
        left = until - clock()
        if left <= 0:
            return False
        if await kit.wait_for_change(generation, timeout=min(interval, left)):
            continue  # poked: look now, and keep the current interval
        interval = min(interval * 2, most)
