"""An HTTP-level fake of the npm registry's read API (registry.npmjs.org)::

    async with NpmRegistryFake() as npm:
        npm.publish("@aztec/bb.js", "0.61.0", "0.62.0")
        # GET {npm.url}/@aztec%2fbb.js        → the packument
        # GET {npm.url}/@aztec/bb.js/0.62.0   → one version's manifest
        assert npm.count("/@aztec/bb.js") == 1

Shapes as the registry's "package metadata" documentation describes them:

- ``GET /<package>``: the full packument — ``_id``, ``_rev``, ``name``, ``description``,
  ``dist-tags``, ``versions`` (each a full manifest), ``time`` (``created``, ``modified``
  and one timestamp per version), ``maintainers``, ``license``, ``readme`` — as
  ``application/json``. With ``Accept: application/vnd.npm.install-v1+json`` the
  abbreviated document instead: ``name``, ``modified``, ``dist-tags`` and ``versions``
  holding only what an install needs (``name``, ``version``, ``dist``, ``dependencies``,
  ``engines``), served with that media type.
- A scoped name may be sent encoded (``/@aztec%2fbb.js``, what npm itself sends) or raw
  (``/@aztec/bb.js``); both name the same package.
- ``GET /<package>/<version>`` and ``GET /<package>/<dist-tag>``: one manifest (``_id``
  ``<name>@<version>``, ``dist.tarball``, ``dist.shasum``, ``dist.integrity``).
- Unknown package: 404 ``{"error":"Not found"}``; unknown version of a known package:
  404 ``"version not found: <version>"`` (a JSON string, as the registry answers).
- ``GET /-/ping``: ``{}``.

Faults: :meth:`slow` delays every answer by some seconds (set it above a client's
timeout to make the registry hang), :meth:`down` answers 503, :meth:`up` restores
normal service. Every request is recorded in :attr:`requests`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from tests.fakes.serving import serve

ABBREVIATED = "application/vnd.npm.install-v1+json"
NOT_FOUND = {"error": "Not found"}
_EPOCH = datetime(2024, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class NpmRequest:
    """One request the fake received: ``path`` is decoded (``/@aztec/bb.js``), ``raw_path`` not."""

    method: str
    path: str
    raw_path: str
    accept: str


@dataclass
class _Package:
    name: str
    times: dict[str, str] = field(default_factory=dict)
    dist_tags: dict[str, str] = field(default_factory=dict)
    created: str = ""


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class NpmRegistryFake:
    """The npm registry's read API on 127.0.0.1; see the module docstring."""

    def __init__(self) -> None:
        self.requests: list[NpmRequest] = []
        self.url = ""
        self.delay = 0.0
        self.status: int | None = None
        self._packages: dict[str, _Package] = {}
        self._published = 0
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> NpmRegistryFake:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner, self.url = await serve(app)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------ content and faults

    def publish(self, name: str, *versions: str, tag: str = "latest") -> None:
        """Publish ``versions`` of ``name`` in order; ``tag`` then points at the last one."""
        package = self._packages.setdefault(name, _Package(name=name))
        for version in versions:
            moment = _EPOCH + timedelta(hours=self._published)
            self._published += 1
            package.created = package.created or _iso(moment)
            package.times[version] = _iso(moment)
            package.dist_tags[tag] = version

    def tag(self, name: str, tag: str, version: str) -> None:
        """Point dist-tag ``tag`` of ``name`` at a published ``version``."""
        if version not in self._packages[name].times:
            raise KeyError(f"{name}@{version} is not published")
        self._packages[name].dist_tags[tag] = version

    def slow(self, seconds: float) -> None:
        """Answer every request ``seconds`` late."""
        self.delay = seconds

    def down(self, status: int = 503) -> None:
        """Answer every request with ``status``."""
        self.status = status

    def up(self) -> None:
        """Answer promptly and normally again."""
        self.delay = 0.0
        self.status = None

    def count(self, path: str) -> int:
        """How many requests named ``path`` (decoded, e.g. ``/@aztec/bb.js``)."""
        return sum(1 for r in self.requests if r.path == path)

    # ------------------------------------------------------------ documents

    def _manifest(self, name: str, version: str) -> dict[str, Any]:
        basename = name.rsplit("/", 1)[-1]
        tarball = f"{name}-{version}".encode()
        return {
            "_id": f"{name}@{version}",
            "name": name,
            "version": version,
            "description": f"{name} for the Aztec network",
            "main": "dest/index.js",
            "license": "Apache-2.0",
            "engines": {"node": ">=18"},
            "dependencies": {"tslib": "^2.4.0"},
            "dist": {
                "tarball": f"{self.url}/{name}/-/{basename}-{version}.tgz",
                "shasum": hashlib.sha1(tarball).hexdigest(),
                "integrity": "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode(),
                "fileCount": 42,
                "unpackedSize": 123456,
            },
            "_npmUser": {"name": "aztecprotocol-ci", "email": "ci@aztec.example"},
        }

    def _packument(self, package: _Package) -> dict[str, Any]:
        modified = max(package.times.values())
        return {
            "_id": package.name,
            "_rev": f"{len(package.times)}-{hashlib.md5(package.name.encode()).hexdigest()}",
            "name": package.name,
            "description": f"{package.name} for the Aztec network",
            "dist-tags": dict(package.dist_tags),
            "versions": {v: self._manifest(package.name, v) for v in package.times},
            "time": {"created": package.created, "modified": modified, **package.times},
            "maintainers": [{"name": "aztecprotocol-ci", "email": "ci@aztec.example"}],
            "license": "Apache-2.0",
            "readme": f"# {package.name}\n",
            "readmeFilename": "README.md",
        }

    def _abbreviated(self, package: _Package) -> dict[str, Any]:
        keep = ("name", "version", "dist", "dependencies", "engines")
        return {
            "name": package.name,
            "modified": max(package.times.values()),
            "dist-tags": dict(package.dist_tags),
            "versions": {
                v: {k: m[k] for k in keep if k in m}
                for v, m in ((v, self._manifest(package.name, v)) for v in package.times)
            },
        }

    # ------------------------------------------------------------ handler

    @staticmethod
    def _split(raw_path: str) -> tuple[str, str | None] | None:
        """``(package, version-or-tag)`` from a raw path; None if it names no package."""
        segments = [unquote(s) for s in raw_path.split("?", 1)[0].split("/") if s]
        if not segments:
            return None
        if segments[0].startswith("@") and "/" not in segments[0]:
            if len(segments) < 2:
                return None
            segments = [f"{segments[0]}/{segments[1]}", *segments[2:]]
        if len(segments) > 2:
            return None
        return segments[0], (segments[1] if len(segments) == 2 else None)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            NpmRequest(request.method, request.path, request.raw_path, request.headers.get("Accept", ""))
        )
        if self.delay:
            await asyncio.sleep(self.delay)  # the fake's own latency, not a test waiting
        if self.status is not None:
            return web.Response(status=self.status, text="Service Unavailable")
        if request.path == "/-/ping":
            return _json({})
        parsed = self._split(request.raw_path)
        package = self._packages.get(parsed[0]) if parsed else None
        if parsed is None or package is None:
            return _json(NOT_FOUND, status=404)
        name, wanted = parsed
        if wanted is None:
            if ABBREVIATED in request.headers.get("Accept", ""):
                return _json(self._abbreviated(package), content_type=ABBREVIATED)
            return _json(self._packument(package))
        version = package.dist_tags.get(wanted, wanted)
        if version not in package.times:
            return _json(f"version not found: {wanted}", status=404)
        return _json(self._manifest(name, version))


def _json(body: Any, *, status: int = 200, content_type: str = "application/json") -> web.Response:
    text = json.dumps(body)
    etag = '"' + hashlib.md5(text.encode()).hexdigest() + '"'
    return web.Response(
        status=status, body=text.encode(), headers={"Content-Type": content_type, "ETag": etag}
    )
