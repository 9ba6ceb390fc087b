"""Commands, declared by decorating typed handlers.

``@command("deploy", permission="deploy", dangerous=True)`` only records a frozen
:class:`CommandSpec` in a :class:`Registry` and returns the function unchanged. The
handler's keyword-only, typed parameters are the argument spec: they drive parsing,
usage and help text, the Slack manifest and the Discord command tree.

Parameters map to arguments like this:

* ``bool`` → a flag, ``--dry-run``;
* any other type → a positional argument (declaration order) that may also be
  given as ``--name value`` or ``--name=value``;
* ``Annotated[str, Rest]`` → every remaining word, joined by spaces;
* ``Annotated[T, Option]`` → only ``--name value``, never positional.

A parameter's type converts the text: ``str``, ``int``, ``float``, ``Literal[...]``,
``X | None``, or any class with a ``parse(text) -> X`` classmethod raising
``ValueError`` with a message for the user.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.errors import UsageError
from bot.words import rest_text

Handler = Callable[..., Awaitable[None]]
Resume = Callable[[Any, Any], Coroutine[Any, Any, None]]
"""``async def resume(services, run)``: carry an unfinished run to its end."""
Converter = Callable[[str], Any]


class _RestMarker:
    """``Annotated[str, Rest]``: the parameter takes every remaining word."""


Rest = _RestMarker()


class _OptionMarker:
    """``Annotated[T, Option]``: the parameter is given only as ``--name value``."""


Option = _OptionMarker()


@dataclass(frozen=True)
class Help:
    """``Annotated[T, Help("...")]``: the parameter's one-line description."""

    text: str


@dataclass(frozen=True)
class Param:
    """One argument of a command."""

    name: str
    flag: bool
    required: bool
    default: Any
    convert: Converter
    type_name: str
    help: str = ""
    rest: bool = False
    choices: tuple[str, ...] = ()
    option_only: bool = False

    @property
    def option(self) -> str:
        """The ``--option`` spelling of the parameter."""
        return "--" + self.name.replace("_", "-")

    def usage(self) -> str:
        """How the parameter shows in a usage line."""
        if self.flag:
            return f"[{self.option}]"
        label = "|".join(self.choices) if self.choices else self.name.replace("_", "-")
        if self.option_only:
            shown = label if self.choices else self.type_name
            return f"{self.option} <{shown}>" if self.required else f"[{self.option} <{shown}>]"
        if self.rest:
            label += "..."
        return f"<{label}>" if self.required else f"[{label}]"


