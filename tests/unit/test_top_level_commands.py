"""Commands registered with ``top_level`` answer to their own slash command
(``/operator start`` is ``/testnet operator start``); other first words do not."""

from __future__ import annotations

import pytest

from bot.dispatcher import _words
from bot.errors import UsageError
from bot.registry import DEFAULT_REGISTRY, Registry


def _registry() -> Registry:
    registry = Registry()

    @registry.command("operator start", top_level=True)
    async def start(ctx: object) -> None:
        """Start."""

    @registry.command("deploy")
    async def deploy(ctx: object) -> None:
        """Deploy."""

    return registry


def test_a_top_level_command_answers_to_its_own_slash() -> None:
    registry = _registry()
    roots = registry.roots()
    assert roots == frozenset({"operator"})
    assert _words("/operator start 0xabc", roots) == ["operator", "start", "0xabc"]
    assert _words("/testnet operator start", roots) == ["operator", "start"]
    spec, rest = registry.resolve(_words("/operator start x", roots))
    assert spec is not None and spec.name == "operator start" and rest == ["x"]


def test_other_first_words_are_not_slash_commands_of_their_own() -> None:
    roots = _registry().roots()
    assert _words("/deploy v0.62.0", roots) == ["/deploy", "v0.62.0"]  # unknown: gets help
    with pytest.raises(UsageError):
        _words("/testnet", roots)


def test_the_built_in_top_level_commands_are_the_validator_ones() -> None:
    assert DEFAULT_REGISTRY.roots() == frozenset({"operator", "validator"})
