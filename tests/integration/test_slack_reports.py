"""Reports that fit Slack: a long sanity table arrives whole and within Slack's limits,
usage errors and permission denials are seen only by the person who asked, and people
are named by their display names, approvers included."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.context import Context
from bot.core import Table
from bot.registry import Registry
from integrations.chat.slack import DisplayNames
from tests.fakes.kube_api import KubeFake
from tests.fakes.slack_api import (
    ALICE,
    BOB,
    DEPLOYS,
    SECTION_TEXT_LIMIT,
    FakeMessage,
    SlackFake,
    blocks_text_length,
)
from tests.fakes.slack_signing import signed_slash_command
from tests.harness import ShellBot, make_config, wait_until
from tests.integration.kube_harness import NAMESPACE, build_testnet, network_config
from tests.integration.slack_harness import SECRET, SlackBot, slack_bot

CAROL = "U0CAROL"
LONG = "x" * 300
PROPOSE = json.dumps(
    {
        "level": "info",
        "time": "2026-12-02T01:00:00.000Z",
        "module": "sequencer",
        "msg": "Can propose block 12 at slot 40 with 9 txs, attestations collected from "
        "the committee members in time for the slot",
        "context": LONG,
    }
)
FINDNODE = json.dumps(
    {
        "level": "warn",
        "module": "discv5",
        "msg": "Failed FINDNODE request to peer 16Uiu2HAm (timeout)",
        "peer": "16Uiu2HAmExamplePeerIdThatIsRatherLong",
        "context": LONG,
    }
)
PASSING = [f"block proposal {n:02}" for n in range(1, 14)]
FAILING = [f"peer discovery {n}" for n in range(1, 4)] + [f"epoch proving {n}" for n in range(1, 4)]


def twenty_checks() -> dict[str, Any]:
    """1 pods check, 13 log checks that pass and 6 that fail, all with long log lines."""
    logs: list[dict[str, Any]] = [
        {"name": name, "selector": "app=validator", "expect": "Can propose block"}
        for name in PASSING
    ]
    logs += [
        {"name": name, "selector": "app=validator", "forbid": "Failed FINDNODE"}
        for name in FAILING[:3]
    ]
    logs += [
        {"name": name, "selector": "app=validator", "expect": "Submitted proof for epoch"}
        for name in FAILING[3:]
    ]
    return {"pods": {"max_restarts": 3}, "logs": logs}


def chatty_testnet(fake: KubeFake) -> None:
    """Three validators logging long JSON lines; validator-1 also logs a forbidden one."""
    build_testnet(fake, validators=3)
    for i in range(3):
        lines = PROPOSE + "\n" + (FINDNODE + "\n" if i == 1 else "")
        fake.set_logs(f"validator-{i}", lines, namespace=NAMESPACE, container="aztec")


@asynccontextmanager
async def reports_bot(tmp_path: Path, **overrides: Any) -> AsyncIterator[SlackBot]:
    async with KubeFake(ready_delay=0.005) as fake:
        chatty_testnet(fake)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        config = network_config(kubeconfig, sanity=twenty_checks(), **overrides)
        async with slack_bot(
            tmp_path,
            roles={"admin": {"slack_users": [ALICE]}, "release": {"slack_groups": ["S0RELEASE"]}},
            permissions={"deploy": ["admin", "release"]},
            **config,
        ) as sb:
            yield sb


def section_texts(message: FakeMessage) -> list[str]:
    return [b["text"]["text"] for b in message.blocks or [] if b.get("type") == "section"]


def assert_within_slack_limits(message: FakeMessage) -> None:
    blocks = message.blocks or []
    assert len(blocks) <= 50
    assert all(len(t) <= SECTION_TEXT_LIMIT for t in section_texts(message))
    assert blocks_text_length(blocks) <= 12_000


ATTENTION_ROW = re.compile(r"^(❌|⚠️|✅) \*(.+?)\* — (.*)$")


def table_rows(messages: list[FakeMessage]) -> list[str]:
    """The rows of every table in ``messages``, in order, headers left out: rows that
    need attention (a section each, ``❌ *check* — observed · took``) as
    ``❌  check  observed · took``, then the monospace table's rows."""
    rows: list[str] = []
    for message in messages:
        for text in section_texts(message):
            if match := ATTENTION_ROW.match(text):
                rows.append("  ".join(match.groups()))
            elif text.startswith("```"):
                rows += [
                    line
                    for line in text.strip("`").splitlines()[2:]
                    if line.strip() and not line.startswith("-")
                ]
    return rows


