"""The Discord fake's limits are Discord's: each limit accepts its maximum and refuses one more."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes import discord_limits as limits


def option(name: str, kind: int = limits.STRING, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, "description": f"the {name}", **extra}


def command(**extra: Any) -> dict[str, Any]:
    return {"type": 1, "name": "testnet", "description": "Run the runbooks", **extra}


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("testnet", True),
        ("incident-ack_2", True),
        ("déploiement", True),  # any lowercase letter
        ("x" * 32, True),
        ("x" * 33, False),
        ("", False),
        ("Testnet", False),  # letters must be lowercase
        ("has space", False),
        ("dot.ted", False),
    ],
)
def test_command_names(name: str, valid: bool) -> None:
    assert limits.valid_command_name(name) is valid
    assert (limits.commands_errors([command(name=name)]) == {}) is valid


def test_descriptions_are_1_to_100() -> None:
    assert limits.commands_errors([command(description="d" * 100)]) == {}
    errors = limits.commands_errors([command(description="d" * 101)])
    assert errors["0"]["description"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    assert limits.commands_errors([command(description="")]) != {}


def test_at_most_25_options_and_choices() -> None:
    assert limits.commands_errors([command(options=[option(f"o{i}") for i in range(25)])]) == {}
    assert limits.commands_errors([command(options=[option(f"o{i}") for i in range(26)])]) != {}
    choices = [{"name": f"c{i}", "value": f"v{i}"} for i in range(25)]
    assert limits.commands_errors([command(options=[option("o", choices=choices)])]) == {}
    too_many = [*choices, {"name": "c25", "value": "v25"}]
    assert limits.commands_errors([command(options=[option("o", choices=too_many)])]) != {}


def test_subcommand_nesting() -> None:
    sub = option("ack", limits.SUB_COMMAND, options=[option("id", limits.INTEGER, required=True)])
    group = option("incident", limits.SUB_COMMAND_GROUP, options=[sub])
    assert limits.commands_errors([command(options=[group])]) == {}
    assert limits.commands_errors([command(options=[group, sub])]) == {}  # groups and subcommands may mix
    nested_group = option("outer", limits.SUB_COMMAND_GROUP, options=[group])
    assert limits.commands_errors([command(options=[nested_group])]) != {}
    sub_in_sub = option("outer", limits.SUB_COMMAND, options=[sub])
    assert limits.commands_errors([command(options=[sub_in_sub])]) != {}
    mixed = limits.commands_errors([command(options=[sub, option("plain")])])
    assert mixed["0"]["options"]["_errors"][0]["code"] == "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID"


def test_required_options_come_first_and_names_are_unique() -> None:
    good = [option("a", required=True), option("b")]
    assert limits.commands_errors([command(options=good)]) == {}
    bad = [option("a"), option("b", required=True)]
    errors = limits.commands_errors([command(options=bad)])
    assert errors["0"]["options"]["1"]["required"]["_errors"][0]["code"] == "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"
    assert limits.commands_errors([command(options=[option("a"), option("a")])]) != {}
    assert limits.commands_errors([command(), command()]) != {}


def test_message_content_and_embed_limits() -> None:
    assert limits.message_errors({"content": "x" * 2000}) == {}
    assert "content" in limits.message_errors({"content": "x" * 2001})
    assert limits.message_errors({"embeds": [{"description": "d" * 4096}]}) == {}
    assert limits.message_errors({"embeds": [{"description": "d" * 4097}]})["embeds"]["0"]["description"]
    assert limits.message_errors({"embeds": [{"title": "t" * 257}]}) != {}
    assert limits.message_errors({"embeds": [{}] * 10}) == {}
    assert limits.message_errors({"embeds": [{}] * 11}) != {}
    fields = [{"name": "n" * 256, "value": "v" * 1024}] * 4  # 5,120 of the 6,000
    assert limits.message_errors({"embeds": [{"fields": fields}]}) == {}
    assert limits.message_errors({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}) != {}
    assert limits.message_errors({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}) != {}


def test_all_embeds_together_hold_6000_characters() -> None:
    exactly = [{"description": "d" * 4000}, {"description": "e" * 2000}]
    assert limits.message_errors({"embeds": exactly}) == {}
    over = [{"description": "d" * 4000}, {"description": "e" * 2001}]
    code = limits.message_errors({"embeds": over})["embeds"]["_errors"][0]["code"]
    assert code == "MAX_EMBED_SIZE_EXCEEDED"


def test_components_limits() -> None:
    button = {"type": 2, "style": 1, "label": "Go", "custom_id": "c" * 100}
    rows = [{"type": 1, "components": [button] * 5}] * 5
    assert limits.message_errors({"components": rows}) == {}
    assert limits.message_errors({"components": [*rows, rows[0]]}) != {}
    long_id = {**button, "custom_id": "c" * 101}
    assert limits.message_errors({"components": [{"type": 1, "components": [long_id]}]}) != {}


def test_empty_messages() -> None:
    assert limits.is_empty_message({"content": ""})
    assert not limits.is_empty_message({"embeds": [{"title": "t"}]})
