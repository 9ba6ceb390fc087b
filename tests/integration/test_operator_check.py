"""``/testnet operator start``: an operator's pasted archive sibling path is compared
with the reference Aztec node's (the JSON-RPC fake); a match records them ready and
queues the Discord role grant, anything else is refused and records nothing."""

from __future__ import annotations

import json
from pathlib import Path

from bot.core import Outcome
from tests.fakes.aztec_node import AztecNodeFake, sibling_path
from tests.fakes.discord_api import APPRENTICE, BOB, CAROL
from tests.harness import ShellBot, make_config
from tests.integration.discord_harness import discord_bot
from tests.integration.validators_harness import (
    ADDRESSES,
    ROLE,
    network,
    role_grants,
    say_as,
)

BLOCK = 1_240


def _bot(tmp_path: Path, node: AztecNodeFake, **validators: object) -> ShellBot:
    settings = {"reference_rpc": node.url, "rpc_timeout": "1s", **validators}
    return ShellBot(make_config(tmp_path, networks=network(**settings)))


async def _start(
    bot: ShellBot, address: str, block: int, proof: str, user: str = "4242"
) -> tuple[Outcome, list[str]]:
    """``/operator start`` as Discord user ``user``."""
    return await say_as(bot, f"/operator start {address} {block} {proof}", user=user, name="carol")


async def test_a_matching_proof_records_the_operator_ready_and_grants_the_role(
    tmp_path: Path,
) -> None:
    async with AztecNodeFake() as node, _bot(tmp_path, node) as bot:
        outcome, replies = await _start(bot, ADDRESSES[0], BLOCK, node.expected_proof(BLOCK))
        assert outcome is Outcome.OK
        assert "passed the self-check at block 1240" in replies[-1]
        record = bot.store.validators.get("alpha", ADDRESSES[0].lower())
        assert record is not None and record.state == "ready"
        assert record.operator_discord == "4242" and record.source == "self-check"
        (grant,) = role_grants(bot)
        assert grant["user"] == "4242" and grant["role"] == str(ROLE)
        assert ADDRESSES[0] in grant["reason"]
        (call,) = [c for c in node.calls if c.method == "node_getArchiveSiblingPath"]
        assert call.params == [str(BLOCK), str(BLOCK)]


async def test_the_whole_json_rpc_answer_pasted_is_accepted(tmp_path: Path) -> None:
    async with AztecNodeFake() as node, _bot(tmp_path, node) as bot:
        answer = json.dumps({"jsonrpc": "2.0", "id": 1, "result": node.expected_proof(BLOCK)})
        outcome, _ = await _start(bot, ADDRESSES[1], BLOCK, answer)
        assert outcome is Outcome.OK
        assert bot.store.validators.get("alpha", ADDRESSES[1].lower()) is not None


async def test_a_proof_from_another_chain_is_refused_and_records_nothing(tmp_path: Path) -> None:
    async with AztecNodeFake() as node, _bot(tmp_path, node) as bot:
        forged = sibling_path("another-chain", BLOCK, BLOCK)
        outcome, replies = await _start(bot, ADDRESSES[0], BLOCK, forged)
        assert outcome is Outcome.FAILED
        assert "differs from the reference node's" in replies[-1]
        assert bot.store.validators.get("alpha", ADDRESSES[0].lower()) is None
        assert role_grants(bot) == []
        # the right proof for another block is not this block's either
        outcome, _ = await _start(bot, ADDRESSES[0], BLOCK, node.expected_proof(BLOCK - 1))
        assert outcome is Outcome.FAILED
        assert bot.store.validators.records("alpha") == []


async def test_a_block_the_reference_node_does_not_have_is_refused(tmp_path: Path) -> None:
    async with AztecNodeFake(latest=1_250) as node, _bot(tmp_path, node) as bot:
        future = 1_300
        outcome, replies = await _start(bot, ADDRESSES[0], future, sibling_path(node.seed, 1, 1))
        assert outcome is Outcome.FAILED
        assert "cannot check block 1300" in replies[-1]
        assert "not yet synced by the node" in replies[-1]  # the node's own reason
        assert "the reference node has proven up to block 1240" in replies[-1]
        assert bot.store.validators.records("alpha") == [] and role_grants(bot) == []


async def test_a_malformed_proof_or_address_is_refused_without_asking_the_node(
    tmp_path: Path,
) -> None:
    async with AztecNodeFake() as node, _bot(tmp_path, node) as bot:
        good = node.expected_proof(BLOCK)
        for proof, why in [
            ("hello", "not the base64 answer"),
            (good[:400], "not a whole sibling path"),
            (good[:401], "not valid base64"),
        ]:
            outcome, replies = await _start(bot, ADDRESSES[0], BLOCK, proof)
            assert outcome is Outcome.FAILED, proof
            assert why in replies[-1]
        bad_checksum = ADDRESSES[0][:-1] + "D"  # last letter's case flipped
        for address, why in [
            ("0x1234", "is not an address"),
            (bad_checksum, "fails its EIP-55 checksum"),
        ]:
            outcome, replies = await _start(bot, address, BLOCK, good)
            assert outcome is Outcome.USAGE, address
            assert why in replies[-1]
        assert node.calls == []
        assert bot.store.validators.records("alpha") == [] and role_grants(bot) == []
        # all lower case carries no checksum and is accepted
        outcome, _ = await _start(bot, ADDRESSES[0].lower(), BLOCK, good)
        assert outcome is Outcome.OK


