"""Registry clients for commands: one per registry URL and user, made on first use
from a network's ``registry:`` settings and the bot's HTTP session."""

from __future__ import annotations

import aiohttp

from bot.config import NetworkConfig, RegistryConfig
from integrations.image_refs import locate
from integrations.registry import RegistryClient


class RegistryAccess:
    """Answers "does this image tag exist?" for a network's images."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self._http = http
        self._clients: dict[tuple[str, str | None], RegistryClient] = {}

    def where(self, net: NetworkConfig, repository: str) -> str:
        """The registry URL that holds ``repository`` for ``net``."""
        return self._base_url(net.registry, repository)

    async def tag_exists(self, net: NetworkConfig, repository: str, tag: str) -> bool:
        """Whether ``repository:tag`` is in its registry.

        Raises RegistryDenied or RegistryUnreachable (``integrations.image_refs``)
        when the registry cannot tell.
        """
        client = self._client(net.registry, repository)
        return await client.tag_exists(locate(repository).path, tag)

    async def tag_exists_in(self, config: RegistryConfig, repository: str, tag: str) -> bool:
        """Whether ``repository:tag`` is in the registry ``config`` names (its URL, or
        the one the image name implies); the errors of :meth:`tag_exists`."""
        client = self._client(config, repository)
        return await client.tag_exists(locate(repository).path, tag)

    def _base_url(self, config: RegistryConfig, repository: str) -> str:
        if config.url is not None:
            return str(config.url).rstrip("/")
        return locate(repository).api_url

    def _client(self, config: RegistryConfig, repository: str) -> RegistryClient:
        url = self._base_url(config, repository)
        key = (url, config.username)
        if key not in self._clients:
            self._clients[key] = RegistryClient(
                self._http,
                url,
                username=config.username,
                password=config.password.get_secret_value() if config.password else None,
                timeout=config.timeout,
            )
        return self._clients[key]
