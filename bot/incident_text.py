"""What incidents say: GitHub issue titles, bodies and comments, Slack root messages and
thread replies, and the redacted public status. Pure functions of stored records."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.config import MatrixRow
from state.incidents import CLOSED, FIRING, Incident, StoredAlert

MAX_TABLE_ROWS = 50
"""Alerts listed in one issue body or comment; the rest are counted."""
FALLBACK_LABEL = "testnet-bot"
"""Label on every incident issue, so a marker search can fall back to listing them."""
RESOLVED_LABEL = "resolved"


def marker(incident_id: int) -> str:
    """The hidden marker that identifies an incident's issue."""
    return f"<!-- testnet-bot:incident:{incident_id} -->"


def issue_title(incident: Incident) -> str:
    """``[Blocker] Network instability: block production stalls (alpha)``."""
    return f"[{incident.criticality}] {incident.event} ({incident.network})"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "none"


def issue_labels(incident: Incident, row: MatrixRow) -> list[str]:
    """Criticality, owner and network labels, the row's own, and the bot's marker label."""
    labels = [
        "incident",
        f"criticality:{incident.criticality.lower()}",
        f"network:{incident.network}",
        FALLBACK_LABEL,
    ]
    if row.owner:
        labels.insert(2, f"owner:{_slug(row.owner)}")
    return [*labels, *(label for label in row.labels if label not in labels)]


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())[:200]


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return iso


def alert_table(alerts: Sequence[StoredAlert]) -> str:
    """A Markdown table of alerts with their links (generator URL, runbook)."""
    lines = [
        "| Alert | Status | Since | Summary | Links |",
        "|---|---|---|---|---|",
    ]
    for alert in alerts[:MAX_TABLE_ROWS]:
        summary = alert.annotations.get("summary") or alert.annotations.get("description", "")
        links = []
        if alert.generator_url:
            links.append(f"[source]({alert.generator_url})")
        runbook = alert.annotations.get("runbook_url") or alert.annotations.get("runbook")
        if runbook:
            links.append(f"[runbook]({runbook})")
        extra = {k: v for k, v in alert.labels.items() if k not in ("alertname",)}
        name = alert.alertname + (
            " `" + ", ".join(f"{k}={v}" for k, v in sorted(extra.items())) + "`" if extra else ""
        )
        lines.append(
            f"| {_cell(name)} | {alert.status} | {_when(alert.starts_at)} | {_cell(summary)} |"
            f" {' · '.join(links)} |"
        )
    if len(alerts) > MAX_TABLE_ROWS:
        lines.append(f"\n…and {len(alerts) - MAX_TABLE_ROWS} more alerts.")
    return "\n".join(lines)


def issue_body(incident: Incident, row: MatrixRow, alerts: Sequence[StoredAlert]) -> str:
    """The issue body: action, owner, the firing alerts with links, and the marker."""
    owner = row.owner or "unassigned"
    if row.assignees:
        owner += " (" + ", ".join(f"@{a}" for a in row.assignees) + ")"
    return "\n".join(
        [
            marker(incident.id),
            f"**Incident #{incident.id}** on `{incident.network}` · **{incident.criticality}**"
            f" · owner: {owner}",
            "",
            f"**Event:** {incident.event}",
            f"**Action:** {row.action}",
            "",
            "### Firing alerts",
            alert_table(alerts),
            "",
            "_Opened by testnet-bot from Alertmanager. Alerts that join later are summarised"
            " in comments._",
        ]
    )


def joined_comment(alerts: Sequence[StoredAlert]) -> str:
    """A comment summarising alerts that joined the incident."""
    return f"**{len(alerts)} more alert(s) joined this incident**\n\n" + alert_table(alerts)


def resolved_comment(incident: Incident, total: int, now: float, *, closing: bool) -> str:
    """A comment saying every alert of the incident resolved."""
    minutes = max(0, round((now - incident.opened_at) / 60))
    tail = (
        " Closing (auto_close)."
        if closing
        else (f" Close it with `/testnet incident resolve {incident.id} [note]` once verified.")
    )
    return f"✅ All {total} alert(s) resolved after {minutes} min.{tail}"


def refired_comment(alerts: Sequence[StoredAlert]) -> str:
    """A comment saying the incident fired again."""
    return f"🔴 **Fired again** ({len(alerts)} alert(s)); reopened.\n\n" + alert_table(alerts)


def mention(row: MatrixRow) -> str:
    """How the owner is mentioned in Slack."""
    if row.slack_group:
        return f"<!subteam^{row.slack_group}>"
    return row.owner or "no owner"


def slack_root(incident: Incident, row: MatrixRow, firing: int, total: int, now: float) -> str:
    """The incident's root message, edited in place as alerts join and resolve."""
    title = f"[{incident.criticality}] {incident.event} ({incident.network})"
    issue = (
        f"<{incident.issue_url}|issue #{incident.issue_number}>"
        if incident.issue_number and incident.issue_url
        else "issue pending"
    )
    if incident.state == FIRING:
        head = f"🔴 *{title}* — firing, {firing} of {total} alert(s)"
    else:
        end = incident.resolved_at or incident.closed_at or now
        minutes = max(0, round((end - incident.opened_at) / 60))
        word = "closed" if incident.state == CLOSED else "resolved"
        head = f"✅ *{title}* — {word} after {minutes} min ({total} alert(s))"
    parts = [head, f"owner {mention(row)}", issue, f"incident #{incident.id}"]
    if incident.acked_by:
        parts.append(f"acked by {incident.acked_by}")
    return " · ".join(parts)


def slack_alert_lines(alerts: Sequence[StoredAlert], limit: int = 20) -> str:
    """A few lines listing alerts for a thread reply."""
    lines = []
    for alert in alerts[:limit]:
        summary = alert.annotations.get("summary", "")
        link = f" <{alert.generator_url}|source>" if alert.generator_url else ""
        lines.append(
            f"• `{alert.alertname}` {alert.status}{': ' + summary if summary else ''}{link}"
        )
    if len(alerts) > limit:
        lines.append(f"…and {len(alerts) - limit} more")
    return "\n".join(lines)


def public_status(incident: Incident) -> str:
    """A short, redacted status for public channels (no alert details, links or owners)."""
    state = "investigating" if incident.state == FIRING else "resolved"
    return f"[{incident.criticality}] {incident.event} on {incident.network}: {state}."