async def test_a_reference_node_that_is_down_or_slow_refuses_the_check(tmp_path: Path) -> None:
    async with AztecNodeFake() as node, _bot(tmp_path, node, rpc_timeout="300ms") as bot:
        proof = node.expected_proof(BLOCK)
        await node.go_down()
        outcome, replies = await _start(bot, ADDRESSES[0], BLOCK, proof)
        assert outcome is Outcome.FAILED
        assert "did not answer" in replies[-1] and "cannot reach" in replies[-1]
        await node.come_back()
        node.set_slow(2.0)
        outcome, replies = await _start(bot, ADDRESSES[0], BLOCK, proof)
        assert outcome is Outcome.FAILED
        assert "within 0.3s" in replies[-1]
        assert bot.store.validators.records("alpha") == [] and role_grants(bot) == []
        node.set_slow(0)
        outcome, _ = await _start(bot, ADDRESSES[0], BLOCK, proof)
        assert outcome is Outcome.OK  # and those two tries did not use up the limit


async def test_tries_are_limited_per_user_per_hour_and_each_is_audited(tmp_path: Path) -> None:
    async with AztecNodeFake() as node, _bot(tmp_path, node, self_check_tries=2) as bot:
        forged = sibling_path("another-chain", BLOCK, BLOCK)
        for _ in range(2):
            outcome, _ = await _start(bot, ADDRESSES[0], BLOCK, forged)
            assert outcome is Outcome.FAILED
        calls = len(node.calls)
        outcome, replies = await _start(bot, ADDRESSES[0], BLOCK, node.expected_proof(BLOCK))
        assert outcome is Outcome.FAILED
        assert "used your 2 self-check tries this hour" in replies[-1]
        assert len(node.calls) == calls  # the limit is checked before the node is asked
        assert bot.store.validators.records("alpha") == []
        # another operator is not limited by the first one's tries
        outcome, _ = await _start(bot, ADDRESSES[1], BLOCK, node.expected_proof(BLOCK), user="5151")
        assert outcome is Outcome.OK
        entries = [
            (e.actor, e.outcome)
            for e in bot.store.recent_audit(50)
            if e.command == "operator start"
        ]
        assert sorted(entries) == sorted([("4242", "failed")] * 3 + [("5151", "ok")])
        tries = bot.store.validators.tries("alpha")
        assert [t[3] for t in tries] == ["mismatch", "mismatch", "passed"]


async def test_an_address_already_recorded_is_refused_with_its_state(tmp_path: Path) -> None:
    async with AztecNodeFake() as node, _bot(tmp_path, node) as bot:
        proof = node.expected_proof(BLOCK)
        assert (await _start(bot, ADDRESSES[0], BLOCK, proof))[0] is Outcome.OK
        outcome, replies = await _start(bot, ADDRESSES[0], BLOCK, proof, user="6161")
        assert outcome is Outcome.FAILED
        assert "already recorded" in replies[-1] and "is ready" in replies[-1]
        (grant,) = role_grants(bot)  # to the configured guild's destination only
        assert grant["user"] == "4242"


async def test_from_discord_the_role_is_granted_at_discord(tmp_path: Path) -> None:
    """Through the real Discord adapter and the Discord fake: a pass grants the role by
    REST (with the reason in the audit log header), a mismatch grants nothing."""
    async with AztecNodeFake() as node:
        settings = {"reference_rpc": node.url, "discord_role": APPRENTICE, "discord_guild": None}
        async with discord_bot(tmp_path, networks=network(**settings)) as dbot:
            record = await dbot.command(
                "operator start",
                {
                    "address": ADDRESSES[0],
                    "block_number": BLOCK,
                    "proof": node.expected_proof(BLOCK),
                },
                user=CAROL,
            )
            answer = await dbot.answered(record)
            assert "passed the self-check" in answer.content
            await dbot.fake.wait_until(lambda: bool(dbot.fake.role_changes), 10)
            (change,) = dbot.fake.role_changes
            assert (change.user_id, change.role_id, change.added) == (CAROL.id, APPRENTICE, True)
            assert change.reason is not None and "self-check" in change.reason
            assert APPRENTICE in dbot.fake.member(CAROL.id).roles

            forged = sibling_path("another-chain", BLOCK, BLOCK)
            payload = dbot.fake.slash_command(  # typed as its own slash command this time
                "operator start",
                {"address": ADDRESSES[1], "block_number": BLOCK, "proof": forged},
                user=BOB,
            )
            record = await dbot.fake.dispatch_interaction(payload)
            answer = await dbot.answered(record)
            assert "differs from the reference node's" in answer.content
            assert await dbot.bot.services.outbox.wait_delivered(timeout=10)
            assert len(dbot.fake.role_changes) == 1
            assert APPRENTICE not in dbot.fake.member(BOB.id).roles
            assert dbot.bot.services.store.validators.get("alpha", ADDRESSES[1].lower()) is None
