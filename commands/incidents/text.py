"""What incidents say: GitHub issue titles, bodies and comments, Slack root messages and
thread replies, and the redacted public status. Pure functions of stored records."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from bot import markup
from bot.config import MatrixRow
from bot.markup import Link, Mention
from state.incidents import CLOSED, FIRING, Incident, StoredAlert

MAX_TABLE_ROWS = 50
"""Alerts listed in one issue body or comment; the rest are counted."""
FALLBACK_LABEL = "testnet-bot"
"""Label on every incident issue, so a marker search can fall back to listing them."""
RESOLVED_LABEL = "resolved"
LABEL_MAX = 50
"""GitHub refuses label names longer than this (``name is too long (maximum is 50 characters)``)."""
TITLE_MAX = 256
"""GitHub issue titles are cut here."""
VALUE_MAX = 120
"""Longest label value shown in a title, a chat line or a table cell."""
_INVISIBLE = {"Cc", "Cf", "Cs", "Co"}
"""Control, format (bidi overrides, zero-width), surrogate and private-use characters."""


def clean(value: str, limit: int = VALUE_MAX) -> str:
    """A label value fit for titles, GitHub labels and chat: control and bidi-override
    characters removed, white space folded, at most ``limit`` characters."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in value
        if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE
    )
    text = markup.escape(" ".join(kept.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def runbook_link(url: str | None, base: str | None) -> str | None:
    """A runbook reference as a URL: relative paths are joined to ``base``; with no base
    they stay a path under the bot's ``docs/runbooks/``."""
    if not url:
        return None
    url = clean(url, 500)
    if "://" in url:
        return url
    if base:
        return base.rstrip("/") + "/" + url.lstrip("/")
    return "docs/runbooks/" + url.lstrip("/")


def alert_runbook(alert: StoredAlert) -> str | None:
    """The runbook an alert names in its annotations, if any."""
    return alert.annotations.get("runbook_url") or alert.annotations.get("runbook") or None


def silence_url(alertmanager: str, labels: Mapping[str, str]) -> str:
    """Alertmanager's new-silence form prefilled with matchers for ``labels``."""
    matchers = ",".join(
        f'{name}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for name, value in sorted(labels.items())
    )
    return f"{alertmanager.rstrip('/')}/#/silences/new?filter={quote('{' + matchers + '}')}"


def _linked(text: str, url: str | None) -> str:
    if url and "://" in url:
        return f"[{text}]({url})"
    return f"{text}: `{url}`" if url else text


def marker(incident_id: int) -> str:
    """The hidden marker that identifies an incident's issue."""
    return f"<!-- testnet-bot:incident:{incident_id} -->"


def issue_title(incident: Incident) -> str:
    """``[Blocker] Network instability: block production stalls (alpha)``."""
    title = f"[{incident.criticality}] {incident.event} ({clean(incident.network)})"
    return clean(title, TITLE_MAX)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "none"


def issue_labels(incident: Incident, row: MatrixRow) -> list[str]:
    """Criticality, owner and network labels, the row's own, and the bot's marker label."""
    labels = [
        "incident",
        f"criticality:{incident.criticality.lower()}",
        clean(f"network:{clean(incident.network)}", LABEL_MAX),
        FALLBACK_LABEL,
    ]
    if row.owner:
        labels.insert(2, clean(f"owner:{_slug(row.owner)}", LABEL_MAX))
    extra = (clean(label, LABEL_MAX) for label in row.labels)
    return [*labels, *dict.fromkeys(label for label in extra if label and label not in labels)]


def _cell(text: str, limit: int = 200) -> str:
    return clean(text, limit).replace("|", "\\|")


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return iso


def alert_table(
    alerts: Sequence[StoredAlert],
    *,
    alertmanager: str | None = None,
    runbook_base: str | None = None,
) -> str:
    """A Markdown table of alerts: summary and description, and links to the alert's
    source, its runbook and, with ``alertmanager``, a prefilled silence."""
    lines = [
        "| Alert | Status | Since | Summary | Description | Links |",
        "|---|---|---|---|---|---|",
    ]
    for alert in alerts[:MAX_TABLE_ROWS]:
        summary = alert.annotations.get("summary", "")
        description = alert.annotations.get("description", "")
        links = []
        if alert.generator_url:
            links.append(f"[source]({clean(alert.generator_url, 2000)})")
        runbook = runbook_link(alert_runbook(alert), runbook_base)
        if runbook and "://" in runbook:
            links.append(f"[runbook]({runbook})")
        elif runbook:
            links.append(f"runbook `{runbook}`")
        if alertmanager:
            links.append(f"[silence]({silence_url(alertmanager, alert.labels)})")
        extra = {k: v for k, v in alert.labels.items() if k not in ("alertname",)}
        name = clean(alert.alertname) + (
            " `" + ", ".join(f"{clean(k, 60)}={clean(v)}" for k, v in sorted(extra.items())) + "`"
            if extra
            else ""
        )
        lines.append(
            f"| {_cell(name, 400)} | {alert.status} | {_when(alert.starts_at)} | {_cell(summary)} |"
            f" {_cell(description, 400)} | {' · '.join(links)} |"
        )
    if len(alerts) > MAX_TABLE_ROWS:
        lines.append(f"\n…and {len(alerts) - MAX_TABLE_ROWS} more alerts.")
    return "\n".join(lines)


@dataclass(frozen=True)
class Links:
    """Where incident texts link to: Alertmanager and the runbooks' base URL."""

    alertmanager: str | None = None
    runbook_base: str | None = None

    def runbook(self, row: MatrixRow, alerts: Sequence[StoredAlert] = ()) -> str | None:
        """The incident's runbook: the first alert's own annotation, else the row's."""
        for alert in alerts:
            own = alert_runbook(alert)
            if own:
                return runbook_link(own, self.runbook_base)
        return runbook_link(row.runbook_url, self.runbook_base)

    def table(self, alerts: Sequence[StoredAlert]) -> str:
        """:func:`alert_table` with these links."""
        return alert_table(alerts, alertmanager=self.alertmanager, runbook_base=self.runbook_base)


def issue_body(
    incident: Incident, row: MatrixRow, alerts: Sequence[StoredAlert], links: Links | None = None
) -> str:
    """The issue body: action, runbook, owner, the firing alerts with links, and the marker."""
    links = links or Links()
    owner = row.owner or "unassigned"
    if row.assignees:
        owner += " (" + ", ".join(f"@{a}" for a in row.assignees) + ")"
    runbook = links.runbook(row, alerts)
    where = []
    if links.alertmanager:
        where.append(f"[Alertmanager]({links.alertmanager.rstrip('/')}/#/alerts)")
    return "\n".join(
        [
            marker(incident.id),
            f"**Incident #{incident.id}** on `{clean(incident.network)}`"
            f" · **{incident.criticality}** · owner: {owner}",
            "",
            f"**Event:** {incident.event}",
            f"**Action:** {row.action}",
            f"**Runbook:** {_linked('runbook', runbook) if runbook else 'none configured'}",
            *([f"**Alerts:** {' · '.join(where)}"] if where else []),
            "",
            "### Firing alerts",
            links.table(alerts),
            "",
            "_Opened by testnet-bot from Alertmanager. Alerts that join later are summarised"
            " in comments._",
        ]
    )


def joined_comment(alerts: Sequence[StoredAlert], links: Links | None = None) -> str:
    """A comment summarising alerts that joined the incident."""
    table = (links or Links()).table(alerts)
    return f"**{len(alerts)} more alert(s) joined this incident**\n\n" + table


def resolved_comment(incident: Incident, total: int, now: float, *, closing: bool) -> str:
    """A comment saying every alert of the incident resolved."""
    minutes = max(0, round((now - incident.opened_at) / 60))
    tail = (
        " Closing (auto_close)."
        if closing
        else (f" Close it with `/testnet incident resolve {incident.id} [note]` once verified.")
    )
    return f"✅ All {total} alert(s) resolved after {minutes} min.{tail}"


def refired_comment(
    alerts: Sequence[StoredAlert], *, reopened: bool, links: Links | None = None
) -> str:
    """A comment saying the incident fired again; "reopened" only if the issue was closed."""
    how = "; reopened" if reopened else ""
    table = (links or Links()).table(alerts)
    return f"🔴 **Fired again** ({len(alerts)} alert(s)){how}.\n\n" + table


def mention(row: MatrixRow) -> str:
    """How the owner is mentioned in chat: the row's user group, else its name."""
    if row.slack_group:
        return str(Mention(row.slack_group))
    return row.owner or "no owner"


def slack_root(
    incident: Incident,
    row: MatrixRow,
    firing: int,
    total: int,
    now: float,
    links: Links | None = None,
) -> str:
    """The incident's root message, edited in place as alerts join and resolve: state,
    owner (the row's user group mentioned), issue, and while firing the action and runbook."""
    title = clean(f"[{incident.criticality}] {incident.event} ({clean(incident.network)})", 200)
    issue = (
        str(Link(incident.issue_url, f"issue #{incident.issue_number}"))
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
        parts.append(f"acked by {clean(incident.acked_by)}")
    lines = [" · ".join(parts)]
    if incident.state == FIRING:
        lines.append(f"*Action:* {row.action}")
        runbook = (links or Links()).runbook(row)
        if runbook:
            lines.append(
                f"*Runbook:* {Link(runbook, 'runbook')}"
                if "://" in runbook
                else f"*Runbook:* `{runbook}`"
            )
    return "\n".join(lines)


def slack_alert_lines(alerts: Sequence[StoredAlert], limit: int = 20) -> str:
    """A few lines listing alerts for a thread reply."""
    lines = []
    for alert in alerts[:limit]:
        summary = clean(alert.annotations.get("summary", ""), 200)
        link = f" {Link(clean(alert.generator_url, 2000), 'source')}" if alert.generator_url else ""
        lines.append(
            f"• `{clean(alert.alertname)}` {alert.status}{': ' + summary if summary else ''}{link}"
        )
    if len(alerts) > limit:
        lines.append(f"…and {len(alerts) - limit} more")
    return "\n".join(lines)


def public_status(incident: Incident) -> str:
    """A short, redacted status for public channels (no alert details, links or owners)."""
    state = "investigating" if incident.state == FIRING else "resolved"
    return f"[{incident.criticality}] {incident.event} on {clean(incident.network)}: {state}."
