"""Typed handler signatures are the argument spec."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cli import exec_text
from bot.dispatcher import suggest
from bot.errors import UsageError
from bot.registry import Help, Registry, Rest
from bot.words import UnclosedQuote, rest_text, split_words
from commands.sanity.schedules import Interval
from integrations.chat.shell import BOLD, CODE, RESET, render_markup


class Version:
    """A test converter type with a ``parse`` classmethod."""

    def __init__(self, text: str) -> None:
        self.text = text

    @classmethod
    def parse(cls, text: str) -> Version:
        if not re.fullmatch(r"v\d+\.\d+\.\d+", text):
            raise ValueError(f"{text!r} is not like v1.2.3")
        return cls(text)


def make_registry() -> Registry:
    registry = Registry()

    @registry.command("deploy", permission="deploy", dangerous=True)
    async def deploy(
        ctx: object,
        *,
        version: Annotated[Version, Help("Release to deploy")],
        network: str | None = None,
        canary: bool = False,
        dry_run: bool = False,
    ) -> None:
        """Roll a release out.

        More words.
        """

    @registry.command("incident ack")
    async def ack(ctx: object, *, id: int) -> None:
        """Acknowledge an incident."""

    @registry.command("lock")
    async def lock(ctx: object, *, network: str, reason: Annotated[str, Rest]) -> None:
        """Freeze."""

    @registry.command("incidents")
    async def incidents(ctx: object, *, which: Literal["open", "all"] = "open") -> None:
        """List."""

    return registry


REGISTRY = make_registry()


def parse(text: str) -> dict[str, object]:
    spec, rest = REGISTRY.resolve(text.split())
    assert spec is not None
    return spec.parse(rest)


def test_positional_flags_and_options() -> None:
    args = parse("deploy v0.62.0 alpha --canary")
    assert args["version"].text == "v0.62.0"  # type: ignore[attr-defined]
    assert (args["network"], args["canary"], args["dry_run"]) == ("alpha", True, False)
    args = parse("deploy --network=beta --dry-run v1.0.0")
    assert (args["network"], args["dry_run"]) == ("beta", True)
    args = parse("deploy --version v1.2.3")
    assert args["network"] is None


def test_the_longest_command_path_wins() -> None:
    spec, rest = REGISTRY.resolve(["incident", "ack", "7"])
    assert spec is not None and spec.name == "incident ack"
    assert spec.parse(rest) == {"id": 7}
    assert REGISTRY.resolve(["incidents", "all"])[0] is REGISTRY.get("incidents")


def test_rest_takes_the_remaining_words() -> None:
    assert parse("lock alpha hotfix going out") == {
        "network": "alpha",
        "reason": "hotfix going out",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("deploy", "Missing `version`"),
        ("deploy v0.62", "'v0.62' is not like v1.2.3"),
        ("deploy v1.0.0 alpha extra", "Unexpected argument `extra`"),
        ("deploy v1.0.0 --canary=yes", "is a flag and takes no value"),
        ("deploy v1.0.0 --colour", "Unknown option `--colour`"),
        ("deploy v1.0.0 --network", "`--network` needs a value"),
        ("deploy v1.0.0 --canary --canary", "given twice"),
        ("incident ack seven", "not a whole number"),
        ("incidents some", "must be one of open, all"),
    ],
)
def test_bad_arguments_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        parse(text)


def test_usage_and_help_come_from_the_signature() -> None:
    spec = REGISTRY.get("deploy")
    assert spec is not None
    assert spec.usage() == "deploy <version> [network] [--canary] [--dry-run]"
    assert spec.summary == "Roll a release out."
    assert spec.description == "More words."
    assert spec.params[0].help == "Release to deploy"
    assert spec.dangerous and spec.permission == "deploy"


def test_registration_rejects_bad_handlers() -> None:
    registry = Registry()

    async def positional(ctx: object, network: str) -> None: ...

    with pytest.raises(TypeError, match="keyword-only"):
        registry.command("a")(positional)

    async def required_flag(ctx: object, *, force: bool) -> None: ...

    with pytest.raises(TypeError, match="needs a default"):
        registry.command("b")(required_flag)

    async def ok(ctx: object) -> None: ...

    registry.command("c")(ok)
    with pytest.raises(ValueError, match="registered twice"):
        registry.command("c")(ok)


def test_decorators_return_the_function_unchanged() -> None:
    registry = Registry()

    async def handler(ctx: object) -> None:
        """Doc."""

    assert registry.command("x")(handler) is handler


@given(st.lists(st.text(min_size=1, max_size=12), max_size=8))
def test_any_words_either_parse_or_raise_a_usage_error(words: list[str]) -> None:
    for name in ("deploy", "lock", "incidents", "incident ack"):
        spec = REGISTRY.get(name)
        assert spec is not None
        try:
            spec.parse(words)
        except UsageError as exc:
            assert exc.message


# -- what a new user types -----------------------------------------------------


def words_parse(name: str, text: str) -> dict[str, object]:
    spec = REGISTRY.get(name)
    assert spec is not None
    return spec.parse(list(split_words(text)))


def test_short_options_map_to_the_option_sharing_their_letter() -> None:
    registry = Registry()

    @registry.command("history")
    async def history(ctx: object, *, network: str | None = None, n: int = 10) -> None:
        """Show."""

    spec = registry.get("history")
    assert spec is not None
    assert spec.parse(["-n", "5"]) == {"network": None, "n": 5}  # the one-letter name wins
    assert spec.parse(["-n=5", "alpha"]) == {"network": "alpha", "n": 5}
    assert parse("deploy v1.0.0 -d -c")["dry_run"] is True  # unique first letters
    with pytest.raises(UsageError, match=r"Unknown option `-x`; `history` takes `--network`"):
        spec.parse(["-x", "5"])
    with pytest.raises(UsageError, match="not a whole number"):
        spec.parse(["-n", "many"])
    # A negative number is a value, not an option.
    assert spec.parse(["alpha", "-5"])["n"] == -5


def test_quotes_keep_their_meaning_in_rest_of_line_arguments() -> None:
    registry = Registry()

    @registry.command("explain")
    async def explain(ctx: object, *, labels: Annotated[str, Rest]) -> None:
        """Explain."""

    spec = registry.get("explain")
    assert spec is not None

    def labels(text: str) -> object:
        return spec.parse(list(split_words(text)))["labels"]

    assert labels('alertname="Block Production"') == 'alertname="Block Production"'
    assert labels('alertname="Block Production" network=alpha') == (
        'alertname="Block Production" network=alpha'
    )
    assert labels("alertname=“Block Production”") == 'alertname="Block Production"'
    assert labels("alertname=Block") == "alertname=Block"
    # A reason typed in quotes is the words inside them; apostrophes and # are text.
    assert words_parse("lock", 'alpha "big release"')["reason"] == "big release"
    assert words_parse("lock", "alpha don't deploy #123")["reason"] == "don't deploy #123"
    assert words_parse("lock", "alpha big release")["reason"] == "big release"


def test_words_split_like_a_shell_but_for_chat() -> None:
    assert split_words('lock alpha "two words"') == ["lock", "alpha", "two words"]
    assert split_words("a=‘x y’ b") == ["a=x y", "b"]
    assert split_words(r"say \"hi\"") == ["say", '"hi"']
    assert split_words("it's fine") == ["it's", "fine"]
    with pytest.raises(UnclosedQuote, match="no closing quotation"):
        split_words('lock alpha "unterminated')


@given(st.text(max_size=40))
def test_any_text_splits_or_names_an_unclosed_quote(text: str) -> None:
    try:
        words = split_words(text)
    except UnclosedQuote as exc:
        assert "closing quotation" in str(exc)
    else:
        assert all(w.raw for w in words)
        assert rest_text(words) is not None


def test_help_for_a_command_lists_the_commands_under_it() -> None:
    registry = Registry()

    @registry.command("incident")
    async def show(ctx: object, *, id: int) -> None:
        """Show one."""

    @registry.command("incident ack")
    async def ack(ctx: object, *, id: int) -> None:
        """Acknowledge one."""

    @registry.command("schedule sanity")
    async def schedule(ctx: object, *, network: str) -> None:
        """Schedule."""

    text = registry.help_for("incident")
    assert text is not None and "Show one." in text
    assert "`/testnet incident ack <id>`  Acknowledge one." in text
    helped = registry.help_for("incident ack")
    assert helped is not None and "Show one." not in helped  # no parent in a child's help
    group = registry.help_for("schedule")  # a group word with no command of its own
    assert group is not None and "/testnet schedule sanity <network>" in group
    assert registry.help_for("nothing") is None


def test_only_close_words_get_a_suggestion() -> None:
    names = ["status", "deploy", "help", "incident ack", "incidents"]
    assert suggest("stauts", names) == "status"
    assert suggest("deploi", names) == "deploy"
    assert suggest("hello", names) is None
    assert suggest("xyzzy", names) is None
    assert suggest("banana", names) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10m", 600),
        ("every 100ms", 0.1),
        ("every 15m", 900),
        ("10 minutes", 600),
        ("every 10 minutes", 600),
        ("every 2 Hours", 7200),
        ("every hour", 3600),
        ("daily", 86400),
    ],
)
def test_intervals_read_as_people_say_them(text: str, seconds: float) -> None:
    assert Interval.parse(text) == seconds


@pytest.mark.parametrize("text", ["every", "10 parsecs", "often", "0m", "every 10 minutes please"])
def test_other_intervals_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match=r"interval"):
        Interval.parse(text)


def test_exec_arguments_rejoin_into_the_words_typed() -> None:
    assert exec_text(["/testnet status"]) == "/testnet status"
    assert exec_text(["/testnet", "history", "-n", "5"]) == "/testnet history -n 5"
    joined = exec_text(["/testnet", "matrix", "explain", "alertname=Block Production"])
    assert joined == '/testnet matrix explain alertname="Block Production"'
    assert split_words(joined)[-1] == "alertname=Block Production"
    assert split_words(exec_text(["lock", "alpha", 'say "hi" now']))[-1] == 'say "hi" now'


def test_terminal_markup_is_rendered_not_shown_raw() -> None:
    text = "*alpha* (image `aztec:0.62.0`), 2*3*4"
    assert render_markup(text, color=False) == "alpha (image `aztec:0.62.0`), 2*3*4"
    colored = render_markup(text, color=True)
    assert "*alpha*" not in colored and "`" not in colored
    assert f"{BOLD}alpha{RESET}" in colored and f"{CODE}aztec:0.62.0{RESET}" in colored
    assert render_markup("`*not bold*`", color=False) == "`*not bold*`"
