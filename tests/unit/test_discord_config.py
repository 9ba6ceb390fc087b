"""chat.discord: the token from the environment, ids, channels and the button expiry."""

from __future__ import annotations

import textwrap

import pytest

from bot.configfile import ConfigError, parse_config

GOOD = """
chat:
  discord:
    token: "${DISCORD_TOKEN}"
    application_id: 1300000000000000001
    guilds: [1300000000000000100]
    channels: {connection_info: 1300000000000000101}
    confirm_timeout: 10m
roles:
  admin: {discord_roles: [1300000000000000202], discord_users: [1300000000000000013]}
"""


def test_the_token_comes_from_the_environment_and_is_a_secret() -> None:
    config = parse_config(textwrap.dedent(GOOD), source="t.yaml", env={"DISCORD_TOKEN": "tok-123456"})
    discord = config.chat.discord
    assert discord is not None
    assert discord.token.get_secret_value() == "tok-123456" and "tok-123456" not in repr(config)
    assert "tok-123456" in config.secrets()
    assert discord.guilds == [1300000000000000100] and discord.confirm_timeout == 600.0
    assert discord.channels["connection_info"] == 1300000000000000101


def test_a_missing_token_or_a_too_long_expiry_is_refused_with_its_path() -> None:
    with pytest.raises(ConfigError) as missing:
        parse_config(textwrap.dedent(GOOD), source="t.yaml", env={})
    assert "DISCORD_TOKEN" in str(missing.value)
    too_long = GOOD.replace("confirm_timeout: 10m", "confirm_timeout: 20m")
    with pytest.raises(ConfigError) as late:
        parse_config(textwrap.dedent(too_long), source="t.yaml", env={"DISCORD_TOKEN": "tok-123456"})
    assert "chat.discord.confirm_timeout" in str(late.value) and "15 min" in str(late.value)
    bad_guild = GOOD.replace("guilds: [1300000000000000100]", "guilds: [general]")
    with pytest.raises(ConfigError) as guild:
        parse_config(textwrap.dedent(bad_guild), source="t.yaml", env={"DISCORD_TOKEN": "tok-123456"})
    assert "chat.discord.guilds[0]" in str(guild.value)
