"""Incident text helpers: cleaning label values, runbook links, silence URLs."""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from commands.incidents.text import LABEL_MAX, clean, runbook_link, silence_url


@given(st.text(), st.integers(min_value=2, max_value=300))
def test_clean_removes_controls_and_bidi_and_caps_length(value: str, limit: int) -> None:
    out = clean(value, limit)
    assert len(out) <= limit
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} for ch in out)
    assert out == out.strip() and "  " not in out


def test_clean_keeps_ordinary_text_and_marks_a_cut() -> None:
    assert clean("validator-0 in  alpha\n") == "validator-0 in alpha"
    assert clean("a\u202eb\u2066c\x00d") == "abcd"
    assert clean("n" * 80, LABEL_MAX) == "n" * 49 + "…"


def test_runbook_links() -> None:
    assert runbook_link(None, "https://x") is None
    assert runbook_link("https://wiki/a", "https://x") == "https://wiki/a"
    assert runbook_link("ops.md#a", "https://x/runbooks/") == "https://x/runbooks/ops.md#a"
    assert runbook_link("ops.md#a", None) == "docs/runbooks/ops.md#a"


def test_silence_url_quotes_values() -> None:
    url = silence_url("http://am:9093/", {"b": 'say "hi"', "a": "x"})
    assert url.startswith("http://am:9093/#/silences/new?filter=")
    assert unquote(url.split("filter=")[1]) == '{a="x",b="say \\"hi\\""}'
