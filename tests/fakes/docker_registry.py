"""An HTTP-level fake of a Docker registry (the distribution v2 API) and its token
service, shaped like Docker Hub's registry-1.docker.io + auth.docker.io::

    async with DockerRegistryFake() as registry:
        registry.add_image("aztecprotocol/aztec", "0.61.0", "0.62.0")
        ...
        assert registry.count("HEAD", "/v2/aztecprotocol/aztec/manifests/0.62.0") == 1

What it does, as the distribution specification describes:

- ``GET /v2/`` and every manifest request without a valid token answer 401 with
  ``WWW-Authenticate: Bearer realm="<url>/token",service="<service>"`` (plus
  ``scope="repository:<name>:pull"`` on a repository's resources) and an
  ``UNAUTHORIZED`` error body.
- ``GET /token?service=…&scope=repository:<name>:pull`` hands out a token with
  ``token``, ``access_token``, ``expires_in`` and ``issued_at``. Anonymous callers get
  pull access to public repositories only; a private repository needs Basic
  credentials of a user of :attr:`users`; wrong credentials answer 401. Like Docker
  Hub, a token is issued even when nothing is granted, so an unknown or private
  repository then answers 401 on the manifest itself.
- ``HEAD``/``GET /v2/<name>/manifests/<tag or digest>``: 200 with ``Content-Type``
  (the manifest's media type), ``Docker-Content-Digest`` and ``Content-Length``
  (``HEAD`` without a body); 404 ``MANIFEST_UNKNOWN`` for a missing tag; an index
  (OCI index, Docker manifest list) whose type the ``Accept`` header does not list is
  404 too, as distribution answers clients that cannot read indexes.

Faults: :attr:`fail_status` answers every ``/v2`` request with that status
(``503``, or ``429`` with ``TOOMANYREQUESTS``); :attr:`token_seconds` sets the
lifetime of tokens. Every request is in :attr:`requests`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.serving import serve

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Grant:
    repositories: frozenset[str]
    expires_at: float


@dataclass
class _Repository:
    private: bool
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # tag → type, body


class DockerRegistryFake:
    """A registry with a token service on 127.0.0.1; see the module docstring."""

    def __init__(self, *, service: str = "registry.docker.io", token_seconds: int = 300) -> None:
        self.service = service
        self.token_seconds = token_seconds
        self.users: dict[str, str] = {}
        self.fail_status: int | None = None
        self.requests: list[RecordedRequest] = []
        self._repos: dict[str, _Repository] = {}
        self._tokens: dict[str, _Grant] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> DockerRegistryFake:
        app = web.Application(middlewares=[self._log_mw])
        app.router.add_get("/token", self._token)
        app.router.add_get("/v2/", self._base)
        app.router.add_route("*", r"/v2/{name:.+}/manifests/{reference}", self._manifest)
        self._runner, self.url = await serve(app)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------ content

    def add_image(
        self, repository: str, *tags: str, media_type: str = OCI_INDEX, private: bool = False
    ) -> None:
        """Publish ``tags`` of ``repository`` (each with its own manifest)."""
        repo = self._repos.setdefault(repository, _Repository(private=private))
        for tag in tags:
            body = json.dumps(
                {"schemaVersion": 2, "mediaType": media_type, "tag": tag}, sort_keys=True
            ).encode()
            repo.manifests[tag] = (media_type, body)

    def digest(self, repository: str, tag: str) -> str:
        """The ``sha256:…`` digest of a published tag's manifest."""
        return _digest(self._repos[repository].manifests[tag][1])

    def count(self, method: str, path: str) -> int:
        """How many ``method`` requests hit exactly ``path``."""
        return sum(r.method == method and r.path == path for r in self.requests)

    def manifest_requests(self) -> list[RecordedRequest]:
        """Every request for a manifest, oldest first."""
        return [r for r in self.requests if "/manifests/" in r.path]

    # ------------------------------------------------------------ handlers

    @web.middleware
    async def _log_mw(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.query), dict(request.headers)
            )
        )
        if self.fail_status is not None and request.path.startswith("/v2"):
            if self.fail_status == 429:
                return _errors(429, "TOOMANYREQUESTS", "too many requests", request)
            return web.Response(status=self.fail_status, text="service unavailable")
        response: web.StreamResponse = await handler(request)
        response.headers["Docker-Distribution-Api-Version"] = "registry/2.0"
        return response

    async def _token(self, request: web.Request) -> web.Response:
        if request.query.get("service") != self.service:
            return web.json_response({"details": "invalid service"}, status=400)
        user = None
        auth = request.headers.get("Authorization", "")
        if auth:
            user = self._basic_user(auth)
            if user is None:
                return web.json_response({"details": "incorrect username or password"}, status=401)
        granted = set()
        for scope in request.query.getall("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            repo = self._repos.get(name)
            if kind == "repository" and "pull" in actions.split(",") and repo is not None:
                if not repo.private or user is not None:
                    granted.add(name)
        token = secrets.token_urlsafe(24)
        self._tokens[token] = _Grant(frozenset(granted), time.monotonic() + self.token_seconds)
        issued = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return web.json_response(
            {
                "token": token,
                "access_token": token,
                "expires_in": self.token_seconds,
                "issued_at": issued,
            }
        )

    async def _base(self, request: web.Request) -> web.StreamResponse:
        if self._grant(request) is None:
            return self._challenge(request, scope=None)
        return web.json_response({})

    async def _manifest(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return _errors(405, "UNSUPPORTED", "The operation is unsupported.", request)
        name, reference = request.match_info["name"], request.match_info["reference"]
        grant = self._grant(request)
        if grant is None or name not in grant.repositories:
            return self._challenge(request, scope=f"repository:{name}:pull")
        repo = self._repos[name]
        found = repo.manifests.get(reference)
        if found is None and reference.startswith("sha256:"):
            found = next((m for m in repo.manifests.values() if _digest(m[1]) == reference), None)
        if found is None:
            return _errors(404, "MANIFEST_UNKNOWN", "manifest unknown", request, reference)
        media_type, body = found
        accepted = {
            part.split(";")[0].strip()
            for value in request.headers.getall("Accept", [])
            for part in value.split(",")
        }
        if media_type in INDEX_TYPES and media_type not in accepted:
            return _errors(
                404,
                "MANIFEST_UNKNOWN",
                "OCI index found, but accept header does not support OCI indexes",
                request,
                reference,
            )
        headers = {
            "Content-Type": media_type,
            "Docker-Content-Digest": _digest(body),
            "Content-Length": str(len(body)),
            "ETag": f'"{_digest(body)}"',
        }
        if request.method == "HEAD":
            return web.Response(status=200, headers=headers)
        return web.Response(status=200, body=body, headers=headers)

    # ------------------------------------------------------------ helpers

    def _basic_user(self, header: str) -> str | None:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if self.users.get(user) == password and password:
            return user
        return None

    def _grant(self, request: web.Request) -> _Grant | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        grant = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if grant is None or grant.expires_at <= time.monotonic():
            return None
        return grant

    def _challenge(self, request: web.Request, *, scope: str | None) -> web.StreamResponse:
        value = f'Bearer realm="{self.url}/token",service="{self.service}"'
        if scope is not None:
            value += f',scope="{scope}"'
        response = _errors(401, "UNAUTHORIZED", "authentication required", request)
        response.headers["WWW-Authenticate"] = value
        return response


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _errors(
    status: int, code: str, message: str, request: web.Request, detail: Any = None
) -> web.Response:
    """The distribution API's error shape (no body for HEAD)."""
    if request.method == "HEAD":
        return web.Response(status=status, headers={"Content-Type": "application/json"})
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    return web.json_response(body, status=status)