@dataclass(frozen=True)
class CommandSpec:
    """A registered command."""

    path: tuple[str, ...]
    handler: Handler
    summary: str
    description: str
    params: tuple[Param, ...]
    permission: str | None = None
    dangerous: bool = False
    plan: Callable[..., Awaitable[str]] | None = None
    hidden: bool = False
    network_param: str | None = field(default=None)

    @property
    def name(self) -> str:
        """The command as typed, e.g. ``incident ack``."""
        return " ".join(self.path)

    def usage(self) -> str:
        """``deploy <version> [network] [--canary] [--dry-run]``."""
        return " ".join([self.name, *(p.usage() for p in self.params)])

    def parse(self, words: list[str]) -> dict[str, Any]:
        """Turn the words after the command name into handler keyword arguments.

        Raises :class:`UsageError` naming the first problem.
        """
        by_option = {p.option: p for p in self.params}
        shorts = self.short_options()
        positional = [p for p in self.params if not p.flag and not p.option_only]
        values: dict[str, Any] = {}
        loose: list[str] = []
        i = 0
        while i < len(words):
            word = words[i]
            if _is_short_option(word):
                short, eq, inline = word.partition("=")
                long = shorts.get(short)
                if long is None:
                    raise UsageError(self._unknown_short(short))
                word = long + eq + inline
            if word.startswith("--") and len(word) > 2:
                name, eq, inline = word.partition("=")
                param = by_option.get(name)
                if param is None:
                    raise UsageError(f"Unknown option `{name}`.")
                if param.name in values:
                    raise UsageError(f"`{name}` given twice.")
                if param.flag:
                    if eq:
                        raise UsageError(f"`{name}` is a flag and takes no value.")
                    values[param.name] = True
                else:
                    if eq:
                        text = inline
                    elif i + 1 < len(words):
                        i += 1
                        text = words[i]
                    else:
                        raise UsageError(f"`{name}` needs a value.")
                    values[param.name] = _convert(param, text)
            else:
                loose.append(word)
            i += 1
        for param in positional:
            if param.name in values:
                continue
            if not loose:
                break
            if param.rest:
                values[param.name] = _convert(param, rest_text(loose))
                loose = []
            else:
                values[param.name] = _convert(param, loose.pop(0))
        if loose:
            raise UsageError(f"Unexpected argument `{loose[0]}`.")
        for param in self.params:
            if param.name not in values:
                if param.required:
                    raise UsageError(f"Missing `{param.name.replace('_', '-')}`.")
                values[param.name] = param.default
        return values

    def short_options(self) -> dict[str, str]:
        """``-x`` → ``--x…`` for each option whose first letter no other option shares
        (a one-letter parameter name wins its letter)."""
        by_letter: dict[str, list[Param]] = {}
        for p in self.params:
            by_letter.setdefault(p.name[0], []).append(p)
        shorts = {}
        for letter, params in by_letter.items():
            exact = [p for p in params if p.name == letter]
            chosen = exact or (params if len(params) == 1 else [])
            if chosen:
                shorts["-" + letter] = chosen[0].option
        return shorts

    def _unknown_short(self, short: str) -> str:
        options = ", ".join(f"`{p.option}`" for p in self.params)
        if not options:
            return f"`{self.name}` takes no options (`{short}` given)."
        return f"Unknown option `{short}`; `{self.name}` takes {options}."

    def help_text(self, subcommands: Iterable[CommandSpec] = ()) -> str:
        """The full help of the command: usage, summary, description, arguments,
        permission, and the commands under it (``incident`` → ``incident ack``)."""
        lines = [f"`/testnet {self.usage()}`", self.summary]
        if self.description:
            lines += ["", self.description]
        documented = [p for p in self.params if p.help]
        if documented:
            lines.append("")
            lines += [
                f"  {p.option if p.flag else p.name.replace('_', '-')}: {p.help}"
                for p in documented
            ]
        if self.permission:
            lines.append(f"\nNeeds the `{self.permission}` permission.")
        if self.dangerous:
            lines.append("Asks for confirmation before it runs.")
        subs = list(subcommands)
        if subs:
            lines += ["", "Also:"] + [f"`/testnet {s.usage()}`  {s.summary}" for s in subs]
        return "\n".join(lines)


def _is_short_option(word: str) -> bool:
    """``-n`` or ``-n=5`` (not ``-5``, a negative number, nor ``-`` alone)."""
    return (
        len(word) >= 2
        and word[0] == "-"
        and word[1].isalpha()
        and (len(word) == 2 or word[2] == "=")
    )


def _convert(param: Param, text: str) -> Any:
    try:
        return param.convert(text)
    except ValueError as exc:
        raise UsageError(f"`{param.name.replace('_', '-')}`: {exc}") from None


