"""Image references and tag forms, without any HTTP: where an image's registry is,
what shape its tags have, and the errors a registry check can end in.

Kept free of SDK imports so commands and the configuration can use it.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "https://registry-1.docker.io"
"""Docker Hub's registry API host (its token service is auth.docker.io)."""

TEMPLATE_FIELDS = ("version", "semver", "sha")
"""What a ``tag_template`` may substitute."""

_TAG_FORMS = (
    # (template, pattern): a trailing short sha is tried before a plain pre-release.
    ("{version}-{sha}", r"v\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?-(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}"),
    ("{semver}-{sha}", r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?-(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}"),
    ("{version}", r"v\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?"),
    ("{semver}", r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?"),
)


class RegistryCheckError(Exception):
    """A registry could not say whether a tag exists."""


class RegistryUnreachable(RegistryCheckError):
    """The registry did not answer usefully (connection, timeout, 5xx, rate limit)."""


class RegistryDenied(RegistryCheckError):
    """The registry refused access: bad credentials, a private or unknown repository."""


def template_fields(template: str) -> set[str]:
    """The fields ``template`` substitutes; ValueError unless it uses only
    :data:`TEMPLATE_FIELDS` and has ``{version}`` or ``{semver}`` among them."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc})") from None
    fields = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            raise ValueError(
                f"`{{{name}}}` cannot be substituted; use {{version}}, {{semver}} or {{sha}}"
            )
        fields.add(name)
    if not fields & {"version", "semver"}:
        raise ValueError("must contain {version} (v0.62.0) or {semver} (0.62.0)")
    return fields


def tag_form(tag: str | None) -> str | None:
    """The template that makes tags shaped like ``tag`` (``0.61.0`` → ``{semver}``,
    ``v0.5.0-a1b2c3d`` → ``{version}-{sha}``); None for ``latest``, digests and the like."""
    if not tag:
        return None
    for template, pattern in _TAG_FORMS:
        if re.fullmatch(pattern, tag):
            return template
    return None


@dataclass(frozen=True)
class RegistryRepository:
    """A repository as its registry names it: ``docker.io`` + ``library/ubuntu``."""

    host: str
    path: str

    @property
    def api_url(self) -> str:
        """The registry's API base URL (Docker Hub's lives at registry-1.docker.io)."""
        return DOCKER_HUB_API if self.host == DOCKER_HUB else f"https://{self.host}"


def locate(repository: str) -> RegistryRepository:
    """Where an image repository lives, the way Docker resolves names: a first path
    part with a dot or a port, or ``localhost``, is a registry host; anything else is
    on Docker Hub, where single names are under ``library/``. Tags and digests are
    ignored."""
    name = repository.partition("@")[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name = name[:colon]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = DOCKER_HUB, name
    if host in ("index.docker.io", "registry-1.docker.io"):
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return RegistryRepository(host=host, path=path)
