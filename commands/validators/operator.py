"""``/testnet operator start``: an operator proves their node is synced.

The operator asks their own node ``node_getL2Tips`` (its ``proven`` block number) and
``node_getArchiveSiblingPath [n, n]``, and pastes the block number and the answer. The
bot asks the network's reference node the same question; an equal answer proves the
node follows the chain: the operator is recorded as ``ready`` and, from Discord, is
given the configured role. Anything else is refused with the reason and records
nothing but the try (a few tries per user per hour).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated

from bot.context import Context
from bot.errors import CommandError
from bot.registry import Help, Option, Rest, command
from commands.text import timestamp
from commands.validators.common import describe, onboarding, role_guild
from integrations.aztec_models import AztecNode, NodeError, NodeRpcError
from integrations.eth_address import Address
from state.validators import AlreadyRecorded

HOUR = 3600.0
COUNTED = ("passed", "mismatch", "refused_block")
"""Outcomes that count against the hourly limit: tries the reference node answered."""
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
PATH_HASH_BYTES = 32


def parse_proof(text: str) -> bytes:
    """The sibling path an operator pasted, as bytes.

    Accepts the bare base64 string, quoted or not, or the node's whole JSON-RPC answer
    (``{"jsonrpc":"2.0","id":1,"result":"AAAA…"}``, even with its quotes eaten by the
    chat). It must decode to a 4-byte count followed by that many 32-byte hashes;
    ValueError says what is wrong otherwise.
    """
    runs = _BASE64_RUN.findall(text)
    if not runs:
        raise ValueError(
            "the proof is not the base64 answer of node_getArchiveSiblingPath (paste its `result`)"
        )
    encoded = max(runs, key=len)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the proof is not valid base64 (was it cut short?)") from None
    if len(raw) < 4:
        raise ValueError("the proof is too short to be a sibling path")
    count = int.from_bytes(raw[:4], "big")
    if len(raw) != 4 + count * PATH_HASH_BYTES:
        raise ValueError(
            f"the proof is not a whole sibling path ({len(raw)} bytes; a path of {count} "
            f"hashes has {4 + count * PATH_HASH_BYTES}): was it cut short?"
        )
    return raw


def _decoded(answer: str) -> bytes | None:
    try:
        return base64.b64decode(answer, validate=True)
    except (binascii.Error, ValueError):
        return None


@command("operator start", top_level=True)
async def operator_start(
    ctx: Context,
    *,
    address: Annotated[Address, Help("Your validator's address, 0x followed by 40 hex digits")],
    block_number: Annotated[int, Help("The proven block number your node_getL2Tips answered")],
    proof: Annotated[str, Rest, Help("What node_getArchiveSiblingPath [n, n] answered")],
    network: Annotated[str | None, Option, Help("Network (default: the only one)")] = None,
) -> None:
    """Prove your node is synced and become ready to be added as a validator.

    Compares your node's archive sibling path at a block with the reference node's;
    an equal answer records you as ready (and grants the configured Discord role).
    """
    name, _, cfg = onboarding(ctx, network)
    if cfg.reference_rpc is None:
        raise CommandError(
            f"The self-check is not set up for `{name}` (no `validators.reference_rpc`)."
        )
    actor = ctx.invocation.actor
    repo = ctx.store.validators
    now = ctx.services.clock()
    tries = repo.tries_since(actor.platform, actor.id, now - HOUR, counted=COUNTED)
    if len(tries) >= cfg.self_check_tries:
        raise CommandError(
            f"You have used your {cfg.self_check_tries} self-check tries this hour; "
            f"try again after {timestamp(tries[0] + HOUR)}."
        )

    def refuse(outcome: str, reason: str) -> CommandError:
        repo.record_try(
            platform=actor.platform,
            user=actor.id,
            network=name,
            address=address.key,
            block=block_number,
            outcome=outcome,
            detail=reason,
        )
        return CommandError(f"❌ Self-check refused for `{address}`: {reason}")

    existing = repo.get(name, address.key)
    if existing is not None and existing.state != "removed":
        raise refuse("known", f"it is already recorded. {describe(existing, now)}.")
    if block_number < 0:
        raise refuse("malformed", "the block number cannot be negative.")
    try:
        pasted = parse_proof(proof)
    except ValueError as exc:
        raise refuse("malformed", f"{exc}.") from None
    if ctx.services.aztec is None:
        raise CommandError("This bot cannot reach Aztec nodes.")
    node = ctx.services.aztec.node(str(cfg.reference_rpc), timeout=cfg.rpc_timeout)
    try:
        answer = await node.archive_sibling_path(block_number, block_number)
    except NodeRpcError as exc:
        raise refuse(
            "refused_block",
            f"the reference node cannot check block {block_number}: {exc.reason} "
            f"{await _tips_hint(node)}",
        ) from None
    except NodeError as exc:
        raise refuse(
            "unavailable", f"the reference node did not answer ({exc.message}). Try again later."
        ) from None
    if _decoded(answer) != pasted:
        raise refuse(
            "mismatch",
            f"your node's archive at block {block_number} differs from the reference "
            "node's: it is not synced to this network (or the proof is from another block).",
        )
    discord_user = actor.id if actor.platform == "discord" else ""
    try:
        repo.mark_ready(
            name,
            address.key,
            by=ctx.actor_name,
            source="self-check",
            operator=ctx.actor_name,
            operator_discord=discord_user,
        )
    except AlreadyRecorded as exc:  # recorded meanwhile by someone else
        raise refuse("known", f"it is already recorded. {describe(exc.record, now)}.") from None
    repo.record_try(
        platform=actor.platform,
        user=actor.id,
        network=name,
        address=address.key,
        block=block_number,
        outcome="passed",
    )
    role_note = _grant_role(ctx, name, discord_user, address)
    await ctx.reply(
        f"✅ `{address}` passed the self-check at block {block_number} on `{name}` and is "
        f"ready to be added as a validator.{role_note}"
    )


async def _tips_hint(node: AztecNode) -> str:
    """What block to use instead, from the reference node's own tips if it says."""
    hint = "Use the proven block number your own node_getL2Tips answers"
    try:
        tips = await node.l2_tips()
    except NodeError:
        return hint + "."
    return f"{hint} (the reference node has proven up to block {tips.proven})."


def _grant_role(ctx: Context, network: str, discord_user: str, address: Address) -> str:
    """Queue the Discord role grant; return what to tell the operator about it."""
    cfg = ctx.config.networks[network].validators
    if cfg.discord_role is None:
        return ""
    guild = role_guild(ctx.services, cfg)
    if not discord_user or guild is None:
        return " (No Discord role was granted: run the self-check from Discord for it.)"
    ctx.services.outbox.enqueue(
        f"discord:guild:{guild}",
        "add_role",
        {
            "user": discord_user,
            "role": str(cfg.discord_role),
            "reason": f"passed the {network} operator self-check with {address}",
        },
        dedupe_key=f"self-check-role:{network}:{discord_user}:{address.key}",
    )
    return " You are being given the operator role."
