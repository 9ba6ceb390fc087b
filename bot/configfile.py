"""Reading the YAML configuration file: line numbers, ``${VAR}`` interpolation,
and error messages that name the broken key's path.

Configuration is read once, here, at the edge: the environment is handed in as a
mapping, and nothing else in the bot reads ``os.environ``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from bot.config import REFERENCE_ERROR, BotConfig, closest, reference_problems
from bot.configwarnings import config_warnings

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
    if kind == "literal_error" and isinstance(error.get("input"), str):
        expected = re.findall(r"'([^']*)'", str((error.get("ctx") or {}).get("expected", "")))
        hint = closest(error["input"], expected)
        if hint is not None:
            msg += f": did you mean `{hint}`?"
    return msg


def _strip(annotation: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``X | None``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation
            annotation = rest[0]
        else:
            return annotation


def _model_at(path: Path_) -> type[BaseModel] | None:
    """The config model that the mapping at ``path`` is validated as, if any."""
    node: Any = BotConfig
    for part in path:
        node = _strip(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(str(part))
            if field is None:
                return None
            node = field.annotation
        elif get_origin(node) in (list, tuple) and isinstance(part, int):
            node = get_args(node)[0]
        elif get_origin(node) is dict:
            node = get_args(node)[1]
        else:
            return None
    node = _strip(node)
    return node if isinstance(node, type) and issubclass(node, BaseModel) else None


def _reference_problems(data: Mapping[Any, Any], doc: _Document) -> list[ConfigProblem]:
    """Cross-references checked on the document as written, so each one is reported
    at its own path and line even when other sections are broken."""

    def section(value: Any, default: Any) -> Any:
        return value if isinstance(value, type(default)) else default

    chat = section(data.get("chat"), {})
    shell = section(chat.get("shell"), {})
    roles = data.get("roles", {"admin": {}})
    if not isinstance(roles, dict):
        return []
    permissions = {
        k: v for k, v in section(data.get("permissions"), {}).items() if isinstance(v, list)
    }
    found = reference_problems(
        networks=section(data.get("networks"), {}),
        default_network=data.get("default_network"),
        roles=roles,
        shell_roles=section(shell.get("roles", ["admin"]), []),
        permissions=permissions,
    )
    return [ConfigProblem(format_path(path), msg, doc.line_of(path)) for path, msg in found]


def _pydantic_problems(exc: ValidationError, doc: _Document) -> list[ConfigProblem]:
    """One problem per slip: a misspelt key is one "unknown key" with a suggestion
    (not also "required key is missing" for the key it was meant to be)."""
    errors = [e for e in exc.errors() if e["type"] != REFERENCE_ERROR]
    paths = [tuple(p for p in e["loc"] if p != "[key]") for e in errors]
    missing: dict[Path_, set[str]] = {}
    for error, path in zip(errors, paths, strict=True):
        if error["type"] == "missing" and path:
            missing.setdefault(path[:-1], set()).add(str(path[-1]))
    consumed: set[Path_] = set()
    problems: list[ConfigProblem] = []
    for error, path in zip(errors, paths, strict=True):
        message = _message(error)
        if error["type"] == "extra_forbidden" and path:
            parent, key = path[:-1], str(path[-1])
            meant = closest(key, missing.get(parent, ()))
            if meant is not None:
                consumed.add((*parent, meant))
                message = f"unknown key: did you mean `{meant}`? (`{meant}` is required)"
            else:
                model = _model_at(parent)
                hint = closest(key, model.model_fields) if model is not None else None
                if hint is not None:
                    message = f"unknown key: did you mean `{hint}`?"
        problems.append(ConfigProblem(format_path(path), message, doc.line_of(path)))
    return [
        p
        for p, path, e in zip(problems, paths, errors, strict=True)
        if not (e["type"] == "missing" and path in consumed)
    ]


def _within(path: str, prefixes: set[str]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes)


def read_config(
    text: str, *, source: str, env: Mapping[str, str]
) -> tuple[BotConfig, list[ConfigProblem]]:
    """Validate YAML ``text``: the config and its warnings (sections that have no
    effect), or :class:`ConfigError` listing every problem with its path and line."""
    config, warnings, _ = _read(text, source=source, env=env)
    return config, warnings


def _read(
    text: str, *, source: str, env: Mapping[str, str]
) -> tuple[BotConfig, list[ConfigProblem], _Document]:
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
    problems = list(doc.problems) + _reference_problems(data, doc)
    config: BotConfig | None = None
    try:
        config = BotConfig.model_validate(data)
    except ValidationError as exc:
        # A value left empty by an unset variable is reported once, as that.
        unset = {p.path for p in doc.problems}
        problems += [p for p in _pydantic_problems(exc, doc) if not _within(p.path, unset)]
    if problems or config is None:
        problems.sort(key=lambda p: (p.line or 0, p.path))
        raise ConfigError(source, problems)
    warnings = [
        ConfigProblem(format_path(path), message, doc.line_of(path))
        for path, message in config_warnings(config)
    ]
    return config, warnings, doc


def parse_config(text: str, *, source: str, env: Mapping[str, str]) -> BotConfig:
    """Validate YAML ``text`` into a :class:`BotConfig` or raise :class:`ConfigError`
    listing every problem with its path and line."""
    return read_config(text, source=source, env=env)[0]


@dataclass(frozen=True)
class LoadedConfig:
    """A configuration, where it came from, and what in it has no effect."""

    config: BotConfig
    source: str
    warnings: list[ConfigProblem]
    lines: Mapping[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path`` (or of its nearest ancestor) in the file, if known."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def inspect_config(
    path: Path | None, *, env: Mapping[str, str], cwd: Path | None = None
) -> LoadedConfig:
    """Like :func:`load_config`, with the warnings (each with its path and line)."""
    if path is None:
        candidate = (cwd or Path.cwd()) / DEFAULT_CONFIG_FILE
        if not candidate.exists():
            return LoadedConfig(BotConfig(), "built-in defaults", [])
        path = candidate
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [ConfigProblem("", f"cannot read: {exc.strerror}")]) from None
    config, warnings, doc = _read(text, source=str(path), env=env)
    return LoadedConfig(config, str(path), warnings, doc.lines)


def load_config(
    path: Path | None, *, env: Mapping[str, str], cwd: Path | None = None
) -> tuple[BotConfig, str]:
    """Load the configuration and say where it came from.

    ``path`` given: that file (missing → :class:`ConfigError`). Otherwise
    ``testnet-bot.yaml`` in ``cwd`` if present, else the built-in defaults.
    """
    loaded = inspect_config(path, env=env, cwd=cwd)
    return loaded.config, loaded.source
