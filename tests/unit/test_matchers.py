"""Alertmanager-syntax matchers: parsing, matching, explaining, and chat label sets."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.matchers import (
    Matcher,
    MatcherError,
    MatchType,
    explain_all,
    format_matchers,
    matches_all,
    parse_label_set,
    parse_matcher,
    parse_matchers,
    quote,
)

label_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,15}", fullmatch=True)
label_values = st.text(max_size=30)
label_sets = st.dictionaries(label_names, label_values, max_size=5)
operators = st.sampled_from(list(MatchType))
safe_regexes = st.lists(st.text(min_size=0, max_size=5), min_size=1, max_size=3).map(
    lambda parts: "|".join(re.escape(part) for part in parts)
)


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ('alertname=~"BlockProduction.*"', "alertname", MatchType.REGEX, "BlockProduction.*"),
        ('severity="critical"', "severity", MatchType.EQUAL, "critical"),
        ('network!="devnet"', "network", MatchType.NOT_EQUAL, "devnet"),
        ('foo!~"a|b"', "foo", MatchType.NOT_REGEX, "a|b"),
        ("severity=critical", "severity", MatchType.EQUAL, "critical"),
        ('  severity = "critical"  ', "severity", MatchType.EQUAL, "critical"),
        ('summary="say \\"hi\\""', "summary", MatchType.EQUAL, 'say "hi"'),
        ('path="C:\\\\temp"', "path", MatchType.EQUAL, "C:\\temp"),
        ('msg="two\\nlines"', "msg", MatchType.EQUAL, "two\nlines"),
        ('n=~"\\d+"', "n", MatchType.REGEX, "\\d+"),
        ('label="a, b} {c"', "label", MatchType.EQUAL, "a, b} {c"),
        ("empty=", "empty", MatchType.EQUAL, ""),
        ('empty=""', "empty", MatchType.EQUAL, ""),
        ("job:rate=x", "job:rate", MatchType.EQUAL, "x"),
    ],
)
def test_parse_one_matcher(text: str, name: str, op: MatchType, value: str) -> None:
    assert parse_matcher(text) == Matcher(name, op, value)


@pytest.mark.parametrize(
    "text",
    [
        '{alertname="BlockProductionStalled", network=~"alpha|beta"}',
        'alertname="BlockProductionStalled",network=~"alpha|beta"',
        '{ alertname = BlockProductionStalled ,  network=~"alpha|beta" , }',
    ],
)
def test_parse_matcher_lists(text: str) -> None:
    assert parse_matchers(text) == [
        Matcher("alertname", MatchType.EQUAL, "BlockProductionStalled"),
        Matcher("network", MatchType.REGEX, "alpha|beta"),
    ]


@pytest.mark.parametrize("text", ["", "   ", "{}", "{ }"])
def test_empty_lists_parse_to_no_matchers(text: str) -> None:
    assert parse_matchers(text) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("severity>critical", "'severity>critical' has no operator"),
        ("severity critical", "'severity critical' has no operator"),
        ("severity", "'severity' has no operator"),
        ('severity="critical', "lacks its closing quote"),
        ('a="1", b="2', "lacks its closing quote"),
        ('a=b"c', "unescaped double quote"),
        ('a="1" b="2"', "unescaped double quote"),
        ('alertname=~"(Block"', "invalid regex '(Block'"),
        ('alertname!~"[z-a]"', "invalid regex"),
        ('a=~"(?=x)"', "invalid regex"),  # RE2 has no look-ahead
        ('a=~"(a)\\1"', "invalid regex"),  # nor back-references
        ("1abc=x", "does not start with a label name"),
        ('"severity"=x', "does not start with a label name"),
        (" {a=1}", "does not start with a label name"),  # the brace must come first
        ("a=1,,b=2", "an empty matcher"),
        (",a=1", "an empty matcher"),
    ],
)
def test_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(MatcherError, match=re.escape(message)) as caught:
        parse_matchers(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("severity==critical", "=critical"),
        ("a=b=c", "b=c"),
        ("a=1 b=2", "1 b=2"),  # whitespace does not separate matchers
        ("a={b}", "{b"),  # one pair of braces is trimmed from the list, no more
        ("a=b}c", "b}c"),
        ("{a=1", "1"),
        ("a=1}", "1"),
        ('a="x\\\\"', "x\\"),  # an escaped backslash
        ("a=x\\", "x\\"),  # a backslash at the very end is literal
    ],
)
def test_values_run_to_the_next_comma_as_in_alertmanager(text: str, value: str) -> None:
    (matcher,) = parse_matchers(text)
    assert matcher.value == value


def test_regexes_are_re2_anchored_as_alertmanager_anchors_them() -> None:
    assert parse_matcher('a=~"\\p{L}+"').matches({"a": "héllo"})  # RE2 classes
    assert not parse_matcher('a=~"\\p{L}+"').matches({"a": "h1"})
    # Alertmanager wraps the regex as ^(?:re)$, so "a)|(b" means "starts with a or ends with b"
    odd = parse_matcher('x=~"a)|(b"')
    assert odd.matches({"x": "azz"}) and odd.matches({"x": "zzb"})
    assert not odd.matches({"x": "zzz"})


def test_parse_matcher_wants_exactly_one() -> None:
    with pytest.raises(MatcherError, match="expected one matcher, found 2"):
        parse_matcher("a=1, b=2")
    with pytest.raises(MatcherError, match="expected one matcher, found 0"):
        parse_matcher("{}")


def test_constructing_a_bad_matcher_fails() -> None:
    with pytest.raises(MatcherError, match="invalid label name 'a-b'"):
        Matcher("a-b", MatchType.EQUAL, "x")
    with pytest.raises(MatcherError, match="invalid regex"):
        Matcher("a", MatchType.NOT_REGEX, "*")


# ---------------------------------------------------------------- matching


LABELS = {"alertname": "BlockProductionStalled", "network": "alpha", "severity": "critical"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('alertname=~"BlockProduction.*"', True),
        ('alertname=~"Block"', False),  # anchored: a partial match is no match
        ('alertname=~"(?i)blockproductionstalled"', True),
        ('alertname=~"Foo|BlockProductionStalled"', True),
        ('severity="critical"', True),
        ('severity="Critical"', False),
        ('network!="devnet"', True),
        ('network!="alpha"', False),
        ('network!~"alpha|beta"', False),
        ('network!~"beta|gamma"', True),
        ('team=""', True),  # a missing label is the empty string
        ('team!=""', False),
        ('team=~".*"', True),
        ('team=~".+"', False),
        ('team!~".+"', True),
    ],
)
def test_matches(text: str, expected: bool) -> None:
    assert parse_matcher(text).matches(LABELS) is expected


def test_regex_does_not_match_a_trailing_newline() -> None:
    assert not parse_matcher('a=~"x"').matches({"a": "x\n"})


def test_matches_all_is_a_conjunction() -> None:
    assert matches_all(parse_matchers('alertname=~"Block.*", network="alpha"'), LABELS)
    assert not matches_all(parse_matchers('alertname=~"Block.*", network="beta"'), LABELS)
    assert matches_all([], LABELS)


def test_explain_says_why() -> None:
    lines = explain_all(
        parse_matchers('alertname=~"Block", network!="devnet", team="infra"'), LABELS
    )
    assert lines == [
        'alertname=~"Block" does not match: alertname is "BlockProductionStalled"'
        " (the regex matches part of it, but must match all of it)",
        'network!="devnet" matches: network is "alpha"',
        'team="infra" does not match: team is not set (counts as "")',
    ]


def test_format_matchers_reads_back() -> None:
    matchers = parse_matchers('{a="1", b=~"x.*", c!="q\\"uote"}')
    assert format_matchers(matchers) == '{a="1", b=~"x.*", c!="q\\"uote"}'
    assert parse_matchers(format_matchers(matchers)) == matchers


# ---------------------------------------------------------------- label sets from chat


def test_parse_label_set() -> None:
    assert parse_label_set("alertname=BlockProductionStalled network=alpha") == {
        "alertname": "BlockProductionStalled",
        "network": "alpha",
    }
    assert parse_label_set('{summary="two words", severity=critical}') == {
        "summary": "two words",
        "severity": "critical",
    }
    assert parse_label_set("") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alertname=~Block.*", "is a matcher, not a label"),
        ("network!=devnet", "is a matcher, not a label"),
        ("network=alpha network=beta", "label 'network' is given twice"),
        ("network alpha", "missing operator"),
        ("network=alpha extra", "missing operator after label 'extra'"),
    ],
)
def test_parse_label_set_errors(text: str, message: str) -> None:
    with pytest.raises(MatcherError, match=re.escape(message)):
        parse_label_set(text)


# ---------------------------------------------------------------- properties


@given(name=label_names, value=label_values)
def test_equal_matcher_round_trips_and_matches_exactly_its_value(name: str, value: str) -> None:
    matcher = Matcher(name, MatchType.EQUAL, value)
    assert parse_matcher(str(matcher)) == matcher
    assert matcher.matches({name: value})
    assert not matcher.matches({name: value + "x"})


@given(name=label_names, op=operators, value=safe_regexes | label_values.map(re.escape))
def test_any_matcher_round_trips(name: str, op: MatchType, value: str) -> None:
    matcher = Matcher(name, op, value)
    assert parse_matcher(str(matcher)) == matcher


@given(matchers=st.lists(st.builds(Matcher, label_names, operators, safe_regexes), max_size=4))
def test_lists_round_trip(matchers: list[Matcher]) -> None:
    assert parse_matchers(format_matchers(matchers)) == matchers


@given(name=label_names, value=label_values, labels=label_sets)
def test_not_equal_is_the_negation_of_equal(name: str, value: str, labels: dict[str, str]) -> None:
    equal = Matcher(name, MatchType.EQUAL, value)
    not_equal = Matcher(name, MatchType.NOT_EQUAL, value)
    assert not_equal.matches(labels) is not equal.matches(labels)


@given(name=label_names, regex=safe_regexes, labels=label_sets)
def test_not_regex_is_the_negation_of_regex(name: str, regex: str, labels: dict[str, str]) -> None:
    assert Matcher(name, MatchType.NOT_REGEX, regex).matches(labels) is not Matcher(
        name, MatchType.REGEX, regex
    ).matches(labels)


@given(name=label_names, value=label_values, labels=label_sets)
def test_escaped_regex_behaves_like_equal(name: str, value: str, labels: dict[str, str]) -> None:
    regex = Matcher(name, MatchType.REGEX, re.escape(value))
    assert regex.matches(labels) is Matcher(name, MatchType.EQUAL, value).matches(labels)
    assert regex.matches({name: value})


@given(labels=st.dictionaries(label_names, label_values, min_size=1, max_size=5))
def test_label_set_round_trips(labels: dict[str, str]) -> None:
    text = " ".join(f"{name}={quote(value)}" for name, value in labels.items())
    assert parse_label_set(text) == labels


@given(text=st.text(max_size=40))
def test_parser_raises_only_matcher_error(text: str) -> None:
    try:
        parse_matchers(text)
    except MatcherError:
        pass


def test_module_imports_neither_pydantic_nor_aiohttp() -> None:
    code = (
        "import sys, integrations.matchers; "
        "bad = {'pydantic', 'aiohttp'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
