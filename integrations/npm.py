"""The npm registry: whether a package has a version, read from its abbreviated packument."""

from __future__ import annotations

import urllib.parse

import aiohttp

ABBREVIATED = "application/vnd.npm.install-v1+json"
"""The packument form installers ask for: versions without their READMEs."""


class NpmError(Exception):
    """The registry could not say (unreachable, 5xx, an unreadable answer)."""


class NpmRegistryClient:
    """Questions about published packages, through a session the caller owns."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")

    async def has_version(self, package: str, version: str, *, timeout: float) -> bool:
        """Whether ``package`` (``@scope/name`` or ``name``) is published at ``version``;
        False when the package is unknown; :class:`NpmError` when the registry cannot say."""
        url = f"{self.base_url}/{urllib.parse.quote(package, safe='@')}"
        try:
            async with self._session.get(
                url,
                headers={"Accept": f"{ABBREVIATED}; q=1.0, application/json; q=0.8"},
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                if response.status == 404:
                    return False
                if response.status != 200:
                    raise NpmError(f"{self.base_url} answered {response.status} for {package}")
                data = await response.json(content_type=None)
        except TimeoutError:
            raise NpmError(f"{self.base_url} did not answer within {timeout:g}s") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise NpmError(f"cannot read {package} from {self.base_url}: {exc}") from None
        versions = data.get("versions") if isinstance(data, dict) else None
        if not isinstance(versions, dict):
            raise NpmError(f"{self.base_url} sent a packument of {package} without versions")
        return version in versions
