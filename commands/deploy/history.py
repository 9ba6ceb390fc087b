"""``/testnet history``: the last deploys and rollbacks."""

from __future__ import annotations

from typing import Annotated

from bot.context import Context
from bot.core import Table
from bot.registry import Help, command
from commands.text import duration, timestamp
from integrations.kube_models import split_image
from state.records import Run


def _tags(images: dict[str, str]) -> str:
    tags = sorted({split_image(i)[1] or i for i in images.values()})
    return ",".join(tags) or "?"


def _approvers(run: Run) -> str:
    """Who approved the run, or ``-`` (older runs and unapproved ones name nobody)."""
    approved = [str(a) for a in run.args.get("approved_by") or []]
    return ", ".join(approved) or "-"


def _change(run: Run) -> str:
    steps = run.args.get("steps") or []
    if not steps:
        return "?"
    return f"{_tags(steps[0]['before'])} → {_tags(steps[0]['after'])}"


@command("history")
async def history(
    ctx: Context,
    *,
    network: Annotated[str | None, Help("Network (default: every network)")] = None,
    n: Annotated[int, Help("How many runs to show")] = 10,
) -> None:
    """Show the last deploys and rollbacks: from → to, who asked and approved, result.

    Each row also says when the run started and how long it took.
    """
    if network is not None:
        network, _ = ctx.network(network)
    runs = ctx.store.recent_runs(
        kinds=["deploy", "rollback"], network=network, limit=max(1, min(n, 100))
    )
    if not runs:
        await ctx.reply("No deploys or rollbacks are recorded yet.")
        return
    rows = tuple(
        (
            timestamp(r.created_at),
            r.network or "",
            r.kind,
            _change(r),
            r.owner,
            _approvers(r),
            r.state,
            duration(float(r.result.get("seconds", 0))) if r.finished_at else "running",
        )
        for r in runs
    )
    await ctx.reply(
        f"Last {len(runs)} deploys and rollbacks:",
        table=Table(
            (
                "when",
                "network",
                "what",
                "from → to",
                "requested by",
                "approved by",
                "result",
                "took",
            ),
            rows,
        ),
    )