def _converter(tp: Any) -> tuple[Converter, str, tuple[str, ...]]:
    """Build the text → value function for a parameter type."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {tp!r}")
        return _converter(inner[0])
    if origin is Literal:
        choices = tuple(str(c) for c in typing.get_args(tp))

        def choose(text: str) -> str:
            if text not in choices:
                raise ValueError(f"must be one of {', '.join(choices)}")
            return text

        return choose, "choice", choices
    if tp is str:
        return (lambda text: text), "text", ()
    if tp is int:

        def to_int(text: str) -> int:
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"not a whole number: {text!r}") from None

        return to_int, "integer", ()
    if tp is float:

        def to_float(text: str) -> float:
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"not a number: {text!r}") from None

        return to_float, "number", ()
    parse = getattr(tp, "parse", None)
    if callable(parse):
        return parse, getattr(tp, "__name__", "value").lower(), ()
    raise TypeError(f"no converter for parameter type {tp!r}")


def _params(handler: Handler) -> tuple[Param, ...]:
    sig = inspect.signature(handler)
    hints = typing.get_type_hints(handler, include_extras=True)
    params: list[Param] = []
    for name, p in list(sig.parameters.items())[1:]:  # the first is the context
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"{handler.__qualname__}: parameter {name} must be keyword-only")
        hint = hints[name]
        help_text = ""
        rest = False
        option_only = False
        if typing.get_origin(hint) is typing.Annotated:
            base, *meta = typing.get_args(hint)
            for m in meta:
                if isinstance(m, Help):
                    help_text = m.text
                elif m is Rest:
                    rest = True
                elif m is Option:
                    option_only = True
            hint = base
        required = p.default is inspect.Parameter.empty
        if hint is bool:
            if required:
                raise TypeError(f"{handler.__qualname__}: flag {name} needs a default")
            params.append(Param(name, True, False, p.default, bool, "flag", help_text))
            continue
        convert, type_name, choices = _converter(hint)
        default = None if required else p.default
        params.append(
            Param(
                name,
                False,
                required,
                default,
                convert,
                type_name,
                help_text,
                rest,
                choices,
                option_only,
            )
        )
    positional = [p for p in params if not p.flag]
    if any(p.rest for p in positional[:-1]):
        raise TypeError(f"{handler.__qualname__}: a Rest parameter must be the last positional")
    return tuple(params)


class Registry:
    """The single source of truth for commands."""

    def __init__(self) -> None:
        self._specs: dict[tuple[str, ...], CommandSpec] = {}
        self._workflows: dict[str, Resume] = {}

    def workflow(self, kind: str) -> Callable[[Resume], Resume]:
        """Register how to resume an unfinished run of ``kind`` after a restart."""

        def register(resume: Resume) -> Resume:
            if kind in self._workflows:
                raise ValueError(f"workflow {kind!r} registered twice")
            self._workflows[kind] = resume
            return resume

        return register

    def resumer(self, kind: str) -> Resume | None:
        """The resume hook of runs of ``kind``, if any."""
        return self._workflows.get(kind)

    def command(
        self,
        name: str,
        *,
        permission: str | None = None,
        dangerous: bool = False,
        plan: Callable[..., Awaitable[str]] | None = None,
        hidden: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated handler as ``/testnet <name>``; return it unchanged.

        ``plan`` (same parameters as the handler) describes what a dangerous command
        will do; it is shown in the confirmation.
        """

        def register(handler: Handler) -> Handler:
            path = tuple(name.split())
            if path in self._specs:
                raise ValueError(f"command {name!r} registered twice")
            doc = inspect.getdoc(handler) or ""
            summary, _, description = doc.partition("\n")
            params = _params(handler)
            self._specs[path] = CommandSpec(
                path=path,
                handler=handler,
                summary=summary.strip(),
                description=description.strip(),
                params=params,
                permission=permission,
                dangerous=dangerous,
                plan=plan,
                hidden=hidden,
                network_param="network" if any(p.name == "network" for p in params) else None,
            )
            return handler

        return register

    def specs(self, *, include_hidden: bool = False) -> list[CommandSpec]:
        """Every command, sorted by name."""
        return sorted(
            (s for s in self._specs.values() if include_hidden or not s.hidden),
            key=lambda s: s.path,
        )

    def get(self, name: str) -> CommandSpec | None:
        """The command named ``name`` (words separated by spaces), if any."""
        return self._specs.get(tuple(name.split()))

    def resolve(self, words: list[str]) -> tuple[CommandSpec | None, list[str]]:
        """Find the longest command path that prefixes ``words``; return it and the rest."""
        for length in range(min(len(words), 3), 0, -1):
            spec = self._specs.get(tuple(words[:length]))
            if spec is not None:
                return spec, words[length:]
        return None, words

    def under(self, path: tuple[str, ...]) -> list[CommandSpec]:
        """The visible commands whose path starts with ``path`` and is longer."""
        return [s for s in self.specs() if len(s.path) > len(path) and s.path[: len(path)] == path]

    def help_for(self, topic: str) -> str | None:
        """The help of ``topic``: one command's (with those under it), or a list of
        the commands under a group word like ``schedule``; None when neither exists."""
        path = tuple(topic.split())
        spec = self._specs.get(path)
        subs = self.under(path)
        if spec is not None and not spec.hidden:
            return spec.help_text(subs)
        if subs:
            return "\n".join(f"`/testnet {s.usage()}`  {s.summary}" for s in subs)
        return None

    def names(self) -> Iterable[str]:
        """Every command name (for suggestions)."""
        return (s.name for s in self._specs.values() if not s.hidden)


DEFAULT_REGISTRY = Registry()
"""The registry ``commands/`` registers into; tests may build their own."""

command = DEFAULT_REGISTRY.command
workflow = DEFAULT_REGISTRY.workflow
