"""Release versions as typed in chat, and how a version becomes an image tag.

A version is ``MAJOR.MINOR.PATCH`` with an optional pre-release (``-rc1``,
``-rc.1``) and an optional leading ``v``; it is kept normalised with the ``v``
(``0.62.0`` and ``v0.62.0`` are the same release). A tag template names the
parts a registry's tags are made of: ``{version}`` (``v0.62.0``), ``{semver}``
(``0.62.0``) and ``{sha}`` (the commit a ``${SEMVER}-${SHORT_SHA}`` tag ends in).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from integrations.image_refs import template_fields

_VERSION = re.compile(
    r"v?(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})(-[0-9A-Za-z][0-9A-Za-z.-]{0,40})?"
)
_SHA = re.compile(r"[0-9a-f]{7,40}")
MAX_LENGTH = 64


@dataclass(frozen=True, order=True)
class Version:
    """A release version; parsing refuses anything that is not exactly one."""

    text: str
    """Normalised with the leading ``v``: ``v0.62.0``, ``v2.2.0-rc1``."""

    @classmethod
    def parse(cls, text: str) -> Version:
        """Accept ``v0.62.0``, ``0.62.0`` or ``v1.2.3-rc.1``; raise ValueError with the
        reason otherwise."""
        shown = text if len(text) <= 40 else text[:37] + "..."
        if len(text) > MAX_LENGTH or not _VERSION.fullmatch(text):
            raise ValueError(
                f"`{shown}` is not a release version; use MAJOR.MINOR.PATCH, e.g. v0.62.0 or 0.62.0"
            )
        return cls(text if text.startswith("v") else f"v{text}")

    @property
    def semver(self) -> str:
        """The version without its ``v``: ``0.62.0``."""
        return self.text[1:]

    def tag(self, template: str) -> str:
        """The image tag for this version (``networks.<n>.tag_template``).

        When the template has ``{sha}``, the version must end in the commit's short
        sha (``v0.5.0-a1b2c3d``): it fills ``{sha}`` and ``{version}``/``{semver}``
        are what comes before it. ValueError says what is missing otherwise.
        """
        fields = template_fields(template)
        version, sha = self.text, ""
        if "sha" in fields:
            head, _, tail = self.text.rpartition("-")
            if not head or not _SHA.fullmatch(tail):
                raise ValueError(
                    f"this network's image tags end in a commit (`{template}`): give the "
                    f"version with its short sha, e.g. `{self.text}-a1b2c3d`"
                )
            version, sha = head, tail
        return template.format(version=version, semver=version[1:], sha=sha)

    def __str__(self) -> str:
        return self.text
