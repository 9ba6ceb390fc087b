"""Alertmanager label matchers, and ``key=value`` label sets typed in chat.

A matcher is ``name OP value`` with OP one of ``=``, ``!=``, ``=~``, ``!~``::

    alertname=~"BlockProduction.*"   severity="critical"   network!="devnet"
    foo!~"a|b"                       severity=critical     {a="1", b=~"x.*"}

:func:`parse_matchers` accepts exactly what Alertmanager 0.25 (and its ``amtool``)
accept in a config's ``matchers:`` list, with the same meaning: matchers are separated
by commas (not by spaces: ``a=1 b=2`` is one matcher whose value is ``1 b=2``), the
list may be wrapped in one ``{`` … ``}``, an unquoted value runs to the next comma
outside quotes, and surrounding whitespace is dropped. A label that is absent counts
as the empty string; a regex is Go's RE2 dialect (through the RE2 library), anchored
the way Alertmanager anchors it (``^(?:re)$``). Quoted values use Alertmanager's escapes
(``\\"``, ``\\\\``, ``\\n``); any other backslash is kept as is, so ``=~"\\d+"``
means the regex ``\\d+``.

:func:`parse_label_set` reads labels typed in chat, where pairs may also be separated
by whitespace (``alertname=BlockProductionStalled network=alpha``).

This module needs only the standard library and RE2: configuration validation
imports it too.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import re2

LABEL_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
"""A valid label name (Alertmanager's classic rule, which also allows colons)."""

_AM_MATCHER = re.compile(
    r"[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*(.*?)[\t\n\f\r ]*",
    re.DOTALL,
)
"""Alertmanager's classic matcher pattern (Go's ``\\s`` is ASCII whitespace only)."""
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_WHITESPACE = " \t\r\n"
_UNQUOTED_END = _WHITESPACE + ",}"


class MatcherError(ValueError):
    """Text that is not a valid matcher, matcher list or label set; the message says why."""


class MatchType(enum.Enum):
    """The four matcher operators."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"

    @property
    def is_regex(self) -> bool:
        """True for ``=~`` and ``!~``."""
        return self in (MatchType.REGEX, MatchType.NOT_REGEX)

    @property
    def is_negative(self) -> bool:
        """True for ``!=`` and ``!~``."""
        return self in (MatchType.NOT_EQUAL, MatchType.NOT_REGEX)


@dataclass(frozen=True)
class Matcher:
    """One label matcher; construct it directly or with :func:`parse_matcher`.

    Construction validates the label name and, for regex operators, compiles the
    regex, raising :class:`MatcherError` when either is invalid.
    """

    name: str
    op: MatchType
    value: str
    _regex: Any = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not LABEL_NAME.fullmatch(self.name):
            raise MatcherError(
                f"invalid label name {self.name!r}: use letters, digits, '_' or ':',"
                " not starting with a digit"
            )
        regex = _compile(self.value) if self.op.is_regex else None
        object.__setattr__(self, "_regex", regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher; a missing label counts as ``""``."""
        actual = labels.get(self.name, "")
        if self._regex is not None:
            hit = self._regex.search(actual) is not None
        else:
            hit = actual == self.value
        return hit != self.op.is_negative

    def explain(self, labels: Mapping[str, str]) -> str:
        """One line saying whether ``labels`` satisfy this matcher and why."""
        verdict = "matches" if self.matches(labels) else "does not match"
        if self.name in labels:
            actual = f"{self.name} is {quote(labels[self.name])}"
        else:
            actual = f'{self.name} is not set (counts as "")'
        if self._regex is not None and self._regex.search(labels.get(self.name, "")) is None:
            partial = _unanchored(self.value)
            if partial is not None and partial.search(labels.get(self.name, "")):
                actual += " (the regex matches part of it, but must match all of it)"
        return f"{self} {verdict}: {actual}"

    def __str__(self) -> str:
        """Alertmanager syntax, always quoted: ``parse_matcher(str(m)) == m``."""
        return f"{self.name}{self.op.value}{quote(self.value)}"


def quote(value: str) -> str:
    """Quote ``value`` with Alertmanager's escapes so that parsing gives it back exactly."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy every matcher (an empty list matches everything)."""
    return all(matcher.matches(labels) for matcher in matchers)


def explain_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> list[str]:
    """One :meth:`Matcher.explain` line per matcher, in order."""
    return [matcher.explain(labels) for matcher in matchers]


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """Render a list as ``{a="1", b=~"x.*"}``; :func:`parse_matchers` reads it back."""
    return "{" + ", ".join(str(matcher) for matcher in matchers) + "}"


def parse_matcher(text: str) -> Matcher:
    """Parse exactly one matcher, e.g. ``severity="critical"``; raise :class:`MatcherError`."""
    matchers = parse_matchers(text)
    if len(matchers) != 1:
        raise MatcherError(f"expected one matcher, found {len(matchers)} in {text!r}")
    return matchers[0]


def parse_matchers(text: str) -> list[Matcher]:
    """Parse a matcher list as Alertmanager does, e.g. ``{a="1", b=~"x.*"}`` or
    ``a=1,b!=2`` (may be empty).

    Raises :class:`MatcherError` naming the problem and the matcher it is in: no
    operator, an invalid label name or regex, an unescaped or unterminated quote, an
    empty matcher between two commas.
    """
    body = text.removeprefix("{").removesuffix("}")
    tokens = _split_on_commas(body)
    matchers: list[Matcher] = []
    for token in tokens:
        matchers.append(_parse_am_matcher(token, text))
    return matchers


def _split_on_commas(body: str) -> list[str]:
    """Alertmanager's tokenizer: commas outside double quotes separate matchers; a
    trailing empty token is dropped, an empty one in between is kept (and refused)."""
    tokens: list[str] = []
    current: list[str] = []
    inside_quotes = escaped = False
    for char in body:
        if char == ",":
            if not inside_quotes:
                tokens.append("".join(current))
                current = []
                continue
        elif char == '"':
            if not escaped:
                inside_quotes = not inside_quotes
            else:
                escaped = False
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        current.append(char)
    last = "".join(current).strip()
    if last:
        tokens.append(last)
    return tokens


def _parse_am_matcher(token: str, text: str) -> Matcher:
    found = _AM_MATCHER.fullmatch(token)
    if found is None:
        if not token.strip():
            problem = "an empty matcher (two commas in a row, or a leading comma)"
        elif not LABEL_NAME.match(token.strip()):
            problem = f"{token.strip()!r} does not start with a label name"
        else:
            problem = f"{token.strip()!r} has no operator (use =, !=, =~ or !~)"
        raise MatcherError(f"{problem} in {text!r}")
    name, op, raw = found.groups()
    quoted = raw.startswith('"')
    if quoted:
        raw = raw[1:]
    value: list[str] = []
    escaped = False
    last = len(raw) - 1
    for index, char in enumerate(raw):
        if escaped:
            escaped = False
            value.append({"n": "\n", '"': '"', "\\": "\\"}.get(char, "\\" + char))
            continue
        if char == "\\":
            if index < last:
                escaped = True
                continue
            value.append(char)  # a backslash at the very end is literal
        elif char == '"':
            if not quoted or index < last:
                raise MatcherError(
                    f'the value of {name!r} contains an unescaped double quote: write \\" for'
                    f" a quote inside a quoted value, in {text!r}"
                )
            quoted = False
        else:
            value.append(char)
    if quoted:
        raise MatcherError(f"the value of {name!r} lacks its closing quote, in {text!r}")
    try:
        return Matcher(name, MatchType(op), "".join(value))
    except MatcherError as exc:
        raise MatcherError(f"{exc}, in {text!r}") from None


def parse_label_set(text: str) -> dict[str, str]:
    """Parse ``alertname=BlockProductionStalled network=alpha`` into a label dict.

    Values may be quoted (``summary="two words"``); pairs may be separated by commas or
    whitespace and wrapped in braces. Only ``=`` is allowed, and each name only once;
    anything else raises :class:`MatcherError`.
    """
    labels: dict[str, str] = {}
    for matcher in _Scanner(text).matcher_list():
        if matcher.op is not MatchType.EQUAL:
            raise MatcherError(f"{matcher} is a matcher, not a label: write {matcher.name}=VALUE")
        if matcher.name in labels:
            raise MatcherError(f"label {matcher.name!r} is given twice")
        labels[matcher.name] = matcher.value
    return labels


def _compile(regex: str) -> Any:
    """Compile a matcher regex as Alertmanager does: RE2, anchored as ``^(?:re)$``;
    MatcherError when RE2 refuses it."""
    try:
        return re2.compile(f"^(?:{regex})$", _RE2_OPTIONS)
    except re2.error as exc:
        raise MatcherError(f"invalid regex {regex!r}: {_re2_reason(exc)}") from None


def _unanchored(regex: str) -> Any:
    """``regex`` alone (for explaining a partial match), or None if it does not compile."""
    try:
        return re2.compile(regex, _RE2_OPTIONS)
    except re2.error:
        return None


def _re2_reason(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


class _Scanner:
    """A hand-written scanner over one matcher-list string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def matcher_list(self) -> list[Matcher]:
        self._skip_space()
        braced = self._peek() == "{"
        if braced:
            self.pos += 1
        matchers: list[Matcher] = []
        while True:
            self._skip_separators()
            if self._at_end():
                if braced:
                    raise self._error("missing closing '}'")
                return matchers
            if self._peek() == "}":
                if not braced:
                    raise self._error("unexpected '}'", found=False)
                self.pos += 1
                self._skip_space()
                if not self._at_end():
                    raise self._error("unexpected text after '}'")
                return matchers
            if self._peek() == "{":
                raise self._error("unexpected '{'", found=False)
            matchers.append(self._matcher())

    def _matcher(self) -> Matcher:
        start = self.pos
        name_match = LABEL_NAME.match(self.text, self.pos)
        if name_match is None:
            raise self._error("expected a label name")
        name = name_match.group()
        self.pos = name_match.end()
        self._skip_space()
        op = self._operator(name)
        self._skip_space()
        if self._peek() == '"':
            value = self._quoted()
        else:
            value = self._unquoted(name, op)
        try:
            return Matcher(name, op, value)
        except MatcherError as exc:
            raise MatcherError(f"{exc} (in {self.text[start : self.pos]!r})") from None

    def _operator(self, name: str) -> MatchType:
        two = self.text[self.pos : self.pos + 2]
        for op in (MatchType.REGEX, MatchType.NOT_REGEX, MatchType.NOT_EQUAL):
            if two == op.value:
                self.pos += 2
                return op
        if two[:1] == "=":
            self.pos += 1
            return MatchType.EQUAL
        bad = re.match(r"[<>!~=]+", self.text[self.pos :])
        if bad is not None:
            raise self._error(
                f"bad operator {bad.group()!r} after label {name!r}: use =, !=, =~ or !~",
                found=False,
            )
        raise self._error(f"missing operator after label {name!r} (use =, !=, =~ or !~)")

    def _quoted(self) -> str:
        start = self.pos
        self.pos += 1  # the opening quote
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == '"':
                return "".join(chars)
            if char == "\\" and self.pos < len(self.text):
                escaped = self.text[self.pos]
                self.pos += 1
                if escaped == "n":
                    chars.append("\n")
                elif escaped in '"\\':
                    chars.append(escaped)
                else:  # not an escape Alertmanager knows: keep the backslash
                    chars.append("\\" + escaped)
                continue
            chars.append(char)
        self.pos = start
        raise self._error("unterminated quoted value (missing closing '\"')", found=False)

    def _unquoted(self, name: str, op: MatchType) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _UNQUOTED_END:
            self.pos += 1
        value = self.text[start : self.pos]
        if value[:1] in ("=", "~"):
            self.pos = start
            raise self._error(
                f"bad operator {op.value + value[:1]!r} after label {name!r}: use =, !=, =~ or !~",
                found=False,
            )
        for char in ('"', "=", "{"):
            if char in value:
                self.pos = start
                raise self._error(
                    f"unquoted value {value!r} contains {char!r}: put the value in double quotes",
                    found=False,
                )
        return value

    def _word(self) -> str:
        """The text at the cursor up to the next whitespace (at most 20 characters)."""
        end = self.pos + 1
        while end < len(self.text) and self.text[end] not in _WHITESPACE:
            end += 1
        return self.text[self.pos : min(end, self.pos + 20)]

    def _peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def _skip_separators(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE + ",":
            self.pos += 1

    def _error(self, problem: str, *, found: bool = True) -> MatcherError:
        where = f"at position {self.pos + 1} of {self.text!r}"
        if found and not self._at_end():
            return MatcherError(f"{problem}, found {self._word()!r} {where}")
        return MatcherError(f"{problem} {where}")