async def test_a_twenty_check_table_arrives_whole_in_slack_failing_rows_first(
    tmp_path: Path,
) -> None:
    async with reports_bot(tmp_path) as sb:
        await sb.command("sanity alpha", user=ALICE)
        await sb.slack.wait_until(
            lambda: any("Sanity of `alpha`" in t for t in sb.texts()), within=20
        )
        (report,) = [m for m in sb.slack.messages(DEPLOYS) if "Sanity of `alpha`" in m.text]
        assert "✅ 14 passed, ❌ 6 failed" in report.text
        rows = table_rows([report])
        assert len(rows) == 20
        labels = [row.split(None, 1)[1] for row in rows]
        for name in [*PASSING, *FAILING]:
            assert sum(label.startswith(f"{name} (logs)") for label in labels) == 1
        assert sum(label.startswith("pods ") for label in labels) == 1
        assert all(row.startswith("❌") for row in rows[:6])  # failing rows first
        assert all(row.startswith("✅") for row in rows[6:])
        # ... each as a section of its own, where Slack renders its `code` and *bold*
        sections = section_texts(report)
        assert [ATTENTION_ROW.match(t) is not None for t in sections[1:7]] == [True] * 6
        assert sections[7].startswith("```") and "peer discovery" not in sections[7]
        assert_within_slack_limits(report)
        # a JSON log line shows its msg field, cut short; the raw line is in the thread
        proposal = next(r for r in rows if "block proposal 01" in r)
        assert "Can propose block 12 at slot 40" in proposal and '"level"' not in proposal
        assert max(len(r) for r in rows) < 160
        await sb.slack.wait_until(
            lambda: bool(sb.slack.messages(DEPLOYS, thread_ts=report.ts)), within=10
        )
        (details,) = sb.slack.messages(DEPLOYS, thread_ts=report.ts)
        assert_within_slack_limits(details)
        assert "16Uiu2HAmExamplePeerIdThatIsRatherLong" in details.text
        assert details.text.index("peer discovery 1") < details.text.index("block proposal 01")
        refused = [c for c in sb.slack.calls("chat.postMessage") if c.error]
        assert refused == []


async def test_the_same_table_in_the_shell_has_every_row(tmp_path: Path) -> None:
    async with KubeFake(ready_delay=0.005) as fake:
        chatty_testnet(fake)
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        config = make_config(tmp_path, **network_config(kubeconfig, sanity=twenty_checks()))
        async with ShellBot(config) as bot:
            out = await bot.say("/testnet sanity alpha")
    table, _, thread = out.partition("↳")
    lines = table.splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line) <= {"-", " "} and line)
    rows = [line for line in lines[rule + 1 :] if line.strip()]
    assert len(rows) == 20
    for name in [*PASSING, *FAILING]:
        assert sum(f" {name} (logs)" in row for row in rows) == 1
    assert [row[0] for row in rows] == ["❌"] * 6 + ["✅"] * 14
    assert max(len(r) for r in rows) < 160
    assert '"level"' not in table and '"level"' in thread  # raw lines only in the details


