"""``/testnet incidents``, ``incident <id>``, ``incident ack``, ``incident resolve``, and
``matrix`` / ``matrix explain``: the issue resolution matrix in chat."""

from __future__ import annotations

from typing import Annotated, Literal

from bot.context import Context
from bot.core import Table
from bot.errors import CommandError, UsageError
from bot.registry import Help, Rest, command
from commands.incidents.desk import DESK, IncidentDesk
from commands.incidents.matrix import ResolutionMatrix
from commands.text import ago, duration, timestamp
from integrations.matchers import MatcherError, parse_label_set
from state.incidents import CLOSED, FIRING, Incident

STATE_ICONS = {FIRING: "🔴 firing", "resolved": "✅ resolved", CLOSED: "closed"}


def desk(ctx: Context) -> IncidentDesk:
    """The running bot's incident desk."""
    return ctx.services.need(DESK)


def _incident(ctx: Context, incident_id: int) -> Incident:
    found = ctx.store.incidents.get(incident_id)
    if found is None:
        raise CommandError(f"There is no incident #{incident_id} (see `/testnet incidents all`).")
    return found


NO_GITHUB = "none (no `github:` configured, so no issue is filed)"


def _issue(incident: Incident, *, github: bool = True) -> str:
    """The incident's issue as shown: its number, "pending" while one is being filed,
    or "none" when no GitHub is configured to file it in."""
    if incident.issue_number:
        return f"#{incident.issue_number}"
    return "pending" if github else "none"


@command("incidents")
async def incidents(
    ctx: Context,
    *,
    which: Annotated[Literal["open", "all"], Help("open (default) or all")] = "open",
) -> None:
    """List incidents: open ones (firing or resolved, issue not closed) or all."""
    now = ctx.services.clock()
    found = ctx.store.incidents.listing(open_only=which == "open", limit=50)
    if not found:
        await ctx.reply("No open incidents. 🎉" if which == "open" else "No incidents yet.")
        return
    rows = []
    for inc in found:
        firing, total = ctx.store.incidents.alert_counts(inc.id)
        rows.append(
            (
                str(inc.id),
                STATE_ICONS.get(inc.state, inc.state),
                inc.criticality,
                inc.event,
                inc.network,
                f"{firing}/{total}",
                ago(inc.opened_at, now),
                _issue(inc, github=ctx.config.github is not None),
                inc.acked_by or "-",
            )
        )
    headers = ("id", "state", "criticality", "event", "network", "firing", "opened", "issue")
    table = Table((*headers, "acked"), tuple(rows))
    await ctx.reply(f"{len(found)} {'open ' if which == 'open' else ''}incident(s):", table=table)


@command("incident")
async def incident(ctx: Context, *, id: Annotated[int, Help("Incident number")]) -> None:
    """Show one incident: its state, owner, issue and alerts."""
    inc = _incident(ctx, id)
    now = ctx.services.clock()
    firing, total = ctx.store.incidents.alert_counts(inc.id)
    lines = [
        f"Incident #{inc.id}: [{inc.criticality}] {inc.event} ({inc.network})",
        f"State: {STATE_ICONS.get(inc.state, inc.state)}, {firing} of {total} alert(s) firing;"
        f" opened {timestamp(inc.opened_at)} ({ago(inc.opened_at, now)})",
        f"Owner: {inc.owner or 'none'}; issue: {inc.issue_url or _issue_line(ctx, inc)}",
    ]
    if inc.resolved_at:
        lines.append(f"Resolved after {duration(inc.resolved_at - inc.opened_at)}")
    if inc.acked_by:
        lines.append(f"Acknowledged by {inc.acked_by} {ago(inc.acked_at or now, now)}")
    if inc.note:
        lines.append(f"Note: {inc.note}")
    alerts = ctx.store.incidents.alerts_of(inc.id, limit=30)
    table = Table(
        ("alert", "status", "since", "summary"),
        tuple(
            (a.alertname, a.status, a.starts_at[:19], a.annotations.get("summary", "")[:60])
            for a in alerts
        ),
    )
    await ctx.reply("\n".join(lines), table=table)


def _issue_line(ctx: Context, incident: Incident) -> str:
    if incident.issue_number or ctx.config.github is not None:
        return _issue(incident)
    return NO_GITHUB


@command("incident ack", permission="incident")
async def ack(ctx: Context, *, id: Annotated[int, Help("Incident number")]) -> None:
    """Acknowledge an incident: you are on it, reminders stop."""
    inc = _incident(ctx, id)
    if inc.state != FIRING:
        raise CommandError(f"Incident #{id} is {inc.state}, not firing: nothing to acknowledge.")
    if inc.acked_by:
        raise CommandError(f"Incident #{id} was already acknowledged by {inc.acked_by}.")
    desk(ctx).acknowledge(id, ctx.actor_name)
    await ctx.reply(f"👀 Incident #{id} acknowledged by {ctx.actor_name}; reminders stop.")


@command("incident resolve", permission="incident")
async def resolve(
    ctx: Context,
    *,
    id: Annotated[int, Help("Incident number")],
    note: Annotated[str, Rest, Help("What fixed it, added to the issue")] = "",
) -> None:
    """Close an incident and its GitHub issue, with an optional note."""
    inc = _incident(ctx, id)
    if inc.state == CLOSED:
        raise CommandError(f"Incident #{id} is already closed.")
    desk(ctx).resolve(id, ctx.actor_name, note)
    firing, _ = ctx.store.incidents.alert_counts(id)
    warn = f" ⚠️ {firing} alert(s) still firing; a re-fire reopens it." if firing else ""
    await ctx.reply(f"✅ Incident #{id} resolved and its issue closed.{warn}")



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
