"""The README's command table and docs/configuration.md match the code."""

from __future__ import annotations

from pathlib import Path

import commands  # noqa: F401
from bot.docs import commands_markdown, config_markdown
from bot.registry import DEFAULT_REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def test_readme_lists_every_command_as_the_registry_does() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- commands:start -->\n")[1].split("<!-- commands:end -->")[0]
    assert block == commands_markdown(DEFAULT_REGISTRY), (
        "README is stale: paste `testnet-bot docs commands` between the markers"
    )


def test_the_configuration_reference_is_current() -> None:
    assert (ROOT / "docs" / "configuration.md").read_text() == config_markdown(), (
        "run `testnet-bot docs config > docs/configuration.md`"
    )


def test_the_readme_opens_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```sh") + 1 : lines.index("```")]
    assert [line.split()[0] for line in block] == ["./scripts/run", "./scripts/test"]