async def test_a_table_too_long_for_one_message_continues_in_its_thread(tmp_path: Path) -> None:
    registry = Registry()
    rows = tuple((f"row-{n:03}", "value " * 12) for n in range(300))

    @registry.command("big")
    async def big(ctx: Context) -> None:
        """Reply with a 300-row table."""
        await ctx.reply("300 rows:", table=Table(("name", "value"), rows))

    async with slack_bot(tmp_path, registry=registry) as sb:
        await sb.command("big", user=ALICE)
        await sb.slack.wait_until(lambda: any("300 rows:" in t for t in sb.texts()), within=10)
        first = next(m for m in sb.slack.messages(DEPLOYS) if m.text == "300 rows:")
        await sb.bot.services.outbox.wait_delivered(timeout=10)
        rest = sb.slack.messages(DEPLOYS, thread_ts=first.ts)
        assert len(rest) >= 2  # ~25,000 characters do not fit one message
        for message in [first, *rest]:
            assert_within_slack_limits(message)
        shown = [r.split()[0] for r in table_rows([first, *rest])]
        assert shown == [r[0] for r in rows]  # every row, once, in order
        assert "part 2 of" in str(rest[0].blocks)
        assert all(c.error is None for c in sb.slack.calls("chat.postMessage"))


async def test_the_fake_refuses_what_slack_refuses(tmp_path: Path) -> None:
    async with SlackFake() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        section = {"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}
        cases = [
            ([section], "invalid_blocks"),
            (
                [{"type": "section", "text": {"type": "mrkdwn", "text": "ok"}}] * 51,
                "invalid_blocks",
            ),
            (
                [{**section, "text": {"type": "mrkdwn", "text": "z" * 2999}}] * 5,
                "msg_blocks_too_long",
            ),
        ]
        for blocks, error in cases:
            with pytest.raises(SlackApiError) as refused:
                await client.chat_postMessage(channel=DEPLOYS, text="t", blocks=blocks)
            assert refused.value.response["error"] == error
        assert slack.messages(DEPLOYS) == []
        ok = {"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3000}}
        resp = await client.chat_postMessage(channel=DEPLOYS, text="t", blocks=[ok] * 3)
        assert resp["ok"] is True
        resp = await client.chat_postMessage(channel=DEPLOYS, text="w" * 40_001)
        assert resp["warning"] == "message_truncated"
        assert [len(m.text) for m in slack.messages(DEPLOYS)] == [1, 40_000]


async def test_a_denied_command_is_seen_only_by_who_asked(tmp_path: Path) -> None:
    async with reports_bot(tmp_path) as sb:
        await sb.command("lock alpha release freeze", user=BOB)  # BOB holds no role
        await sb.slack.wait_until(
            lambda: any("You need the `deploy` permission" in t for t in sb.ephemerals(BOB)),
            within=10,
        )
        await sb.bot.services.outbox.wait_delivered(timeout=5)
        assert sb.slack.messages(DEPLOYS) == []  # nothing in the channel
        assert sb.ephemerals(ALICE) == []
        assert sb.bot.services.store.get_lock("alpha") is None
        assert sb.bot.services.store.recent_audit(1)[0].outcome == "denied"
        await sb.command("lock alpha release freeze", user=ALICE)  # allowed: in the channel
        await sb.slack.wait_until(lambda: any("is locked" in t for t in sb.texts()), within=10)


async def test_usage_errors_are_ephemeral_and_spell_the_slash_command(tmp_path: Path) -> None:
    async with reports_bot(tmp_path) as sb:
        await sb.command("lock", user=ALICE)
        await sb.command("deplyo v0.62.0", user=ALICE)
        await sb.slack.wait_until(lambda: len(sb.ephemerals(ALICE)) >= 2, within=10)
        usage = next(t for t in sb.ephemerals(ALICE) if "Usage" in t)
        assert "Missing `network`" in usage and "`/testnet lock <network> <reason...>`" in usage
        unknown = next(t for t in sb.ephemerals(ALICE) if "Unknown command" in t)
        assert "`/testnet deploy`" in unknown and "`/testnet help`" in unknown
        await sb.bot.services.outbox.wait_delivered(timeout=5)
        assert sb.slack.messages(DEPLOYS) == []
        # without a response URL the error still reaches only its author
        fields = sb.slack.slash_command("lock", user_id=ALICE)
        del fields["response_url"]
        request = signed_slash_command(fields, SECRET)
        async with sb.http.post(sb.events_url, data=request.body, headers=request.headers) as r:
            assert r.status == 200
        await sb.slack.wait_until(
            lambda: any(e.via == "chat.postEphemeral" for e in sb.slack.ephemerals), within=10
        )
        (direct,) = [e for e in sb.slack.ephemerals if e.via == "chat.postEphemeral"]
        assert direct.user == ALICE and "Usage" in direct.text
        assert sb.slack.messages(DEPLOYS) == []


async def test_history_names_requester_and_approver_by_display_name(tmp_path: Path) -> None:
    async with reports_bot(tmp_path, approvals=2) as sb:
        sb.slack.add_user(CAROL, "carol", real_name="Carol Chain")  # no display name
        sb.slack.set_usergroup("S0RELEASE", {CAROL})
        await sb.command("deploy v0.62.0 alpha", user=ALICE)
        ask = await sb.confirmation_message()
        await sb.click(ask, user=CAROL)
        store = sb.bot.services.store

        def finished() -> bool:
            runs = store.recent_runs(kinds=["deploy"], network="alpha", limit=1)
            return bool(runs) and runs[0].state in ("succeeded", "failed")

        await wait_until(finished, timeout=30, what="the deploy to finish")
        await sb.command("history", user=BOB)
        await sb.slack.wait_until(
            lambda: any("deploys and rollbacks" in t for t in sb.texts()), within=10
        )
        history = next(m for m in sb.slack.messages(DEPLOYS) if "deploys and rollbacks" in m.text)
        (row,) = table_rows([history])
        assert "Alice R" in row and "Carol Chain" in row  # display name; real name as fallback
        assert "alice" not in row and "carol" not in row and "U0" not in row
        header = section_texts(history)[-1].splitlines()[0]
        assert "requested by" in header and "approved by" in header
        assert row.index("Alice R") < row.index("Carol Chain")


async def test_display_names_fall_back_and_are_cached(tmp_path: Path) -> None:
    async with SlackFake() as slack:
        slack.add_user(CAROL, "carol")  # neither display name nor real name
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        names = DisplayNames(client)
        assert await names.name_of(ALICE, "alice") == "Alice R"
        assert await names.name_of(BOB, "bob") == "Bob Builder"
        assert await names.name_of(CAROL, "carol") == "carol"
        assert await names.name_of(ALICE, "alice") == "Alice R"
        assert slack.count("users.info") == 3  # the second ask was answered from the cache
        assert names.known(ALICE) == "Alice R" and names.known("U0NOBODY") == "U0NOBODY"
        slack.scopes.discard("users:read")
        unread = DisplayNames(client)
        assert await unread.name_of(BOB, "bob") == "bob"  # refused: the handle, no error
        assert await unread.name_of("U0GHOST", "") == "U0GHOST"


COMMAND_SPAN = re.compile(r"`([^`\n]+)`(?! permission)")


def bare_commands(text: str, firsts: set[str]) -> list[str]:
    """Backticked commands in ``text`` written without ``/testnet`` in front."""
    return [m for m in COMMAND_SPAN.findall(text) if m.split()[0] in firsts]


async def test_every_help_and_usage_text_spells_the_slash_command(tmp_path: Path) -> None:
    import commands  # noqa: F401  (registers the commands)
    from bot.registry import DEFAULT_REGISTRY

    specs = DEFAULT_REGISTRY.specs(include_hidden=True)
    firsts = {s.path[0] for s in specs}
    assert bare_commands("see `incidents all` or `/testnet status`", firsts) == ["incidents all"]
    async with ShellBot(make_config(tmp_path)) as bot:
        said = [await bot.say("help"), await bot.say("deplyo"), await bot.say("help deplyo")]
        for spec in specs:
            said.append(await bot.say(f"help {spec.name}"))
            said.append(await bot.say(f"{spec.name} --no-such-option"))
    usages = [t for t in said if "Usage:" in t]
    assert len(usages) == len(specs)  # every command answered its bad option with usage
    for text in said:
        assert bare_commands(text, firsts) == [], text
