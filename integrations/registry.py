"""A Docker registry (distribution v2 API) client: does a tag exist, and what is its
manifest's digest.

It asks with ``HEAD /v2/<repository>/manifests/<reference>`` and the Accept headers
of every manifest kind a multi-platform image may have (OCI index, Docker manifest
list, Docker v2 and OCI manifests). A 401 carrying a ``Bearer`` challenge
(``realm``, ``service``, ``scope``) is answered the registry's way: a token from the
realm (anonymous, or with Basic credentials for a private registry), kept until it
expires, then the request again. A ``Basic`` challenge is answered with the
credentials directly. Only ``HEAD`` is sent: no manifest body is downloaded
(Docker Hub meters manifest ``GET`` s as pulls).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp

from integrations.image_refs import RegistryDenied, RegistryUnreachable

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
DEFAULT_TOKEN_SECONDS = 60.0
"""The token specification's lifetime for a token whose reply gives none."""

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Manifest:
    """What the registry says about one tag or digest."""

    digest: str | None
    media_type: str


@dataclass
class _Token:
    value: str
    expires_at: float


class RegistryClient:
    """One registry, reached at ``base_url`` (``https://registry-1.docker.io``)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")
        self._basic = (
            aiohttp.encode_basic_auth(username, password)
            if username is not None and password is not None
            else None
        )
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._tokens: dict[str, _Token] = {}

    def __repr__(self) -> str:
        return f"RegistryClient({self.base_url!r})"

    async def tag_exists(self, repository: str, tag: str) -> bool:
        """Whether ``repository`` (``aztecprotocol/aztec``) has ``tag``.

        RegistryDenied if the registry refuses access (which Docker Hub also answers
        for a repository that does not exist), RegistryUnreachable if it cannot tell.
        """
        return await self.manifest(repository, tag) is not None

    async def manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest ``reference`` (tag or digest) names, None if there is none."""
        url = f"{self.base_url}/v2/{repository}/manifests/{quote(reference, safe=':')}"
        scope = f"repository:{repository}:pull"
        response = await self._head(url, self._auth_header(scope))
        if response.status == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            response = await self._head(url, await self._answer(challenge, scope))
            if response.status == 401:
                raise RegistryDenied(
                    f"{self.base_url} refused to show `{repository}` "
                    "(no such repository, or it needs credentials)"
                )
        if response.status == 404:
            return None
        if response.status == 403:
            raise RegistryDenied(f"{self.base_url} denied access to `{repository}`")
        if response.status == 429:
            raise RegistryUnreachable(f"{self.base_url} is rate limiting requests (429)")
        if response.status != 200:
            raise RegistryUnreachable(f"{self.base_url} answered {response.status}")
        return Manifest(
            digest=response.headers.get("Docker-Content-Digest"),
            media_type=response.headers.get("Content-Type", "").split(";")[0],
        )

    # ------------------------------------------------------------ internals

    def _auth_header(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        if token is not None and token.expires_at > self._clock():
            return {"Authorization": f"Bearer {token.value}"}
        return {}

    async def _answer(self, challenge: str, scope: str) -> dict[str, str]:
        """Headers that answer a 401's ``WWW-Authenticate`` challenge."""
        scheme, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE_PARAM.findall(params_text))
        if scheme.lower() == "basic":
            if self._basic is None:
                raise RegistryDenied(f"{self.base_url} needs a username and password")
            return {"Authorization": self._basic}
        if scheme.lower() != "bearer" or "realm" not in params:
            raise RegistryDenied(f"{self.base_url} asked for unsupported auth: {scheme or '?'}")
        query = {"scope": params.get("scope") or scope}
        if "service" in params:
            query["service"] = params["service"]
        try:
            credentials = {"Authorization": self._basic} if self._basic else {}
            async with self._http.get(
                params["realm"], params=query, headers=credentials, timeout=self._timeout
            ) as reply:
                if reply.status in (401, 403):
                    raise RegistryDenied(
                        f"the token service of {self.base_url} refused the credentials"
                    )
                if reply.status != 200:
                    raise RegistryUnreachable(
                        f"the token service of {self.base_url} answered {reply.status}"
                    )
                body = await reply.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise RegistryUnreachable(
                f"cannot get a token for {self.base_url}: {_describe(exc)}"
            ) from None
        value = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise RegistryUnreachable(f"the token service of {self.base_url} sent no token")
        lifetime = body.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else DEFAULT_TOKEN_SECONDS
        # Renew a little early so a token never expires between check and use.
        self._tokens[scope] = _Token(value, self._clock() + max(seconds - 5.0, 1.0))
        return {"Authorization": f"Bearer {value}"}

    async def _head(self, url: str, headers: dict[str, str]) -> aiohttp.ClientResponse:
        try:
            async with self._http.head(
                url,
                headers={"Accept": ", ".join(MANIFEST_TYPES), **headers},
                timeout=self._timeout,
                allow_redirects=True,
            ) as response:
                return response
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RegistryUnreachable(f"cannot reach {self.base_url}: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
