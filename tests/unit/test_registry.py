"""Typed handler signatures are the argument spec."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import UsageError
from bot.registry import Help, Registry, Rest


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
