"""Release versions as typed in chat: ``vMAJOR.MINOR.PATCH[-PRERELEASE]``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(
    r"v(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})(-[0-9A-Za-z][0-9A-Za-z.-]{0,40})?"
)
MAX_LENGTH = 64


@dataclass(frozen=True, order=True)
class Version:
    """A release version; parsing refuses anything that is not exactly one."""

    text: str

    @classmethod
    def parse(cls, text: str) -> Version:
        """Accept ``v0.62.0`` or ``v1.2.3-rc.1``; raise ValueError with the reason otherwise."""
        shown = text if len(text) <= 40 else text[:37] + "..."
        if len(text) > MAX_LENGTH or not _VERSION.fullmatch(text):
            raise ValueError(
                f"`{shown}` is not a release version; use vMAJOR.MINOR.PATCH, e.g. v0.62.0"
            )
        return cls(text)

    def tag(self, template: str) -> str:
        """The image tag for this version (``networks.<n>.tag_template``)."""
        return template.format(version=self.text)

    def __str__(self) -> str:
        return self.text
