"""Reading the YAML configuration file: line numbers, ``${VAR}`` interpolation,
and error messages that name the broken key's path.

Configuration is read once, here, at the edge: the environment is handed in as a
mapping, and nothing else in the bot reads ``os.environ``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.config import BotConfig

Path_ = tuple[str | int, ...]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
DEFAULT_CONFIG_FILE = Path("testnet-bot.yaml")


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration file."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        return f"{self.path or '<root>'}: {self.message}{where}"


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists every reason."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def format_path(path: Path_) -> str:
    """``("networks", "alpha", "workloads", 1, "kind")`` → ``networks.alpha.workloads[1].kind``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Document:
    """A YAML document turned into plain data, remembering each value's line."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.lines: dict[Path_, int] = {}
        self.problems: list[ConfigProblem] = []
        self._scalars = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalars.construct_object(key_node)
                if key in out:
                    self.problems.append(
                        ConfigProblem(
                            format_path((*path, key)), "duplicate key", key_node.start_mark.line + 1
                        )
                    )
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self._scalars.construct_object(node)
        if isinstance(value, str) and "${" in value:
            value = self._interpolate(value, path)
        return value

    def _interpolate(self, text: str, path: Path_) -> str:
        def replace(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            self.problems.append(
                ConfigProblem(
                    format_path(path),
                    f"environment variable {name} is not set",
                    self.lines.get(path),
                )
            )
            return ""

        return _VAR.sub(replace, text)

    def line_of(self, path: Path_) -> int | None:
        """The line of the deepest known ancestor of ``path``."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    msg = str(error["msg"])
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if msg.startswith("Input should be "):
        msg = "must be " + msg[len("Input should be ") :].replace("'", "")
    return msg


def parse_config(text: str, *, source: str, env: Mapping[str, str]) -> BotConfig:
    """Validate YAML ``text`` into a :class:`BotConfig` or raise :class:`ConfigError`
    listing every problem with its path and line."""
    doc = _Document(env)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [ConfigProblem("", f"not valid YAML: {problem}", line)]) from None
    data = {} if root is None else doc.build(root, ())
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigProblem("", "the file must be a mapping of keys", 1)])
    if doc.problems:
        raise ConfigError(source, doc.problems)
    try:
        return BotConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            # pydantic adds a "[key]" part for errors in a dict's keys; keep only the
            # parts that name a place in the document.
            path: Path_ = tuple(p for p in error["loc"] if p != "[key]")
            problems.append(ConfigProblem(format_path(path), _message(error), doc.line_of(path)))
        raise ConfigError(source, problems) from None


def load_config(
    path: Path | None, *, env: Mapping[str, str], cwd: Path | None = None
) -> tuple[BotConfig, str]:
    """Load the configuration and say where it came from.

    ``path`` given: that file (missing → :class:`ConfigError`). Otherwise
    ``testnet-bot.yaml`` in ``cwd`` if present, else the built-in defaults.
    """
    if path is None:
        candidate = (cwd or Path.cwd()) / DEFAULT_CONFIG_FILE
        if not candidate.exists():
            return BotConfig(), "built-in defaults"
        path = candidate
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [ConfigProblem("", f"cannot read: {exc.strerror}")]) from None
    return parse_config(text, source=str(path), env=env), str(path)
