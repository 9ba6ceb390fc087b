"""Chat text split into words the way people type them.

Quotes group words (``"two words"``, ``'two words'``, and the curly quotes chat
clients substitute); a quote opens a group only at the start of a word or after
``=`` (``alertname="Block Production"``), so an apostrophe (``don't``) is just a
letter. A backslash keeps the next quote, backslash or space literal. ``#`` is
text, not a comment. Each word remembers how it was typed (:attr:`Word.raw`, with
every grouping quote written as a plain ``"``), so a command that takes the rest of
the line can keep the quotes' meaning.
"""

from __future__ import annotations

OPENING = {'"': '"', "'": "'", "“": "”", "„": "“”", "‘": "’'", "«": "»"}
"""Each opening quote and the quotes that may close it."""
_ESCAPABLE = frozenset("\"'\\ \t“”‘’")


class Word(str):
    """One word's value, with :attr:`raw`: the text as typed, grouping quotes as ``"``."""

    raw: str

    def __new__(cls, value: str, raw: str | None = None) -> Word:
        word = super().__new__(cls, value)
        word.raw = value if raw is None else raw
        return word

    @property
    def quoted(self) -> bool:
        """Whether the whole word was one quoted group (``"big release"``)."""
        return self.raw == _quote(str(self))


class UnclosedQuote(ValueError):
    """A quote was opened and never closed."""


def split_words(text: str) -> list[Word]:
    """Split ``text`` into words; :class:`UnclosedQuote` names an open quote."""
    words: list[Word] = []
    value: list[str] = []
    raw: list[str] = []
    started = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            if started:
                words.append(Word("".join(value), "".join(raw)))
                value, raw, started = [], [], False
            i += 1
            continue
        started = True
        if ch == "\\" and i + 1 < n and text[i + 1] in _ESCAPABLE:
            value.append(text[i + 1])
            raw.append(text[i : i + 2])
            i += 2
            continue
        at_group_start = not value or value[-1] == "="
        if ch in OPENING and at_group_start:
            closers = OPENING[ch]
            group: list[str] = []
            j = i + 1
            while j < n and text[j] not in closers:
                if text[j] == "\\" and ch == '"' and j + 1 < n and text[j + 1] in '"\\':
                    group.append(text[j + 1])
                    j += 2
                    continue
                group.append(text[j])
                j += 1
            if j >= n:
                raise UnclosedQuote(f"no closing quotation for the {ch} at position {i + 1}")
            value += group
            raw.append(_quote("".join(group)))
            i = j + 1
            continue
        value.append(ch)
        raw.append(ch)
        i += 1
    if started:
        words.append(Word("".join(value), "".join(raw)))
    return words


def _quote(text: str) -> str:
    """``text`` in plain double quotes, its quotes and backslashes escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rest_text(words: list[str]) -> str:
    """The remaining words as one text for a command that takes the rest of the line:
    one fully quoted word gives its value; otherwise the words as typed, so quotes
    inside keep their meaning (``alertname="Block Production" network=alpha``)."""
    if len(words) == 1:
        only = words[0]
        if not isinstance(only, Word) or only.quoted or only.raw == str(only):
            return str(only)
        return only.raw
    return " ".join(w.raw if isinstance(w, Word) else w for w in words)
