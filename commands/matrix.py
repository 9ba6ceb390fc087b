"""``/testnet matrix`` and ``matrix explain``: the issue resolution matrix in chat."""

from __future__ import annotations

from typing import Annotated

from bot.context import Context
from bot.core import Table
from bot.errors import UsageError
from bot.matrix import ResolutionMatrix
from bot.registry import Help, Rest, command
from integrations.matchers import MatcherError, parse_label_set


def _matrix(ctx: Context) -> ResolutionMatrix:
    return ResolutionMatrix(ctx.config.resolution_matrix, ctx.config.default_matrix_row)


@command("matrix")
async def matrix(ctx: Context) -> None:
    """Show the issue resolution matrix: which alerts go where (first match wins)."""
    m = _matrix(ctx)
    rows = [
        (
            str(i + 1),
            row.event,
            " ".join(row.matchers) or "(anything)",
            row.criticality,
            row.owner or "-",
            row.action,
        )
        for i, row in enumerate(m.rows)
    ]
    d = m.default
    rows.append(("default", d.event, "(no row matched)", d.criticality, d.owner or "-", d.action))
    table = Table(("#", "event", "matchers", "criticality", "owner", "action"), tuple(rows))
    await ctx.reply("Issue resolution matrix (first matching row wins):", table=table)


@command("matrix explain")
async def explain(
    ctx: Context,
    *,
    labels: Annotated[str, Rest, Help("Alert labels, e.g. alertname=X network=alpha")],
) -> None:
    """Say which matrix row an alert with these labels goes to, and why."""
    try:
        parsed = parse_label_set(labels)
    except MatcherError as exc:
        raise UsageError(f"Could not read the labels: {exc}. Write e.g. `alertname=X`.") from None
    if not parsed:
        raise UsageError("Give the alert's labels, e.g. `alertname=BlockProductionStalled`.")
    chosen, verdicts = _matrix(ctx).explain(parsed)
    where = f"row {chosen.index + 1}" if chosen.index is not None else "the default row"
    row = chosen.row
    lines = [
        f"→ {where}: *{row.event}* ({row.criticality}, owner {row.owner or 'none'})",
        f"Action: {row.action}",
        "",
    ]
    for v in verdicts:
        name = f"row {v.index + 1}" if v.index is not None else "default"
        lines.append(f"{'✅' if v.matched else '✗'} {name} {v.row.event}:")
        lines.extend(f"    {reason}" for reason in v.reasons)
    await ctx.reply("\n".join(lines))
