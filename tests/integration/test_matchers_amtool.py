"""Our matchers parser against the real ``amtool`` (Alertmanager 0.25): on a corpus of
matcher strings both accept and refuse the same ones, and the accepted ones select the
same label sets.

``amtool check-config`` validates several config files in one run and reports each, so
every string becomes a config whose one route has ``matchers: [<string>]``; ``amtool
config routes test`` (offline, with ``--config.file``) says which routes a label set
reaches, so one config with a ``continue: true`` route per string answers, for one label
set, which strings match it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from integrations.matchers import Matcher, MatcherError, MatchType, matches_all, parse_matchers
from integrations.matchers import quote as quote_value
from tests.binaries import require_binary

pytestmark = pytest.mark.binary("amtool")

CORPUS = [
    # accepted by both, in the forms the docs show
    'alertname=~"BlockProduction.*"',
    'severity="critical"',
    'network!="devnet"',
    'foo!~"a|b"',
    "severity=critical",
    '  severity = "critical"  ',
    'summary="say \\"hi\\""',
    'path="C:\\\\temp"',
    'msg="two\\nlines"',
    'n=~"\\d+"',
    'label="a, b} {c"',
    "empty=",
    'empty=""',
    "job:rate=x",
    '{alertname="BlockProductionStalled", network=~"alpha|beta"}',
    'alertname="BlockProductionStalled",network=~"alpha|beta"',
    "a=b,c=d",
    '{ alertname = BlockProductionStalled ,  network=~"alpha|beta" , }',
    "a=b, c!=d, e=~f, g!~h",
    "",
    "   ",
    "{}",
    "{ }",
    "a=1,",
    "{a=1,}",
    ":a=b",
    "_a=b",
    "a!=",
    "a!~",
    "a=~",
    'a=~""',
    # accepted by Alertmanager in forms that look wrong: values run to the next comma
    "severity==critical",
    "a=b=c",
    "a=1 b=2",
    "a=b c",
    "a= 1",
    "a =~ x.*",
    "a=\t1",
    "a=1\t",
    "{a=1",
    "a=1}",
    "a=1}}",
    "{a=1 ",
    "{a=1} b=2",
    "{{a=1}}",
    "a={b}",
    "a=b}c",
    "a=b{c",
    "a=é",
    "a='b'",
    'a="\\x"',
    'a="trailing\\\\"',
    "a=x\\",
    "a=b\nc=d",
    "a=~a|b|",
    # regexes: RE2's dialect, anchored as ^(?:re)$
    'a=~"(?i)foo"',
    'a=~"a{2,3}"',
    'a=~"[[:alpha:]]+"',
    'a=~"\\p{L}+"',
    'a=~"(?P<n>x)"',
    'a=~"x*?"',
    'a=~"(?s).*"',
    'a=~"\\z"',
    'a=~"é+"',
    'a=~"(?i)a(?-i)b"',
    'a=~"\\Qx\\E"',
    'alertname=~"a)|(b"',
    # refused by both
    "severity>critical",
    "severity~=critical",
    "severity!critical",
    "severity critical",
    "severity",
    'severity="critical',
    'a="1", b="2',
    'alertname=~"(Block"',
    'alertname!~"[z-a]"',
    "1abc=x",
    '"severity"=x',
    'a=b"c',
    "a=1,,b=2",
    ",a=1",
    'a="1" b="2"',
    'a="x\\"',
    'a=~"\\Z"',
    'a=~"(?=x)"',
    'a=~"(a)\\1"',
    'a=~"x{1001}"',
    'a=~"[a-"',
    "é=a",
    "a.b=c",
    "a-b=c",
    '{a="b"}, {c="d"}',
    " {a=1}",
    "a=~(",
    "=1",
    "!=1",
    "a",
    ",",
    "{,}",
    '{"a"="b"}',
    'a="b"c',
    'a="b", c',
]


def _config(matchers: list[str]) -> dict[str, object]:
    routes = [
        {"receiver": f"r{i}", "matchers": [text], "continue": True}
        for i, text in enumerate(matchers)
    ]
    receivers = [{"name": "miss"}] + [{"name": f"r{i}"} for i in range(len(matchers))]
    return {"route": {"receiver": "miss", "routes": routes}, "receivers": receivers}


def _ours(text: str) -> list[Matcher] | None:
    try:
        return parse_matchers(text)
    except MatcherError:
        return None


def test_amtool_and_our_parser_accept_and_refuse_the_same_strings(tmp_path: Path) -> None:
    amtool = require_binary("amtool")
    files = []
    for i, text in enumerate(CORPUS):
        path = tmp_path / f"m{i}.yml"
        path.write_text(yaml.safe_dump(_config([text])))
        files.append(path)
    run = subprocess.run(
        [amtool, "check-config", *map(str, files)], capture_output=True, text=True, timeout=60
    )
    verdicts: dict[str, str] = {}
    for block in run.stdout.split("Checking '")[1:]:
        name, rest = block.split("'", 1)
        verdicts[name] = rest.strip().splitlines()[0]
    assert len(verdicts) == len(CORPUS), run.stdout + run.stderr
    differ = [
        (text, verdicts[str(path)], _ours(text) is not None)
        for text, path in zip(CORPUS, files, strict=True)
        if verdicts[str(path)].startswith("SUCCESS") != (_ours(text) is not None)
    ]
    assert differ == []
    accepted = sum(v.startswith("SUCCESS") for v in verdicts.values())
    assert 0 < accepted < len(CORPUS)  # the corpus holds both kinds


def _label_sets(parsed: list[list[Matcher]]) -> list[dict[str, str]]:
    """Label sets that hit and miss the corpus: each string's equality values, each
    value of a regex taken literally, a value nobody names, and no labels at all."""
    sets: list[dict[str, str]] = [{}]
    for matchers in parsed:
        sets.append({m.name: m.value for m in matchers if not m.op.is_negative})
        sets.append({m.name: m.value + "-other" for m in matchers})
    unique = {tuple(sorted(s.items())): s for s in sets}
    return list(unique.values())


def test_amtool_and_our_matchers_select_the_same_label_sets(tmp_path: Path) -> None:
    amtool = require_binary("amtool")
    accepted = [(text, m) for text in CORPUS if (m := _ours(text)) is not None]
    config = tmp_path / "routes.yml"
    config.write_text(yaml.safe_dump(_config([text for text, _ in accepted])))
    label_sets = _label_sets([m for _, m in accepted])
    assert len(label_sets) > 20
    differ = []
    for labels in label_sets:
        args = [f"{name}={quote_value(value)}" for name, value in labels.items()]
        run = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={config}", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 0, run.stderr
        hit_by_amtool = {
            int(name[1:]) for name in run.stdout.strip().split(",") if name.startswith("r")
        }
        hit_by_us = {i for i, (_, m) in enumerate(accepted) if matches_all(m, labels)}
        if hit_by_amtool != hit_by_us:
            differ.append((labels, sorted(hit_by_amtool ^ hit_by_us)))
    assert differ == []


def test_the_check_can_fail_a_parser_that_splits_on_spaces() -> None:
    """The bad case: a parser that read ``a=1 b=2`` as two matchers would select
    ``{a: "1", b: "2"}``; Alertmanager (and we) read one matcher whose value is ``1 b=2``."""
    (matcher,) = parse_matchers("a=1 b=2")
    assert matcher == Matcher("a", MatchType.EQUAL, "1 b=2")
    assert not matches_all([matcher], {"a": "1", "b": "2"})
