"""The ``/testnet`` Discord command layout, derived from the command registry.

Plain data, no SDK: the Discord adapter turns it into discord.py's
``app_commands`` objects, and tests read it. Every registry command becomes a
subcommand of ``/testnet`` (``/testnet deploy``) or of a subcommand group
(``/testnet incident ack``); a command that is also the name of a group (``incident``
beside ``incident ack``) becomes the group's ``show`` subcommand.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from bot.registry import CommandSpec, Param, Registry

ROOT = "testnet"
ROOT_DESCRIPTION = "Deploy, check and operate the testnet"
NAME_LIMIT = 32
DESCRIPTION_LIMIT = 100
OPTIONS_MAX = 25
"""Discord's most options (or subcommands) under one command or group."""
CHOICES_MAX = 25
BARE_NAMES = ("show", "run", "view")
"""Names tried, in order, for a command that shares its name with a group."""
_INVALID = re.compile(r"[^-_a-z0-9]+")


class LayoutError(ValueError):
    """The registry cannot be expressed as a Discord command tree."""


def discord_name(text: str) -> str:
    """``text`` as a valid Discord command or option name: lower case, letters,
    digits, ``-`` and ``_`` only, at most 32 characters."""
    name = _INVALID.sub("-", text.lower()).strip("-")[:NAME_LIMIT]
    if not name:
        raise LayoutError(f"{text!r} has no characters Discord allows in a name")
    return name


def clip(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks a cut); never empty."""
    text = " ".join(text.split()) or "…"
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class OptionSchema:
    """One typed option of a subcommand."""

    name: str
    """As Discord shows it."""
    param: str
    """The handler's parameter name."""
    kind: str
    """``string``, ``integer``, ``number`` or ``boolean``."""
    description: str
    required: bool
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Leaf:
    """A subcommand that runs one registry command."""

    name: str
    description: str
    spec: CommandSpec
    options: tuple[OptionSchema, ...]


@dataclass(frozen=True)
class Group:
    """A subcommand group (``incident``) and its subcommands."""

    name: str
    description: str
    leaves: tuple[Leaf, ...]


def _kind(param: Param) -> str:
    if param.flag:
        return "boolean"
    return {"integer": "integer", "number": "number"}.get(param.type_name, "string")


def _option(param: Param) -> OptionSchema:
    choices = param.choices if 0 < len(param.choices) <= CHOICES_MAX else ()
    described = param.help or f"{param.name.replace('_', ' ')} ({param.type_name})"
    return OptionSchema(
        name=discord_name(param.name),
        param=param.name,
        kind=_kind(param),
        description=clip(described),
        required=param.required,
        choices=choices,
    )


def _leaf(name: str, spec: CommandSpec) -> Leaf:
    options = tuple(_option(p) for p in spec.params)
    if len(options) > OPTIONS_MAX:
        raise LayoutError(f"`{spec.name}` has more than {OPTIONS_MAX} parameters")
    return Leaf(discord_name(name), clip(spec.summary or spec.name), spec, options)


def layout(registry: Registry) -> tuple[Leaf | Group, ...]:
    """Every visible registry command placed under ``/testnet``, sorted by name.

    Raises :class:`LayoutError` when Discord's limits cannot hold the registry
    (more than 25 entries at a level, paths deeper than two words).
    """
    by_first: dict[str, list[CommandSpec]] = {}
    for spec in registry.specs():
        if len(spec.path) > 2:
            raise LayoutError(f"`{spec.name}` is deeper than Discord's subcommand groups allow")
        by_first.setdefault(spec.path[0], []).append(spec)
    entries: list[Leaf | Group] = []
    for first, specs in sorted(by_first.items()):
        subs = [s for s in specs if len(s.path) == 2]
        bare = next((s for s in specs if len(s.path) == 1), None)
        if not subs:
            assert bare is not None
            entries.append(_leaf(first, bare))
            continue
        leaves = [_leaf(s.path[1], s) for s in subs]
        if bare is not None:
            taken = {leaf.name for leaf in leaves}
            alias = next((n for n in BARE_NAMES if n not in taken), None)
            if alias is None:
                raise LayoutError(f"no free subcommand name for `{first}` itself")
            leaves.insert(0, _leaf(alias, bare))
        if len(leaves) > OPTIONS_MAX:
            raise LayoutError(f"`{first}` has more than {OPTIONS_MAX} subcommands")
        summary = bare.summary if bare is not None else f"{first} commands"
        entries.append(Group(discord_name(first), clip(summary), tuple(leaves)))
    if len(entries) > OPTIONS_MAX:
        raise LayoutError(f"/{ROOT} would have {len(entries)} subcommands; Discord allows 25")
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise LayoutError("two commands map to the same Discord name")
    return tuple(entries)


def top_level(registry: Registry) -> tuple[Group, ...]:
    """The commands registered with ``top_level`` as slash commands of their own
    (``/operator start``, ``/validator ready``), beside ``/testnet``, sorted by name."""
    groups: dict[str, list[Leaf]] = {}
    for spec in registry.specs():
        if spec.top_level and len(spec.path) == 2:
            groups.setdefault(spec.path[0], []).append(_leaf(spec.path[1], spec))
    return tuple(
        Group(discord_name(name), clip(f"{name} commands"), tuple(leaves))
        for name, leaves in sorted(groups.items())
    )


def invocation_text(spec: CommandSpec, values: dict[str, Any]) -> str:
    """The command line the options stand for (``/testnet deploy 0.62.0 alpha
    --canary``): positional while no earlier positional is missing, ``--name=value``
    after a gap or for a value that looks like an option; quoted where needed."""
    words = ["/testnet", *spec.path]
    gap = False
    for param in spec.params:
        value = values.get(param.name)
        if param.flag:
            if value:
                words.append(param.option)
            continue
        if value is None or value == "":
            if not param.option_only:
                gap = True
            continue
        text = str(value)
        if param.option_only or gap or text.startswith("-"):
            words.append(shlex.quote(f"{param.option}={text}"))
        else:
            words.append(shlex.quote(text))
    return " ".join(words)
