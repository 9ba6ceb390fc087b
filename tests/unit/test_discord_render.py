"""The Discord command layout and message bodies: Discord's limits kept, nothing lost."""

from __future__ import annotations

import shlex
from typing import Annotated, Literal

import pytest

from bot.context import Context
from bot.core import Table
from bot.registry import Help, Option, Registry, Rest
from integrations.chat.discord_render import (
    CONTENT_LIMIT,
    markdown,
    message_bodies,
    split_text,
    table_embeds,
    thread_name,
)
from integrations.chat.discord_schema import (
    Group,
    LayoutError,
    clip,
    discord_name,
    invocation_text,
    layout,
)


def _registry() -> Registry:
    registry = Registry()

    @registry.command("lock")
    async def lock(ctx: Context, *, network: str, reason: Annotated[str, Rest, Help("Why")]) -> None:
        """Lock a network."""

    @registry.command("rollback")
    async def rollback(
        ctx: Context,
        *,
        network: str | None = None,
        to: Annotated[str | None, Option] = None,
        dry_run: bool = False,
    ) -> None:
        """Roll back."""

    @registry.command("incident")
    async def incident(ctx: Context, *, id: int) -> None:
        """Show an incident."""

    @registry.command("incident ack")
    async def ack(ctx: Context, *, id: int, which: Literal["a", "b"] = "a") -> None:
        """Acknowledge an incident with a description that is much longer than Discord lets a command description be, so it is cut."""

    return registry


def test_names_are_made_valid_and_descriptions_cut() -> None:
    assert discord_name("Dry Run!") == "dry-run" and discord_name("x" * 40) == "x" * 32
    with pytest.raises(LayoutError):
        discord_name("!!!")
    assert len(clip("word " * 40)) == 100 and clip("   ") == "…"


def test_a_command_that_is_also_a_group_becomes_its_show_subcommand() -> None:
    entries = {e.name: e for e in layout(_registry())}
    group = entries["incident"]
    assert isinstance(group, Group)
    assert [leaf.name for leaf in group.leaves] == ["show", "ack"]
    ack = group.leaves[1]
    assert len(ack.description) == 100 and ack.description.endswith("…")
    assert [(o.name, o.kind, o.required, o.choices) for o in ack.options] == [
        ("id", "integer", True, ()),
        ("which", "string", False, ("a", "b")),
    ]
    rollback = entries["rollback"]
    assert [(o.name, o.kind) for o in rollback.options] == [  # type: ignore[union-attr]
        ("network", "string"), ("to", "string"), ("dry_run", "boolean")]


def test_more_than_discord_allows_is_refused() -> None:
    wide = Registry()
    for i in range(26):
        async def handler(ctx: Context) -> None:
            """A command."""
        wide.command(f"c{i}")(handler)
    with pytest.raises(LayoutError, match="25"):
        layout(wide)
    deep = Registry()

    @deep.command("a b c")
    async def abc(ctx: Context) -> None:
        """Too deep."""

    with pytest.raises(LayoutError, match="deeper"):
        layout(deep)


def test_options_become_a_command_line_the_registry_parses_back() -> None:
    registry = _registry()
    lock = registry.get("lock")
    rollback = registry.get("rollback")
    assert lock is not None and rollback is not None
    text = invocation_text(lock, {"network": "alpha", "reason": "release freeze; #1 'now'"})
    assert lock.parse(shlex.split(text)[2:]) == {"network": "alpha", "reason": "release freeze; #1 'now'"}
    gap = invocation_text(rollback, {"network": None, "to": "0.61.0", "dry_run": True})
    assert gap == "/testnet rollback --to=0.61.0 --dry-run"
    assert rollback.parse(shlex.split(gap)[2:]) == {"network": None, "to": "0.61.0", "dry_run": True}
    dashed = invocation_text(lock, {"network": "--evil", "reason": "x"})
    assert lock.parse(shlex.split(dashed)[2:])["network"] == "--evil"


def test_long_text_is_split_within_the_limit_and_nothing_is_lost() -> None:
    text = "intro\n```\n" + "\n".join(f"row {i} " + "x" * 60 for i in range(200)) + "\n```\nend " + "y" * 5000
    parts = split_text(text)
    assert len(parts) > 3 and all(len(p) <= CONTENT_LIMIT for p in parts)
    assert all(p.count("```") % 2 == 0 for p in parts)  # every piece's code block is closed
    joined = "".join(parts).replace("```", "").replace("\n", "")
    assert joined == text.replace("```", "").replace("\n", "")


def test_markup_becomes_discord_markdown_outside_code() -> None:
    assert markdown("*Action:* see <https://x.org/r|runbook>") == "**Action:** see [runbook](<https://x.org/r>)"
    assert markdown("`*kept*` and ```\n*kept*\n```") == "`*kept*` and ```\n*kept*\n```"
    assert markdown("2 * 3 * 4") == "2 * 3 * 4"


def test_tables_become_embeds_within_discords_limits() -> None:
    pairs = Table(("name", "value"), tuple((f"k{i}", f"v{i}") for i in range(25)))
    [embed] = table_embeds(pairs)
    assert len(embed["fields"]) == 25
    too_many = Table(("name", "value"), tuple((f"k{i}", f"v{i}") for i in range(26)))
    assert all("fields" not in e for e in table_embeds(too_many))
    big = Table(("a", "b", "c"), tuple((f"r{i}", "x" * 80, "y" * 80) for i in range(400)), attention=1)
    bodies = message_bodies("Results", big)
    for b in bodies:
        assert len(b.get("embeds", [])) <= 10
        assert sum(len(e["description"]) for e in b["embeds"]) <= 6000
        assert all(len(e["description"]) <= 4096 and e["color"] == 0xE74C3C for e in b["embeds"])
    rows = sum(e["description"].count("\nr") for b in bodies for e in b["embeds"])
    assert rows == 400
    assert bodies[0]["content"] == "Results"


def test_thread_names_are_plain_and_short() -> None:
    assert thread_name("*Deploy* `v0.62.0` to alpha\nmore") == "Deploy v0.62.0 to alpha"
    assert len(thread_name("x" * 300)) == 100 and thread_name("") == "details"


def test_the_setup_guide_gives_the_permissions_the_bot_uses() -> None:
    from pathlib import Path

    from integrations.chat.discord import REQUIRED_PERMISSIONS

    guide = (Path(__file__).resolve().parents[2] / "deploy/discord/README.md").read_text()
    assert f"permissions integer **{REQUIRED_PERMISSIONS.value}**" in guide
    assert f"permissions={REQUIRED_PERMISSIONS.value}" in guide
    assert REQUIRED_PERMISSIONS.value == 309506165760


def test_neutral_parts_become_discord_mentions_links_and_channels() -> None:
    from bot.markup import ChannelRef, Link, Mention
    from integrations.chat.discord_render import mentioned_roles

    text = (
        f"Paging {Mention('1300000000000000202')} and {Mention('S0SLACK')}: see "
        f"{Link('https://x.org/a>b', 'the [run]')} in {ChannelRef('discord:42')} "
        f"or {ChannelRef('slack:C1')}"
    )
    rendered = markdown(text)
    assert rendered == (
        "Paging <@&1300000000000000202> and @S0SLACK: see [the (run)](<https://x.org/a%3Eb>) "
        "in <#42> or #C1"
    )
    assert mentioned_roles(rendered) == ["1300000000000000202"]
