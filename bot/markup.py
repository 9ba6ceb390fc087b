"""Neutral message parts that every chat adapter renders in its own markup.

Commands and workflows write plain text with ``*bold*`` and ```code``` and put these
parts in it with ``str(part)`` (an f-string does that): a :class:`Mention` of a group,
a :class:`Link`, a :class:`ChannelRef`. They travel through the outbox as text, and
each adapter turns them into its platform's syntax with :func:`render` (the shell
writes plain words), so no platform's syntax is written outside its adapter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_OPEN, _CLOSE = "\u27e6", "\u27e7"
"""Delimiters of a part in text (⟦ ⟧): never produced by :func:`escape`d values."""
_PART = re.compile(
    f"{_OPEN}(group|channel):([^{_CLOSE}]*){_CLOSE}"
    f"|{_OPEN}link:([^{_CLOSE}]*){_CLOSE}(.*?){_OPEN}/link{_CLOSE}",
    re.S,
)


@dataclass(frozen=True)
class Mention:
    """A mention of a group of people: a Slack user group id, a Discord role id."""

    group: str

    def __str__(self) -> str:
        return f"{_OPEN}group:{escape(self.group)}{_CLOSE}"


@dataclass(frozen=True)
class Link:
    """A link with its text."""

    url: str
    text: str

    def __str__(self) -> str:
        return f"{_OPEN}link:{escape(self.url)}{_CLOSE}{escape(self.text)}{_OPEN}/link{_CLOSE}"


@dataclass(frozen=True)
class ChannelRef:
    """A reference to a chat channel by its destination (``<platform>:<channel id>``)."""

    destination: str

    def __str__(self) -> str:
        return f"{_OPEN}channel:{escape(self.destination)}{_CLOSE}"


Part = Mention | Link | ChannelRef


def escape(text: str) -> str:
    """``text`` with the part delimiters replaced, so outside input (an alert's label,
    a user's note) can never become a mention or a link."""
    return text.replace(_OPEN, "[").replace(_CLOSE, "]")


def _parse(m: re.Match[str]) -> Part:
    if m[1] == "group":
        return Mention(m[2])
    if m[1] == "channel":
        return ChannelRef(m[2])
    return Link(m[3], m[4] or m[3])


def render(text: str, part: Callable[[Part], str]) -> str:
    """``text`` with every part replaced by what ``part`` renders for it."""
    return _PART.sub(lambda m: part(_parse(m)), text)


def plain(p: Part) -> str:
    """A part as plain words (terminals, logs, platforms without the feature)."""
    if isinstance(p, Mention):
        return f"@{p.group}"
    if isinstance(p, Link):
        return p.text if p.text == p.url else f"{p.text} ({p.url})"
    return "#" + p.destination.partition(":")[2]
