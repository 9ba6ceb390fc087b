"""The issue resolution matrix, compiled: which row an alert's labels belong to, and why.

Rows are tried in order; the first whose matchers all hold wins. An alert matching
no row goes to the configured default row. Classification is cached by label set,
because an alert storm repeats the same few label sets many times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.config import MatrixRow
from integrations.matchers import Matcher, explain_all, matches_all, parse_matchers

_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class Classification:
    """The row an alert belongs to; ``index`` is None for the default row."""

    row: MatrixRow
    index: int | None


@dataclass(frozen=True)
class RowVerdict:
    """How one row judged a label set: did it match, and each matcher's reason."""

    index: int | None
    row: MatrixRow
    matched: bool
    reasons: tuple[str, ...]


class ResolutionMatrix:
    """The configured rows with their matchers parsed once."""

    def __init__(self, rows: Sequence[MatrixRow], default: MatrixRow) -> None:
        self.rows = tuple(rows)
        self.default = default
        self._matchers: tuple[tuple[Matcher, ...], ...] = tuple(
            tuple(m for text in row.matchers for m in parse_matchers(text)) for row in self.rows
        )
        self._names = tuple(sorted({m.name for ms in self._matchers for m in ms}))
        self._cache: dict[tuple[str, ...], Classification] = {}

    def classify(self, labels: Mapping[str, str]) -> Classification:
        """The first row whose matchers all hold for ``labels``, else the default row."""
        key = tuple(labels.get(name, "") for name in self._names)  # what matchers can see
        found = self._cache.get(key)
        if found is not None:
            return found
        found = Classification(self.default, None)
        for index, matchers in enumerate(self._matchers):
            if matches_all(matchers, labels):
                found = Classification(self.rows[index], index)
                break
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = found
        return found

    def explain(self, labels: Mapping[str, str]) -> tuple[Classification, list[RowVerdict]]:
        """The classification and every row's verdict up to (and including) the winner."""
        verdicts: list[RowVerdict] = []
        for index, matchers in enumerate(self._matchers):
            matched = matches_all(matchers, labels)
            reasons = tuple(explain_all(matchers, labels)) or ("no matchers: matches anything",)
            verdicts.append(RowVerdict(index, self.rows[index], matched, reasons))
            if matched:
                return Classification(self.rows[index], index), verdicts
        verdicts.append(RowVerdict(None, self.default, True, ("no row matched: default row",)))
        return Classification(self.default, None), verdicts
