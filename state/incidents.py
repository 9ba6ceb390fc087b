"""Incidents and the alerts that make them up, in SQLite.

An incident is keyed by (network, matrix event); alerts are keyed by Alertmanager's
fingerprint and ``startsAt``, so a repeated notification finds its alert already
stored. Methods are single statements (or ``executemany``) that run inside the
caller's transaction: the webhook stores alerts, incident changes and outbound
messages in one commit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from pydantic_core import to_json

FIRING, RESOLVED, CLOSED = "firing", "resolved", "closed"
"""Incident states: some alert fires; every alert resolved (issue still open); closed."""

AlertKey = tuple[str, str]
"""(fingerprint, startsAt as Alertmanager sent it)."""


@dataclass(frozen=True)
class Incident:
    """One incident as stored."""

    id: int
    network: str
    event: str
    criticality: str
    owner: str
    state: str
    opened_at: float
    updated_at: float
    resolved_at: float | None
    closed_at: float | None
    acked_by: str
    acked_at: float | None
    note: str
    issue_number: int | None
    issue_url: str
    issue_create_started: float | None
    slack_destination: str | None
    slack_root_key: str | None
    last_comment_at: float
    last_reminder_at: float
    unreported: int
    fired_count: int


class NewAlert(NamedTuple):
    """An alert to store: what the webhook said about it (a tuple: built per alert)."""

    fingerprint: str
    starts_at: str
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str


@dataclass(frozen=True)
class StoredAlert:
    """An alert as stored, with the incident it belongs to."""

    fingerprint: str
    starts_at: str
    incident_id: int
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str
    status: str
    received_at: float
    resolved_at: float | None

    @property
    def key(self) -> AlertKey:
        """(fingerprint, startsAt)."""
        return (self.fingerprint, self.starts_at)


class Incidents:
    """Repository of incidents and alerts on one connection."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float]) -> None:
        self.conn = conn
        self.clock = clock

    # -- alerts --------------------------------------------------------------

    def known_alerts(self, keys: Sequence[AlertKey]) -> dict[AlertKey, tuple[str, int]]:
        """For the keys already stored: their (status, incident id)."""
        found: dict[AlertKey, tuple[str, int]] = {}
        fingerprints = sorted({fp for fp, _ in keys})
        for start in range(0, len(fingerprints), 500):
            chunk = fingerprints[start : start + 500]
            marks = ",".join("?" for _ in chunk)
            rows = self.conn.execute(
                "SELECT fingerprint, starts_at, status, incident_id FROM alerts"
                f" WHERE fingerprint IN ({marks})",
                chunk,
            )
            for fp, starts, status, incident in rows:
                found[(fp, starts)] = (status, int(incident))
        return found

    def insert_alerts(
        self, groups: Iterable[tuple[int, Sequence[NewAlert]]], now: float, *, reported: bool
    ) -> None:
        """Store new firing alerts, grouped by incident id; ``reported`` when they are
        already told (in the issue body), otherwise a later summary picks them up."""
        flag = int(reported)
        self.conn.executemany(
            "INSERT INTO alerts (fingerprint, starts_at, incident_id, alertname, labels,"
            " annotations, generator_url, status, received_at, reported)"
            " VALUES (?,?,?,?,?,?,?,'firing',?,?)",
            [
                (
                    a.fingerprint,
                    a.starts_at,
                    incident_id,
                    a.alertname,
                    to_json(a.labels).decode(),
                    to_json(a.annotations).decode(),
                    a.generator_url,
                    now,
                    flag,
                )
                for incident_id, alerts in groups
                for a in alerts
            ],
        )

    def resolve_alerts(self, keys: Iterable[AlertKey], now: float) -> None:
        """Mark stored alerts resolved."""
        self.conn.executemany(
            "UPDATE alerts SET status = 'resolved', resolved_at = ?"
            " WHERE fingerprint = ? AND starts_at = ? AND status = 'firing'",
            [(now, fp, starts) for fp, starts in keys],
        )

    def alert_counts(self, incident_id: int) -> tuple[int, int]:
        """(firing, total) alerts of an incident."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(status = 'firing'), 0), COUNT(*) FROM alerts"
            " WHERE incident_id = ?",
            (incident_id,),
        ).fetchone()
        return int(row[0]), int(row[1])

    def alerts_of(self, incident_id: int, *, limit: int = 200) -> list[StoredAlert]:
        """An incident's alerts, firing first, oldest first."""
        rows = self.conn.execute(
            _ALERT_SELECT + " WHERE incident_id = ? ORDER BY status = 'resolved', received_at,"
            " fingerprint LIMIT ?",
            (incident_id, limit),
        ).fetchall()
        return [_alert(r) for r in rows]

    def alerts_by_key(self, keys: Sequence[AlertKey]) -> list[StoredAlert]:
        """The stored alerts with these keys, in the order given (unknown keys skipped)."""
        out: list[StoredAlert] = []
        for fp, starts in keys:
            row = self.conn.execute(
                _ALERT_SELECT + " WHERE fingerprint = ? AND starts_at = ?", (fp, starts)
            ).fetchone()
            if row is not None:
                out.append(_alert(row))
        return out

    def take_unreported(self, incident_id: int) -> list[StoredAlert]:
        """The incident's alerts not yet reported, now marked reported."""
        rows = self.conn.execute(
            _ALERT_SELECT + " WHERE incident_id = ? AND reported = 0 ORDER BY received_at,"
            " fingerprint",
            (incident_id,),
        ).fetchall()
        self.conn.execute(
            "UPDATE alerts SET reported = 1 WHERE incident_id = ? AND reported = 0", (incident_id,)
        )
        self.conn.execute("UPDATE incidents SET unreported = 0 WHERE id = ?", (incident_id,))
        return [_alert(r) for r in rows]

    def add_unreported(self, counts: Iterable[tuple[int, int]], now: float) -> None:
        """Count alerts that joined and wait to be reported: (incident id, how many)."""
        self.conn.executemany(
            "UPDATE incidents SET unreported = unreported + ?, updated_at = ? WHERE id = ?",
            [(count, now, incident_id) for incident_id, count in counts],
        )

    def count_alerts(self) -> int:
        """How many alerts are stored."""
        return int(self.conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])

    # -- incidents -----------------------------------------------------------

    def latest(self, network: str, event: str) -> Incident | None:
        """The newest incident of a key."""
        row = self.conn.execute(
            _INCIDENT_SELECT + " WHERE network = ? AND event = ? ORDER BY id DESC LIMIT 1",
            (network, event),
        ).fetchone()
        return _incident(row) if row else None

    def firing_ids(self) -> dict[tuple[str, str], tuple[int, float]]:
        """Every firing incident's (id, last_comment_at) by (network, event): the hot
        path of an intake needs no more, so no Incident objects are built."""
        rows = self.conn.execute(
            "SELECT network, event, id, last_comment_at FROM incidents WHERE state = 'firing'"
        ).fetchall()
        return {(network, event): (int(i), at) for network, event, i, at in rows}

    def firing_by_key(self) -> dict[tuple[str, str], Incident]:
        """Every firing incident by (network, event) (one query, for a whole webhook)."""
        rows = self.conn.execute(_INCIDENT_SELECT + " WHERE state = 'firing'").fetchall()
        return {(i.network, i.event): i for i in map(_incident, rows)}

    def create(
        self,
        *,
        network: str,
        event: str,
        criticality: str,
        owner: str,
        slack_destination: str | None,
        now: float,
    ) -> int:
        """Open a new firing incident; return its id."""
        cur = self.conn.execute(
            "INSERT INTO incidents (network, event, criticality, owner, state, opened_at,"
            " updated_at, slack_destination, last_comment_at, last_reminder_at)"
            " VALUES (?, ?, ?, ?, 'firing', ?, ?, ?, ?, ?)",
            (network, event, criticality, owner, now, now, slack_destination, now, now),
        )
        return int(cur.lastrowid or 0)

    def get(self, incident_id: int) -> Incident | None:
        """One incident by id."""
        row = self.conn.execute(_INCIDENT_SELECT + " WHERE id = ?", (incident_id,)).fetchone()
        return _incident(row) if row else None

    def update(self, incident_id: int, **fields: Any) -> None:
        """Set the given columns and ``updated_at``."""
        for name in fields:
            if name not in _COLUMNS:
                raise ValueError(f"unknown incident column {name!r}")
        fields.setdefault("updated_at", self.clock())
        sets = ", ".join(f"{name} = ?" for name in fields)
        self.conn.execute(
            f"UPDATE incidents SET {sets} WHERE id = ?", (*fields.values(), incident_id)
        )

    def listing(self, *, open_only: bool, limit: int = 50) -> list[Incident]:
        """Incidents newest first; ``open_only`` leaves out closed ones."""
        where = " WHERE state != 'closed'" if open_only else ""
        rows = self.conn.execute(
            _INCIDENT_SELECT + where + " ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_incident(r) for r in rows]

    def open_counts(self) -> dict[tuple[str, str, str], int]:
        """Incidents not closed, by ``(criticality, network, state)``."""
        rows = self.conn.execute(
            "SELECT criticality, network, state, COUNT(*) FROM incidents"
            " WHERE state != 'closed' GROUP BY criticality, network, state"
        ).fetchall()
        return {(c, n, st): int(k) for c, n, st, k in rows}

    def count(self) -> int:
        """How many incidents exist."""
        return int(self.conn.execute("SELECT COUNT(*) FROM incidents").fetchone()[0])

    def with_pending_joins(self) -> list[Incident]:
        """Incidents holding joined alerts not yet reported."""
        rows = self.conn.execute(
            _INCIDENT_SELECT + " WHERE unreported > 0 ORDER BY last_comment_at"
        ).fetchall()
        return [_incident(r) for r in rows]

    def unacked_firing(self) -> list[Incident]:
        """Firing incidents nobody has acknowledged."""
        rows = self.conn.execute(
            _INCIDENT_SELECT + " WHERE state = 'firing' AND acked_at IS NULL"
            " ORDER BY last_reminder_at"
        ).fetchall()
        return [_incident(r) for r in rows]

    # -- the GitHub issue ----------------------------------------------------

    def begin_issue_create(self, incident_id: int, now: float) -> bool:
        """Record that creating the issue is being tried; True if it was tried before
        (so the issue may exist already and must be looked for by its marker)."""
        row = self.conn.execute(
            "SELECT issue_create_started FROM incidents WHERE id = ?", (incident_id,)
        ).fetchone()
        tried_before = row is not None and row[0] is not None
        if not tried_before:
            self.conn.execute(
                "UPDATE incidents SET issue_create_started = ? WHERE id = ?", (now, incident_id)
            )
        return tried_before

    def record_issue(self, incident_id: int, number: int, url: str) -> None:
        """Remember the incident's GitHub issue."""
        self.conn.execute(
            "UPDATE incidents SET issue_number = ?, issue_url = ? WHERE id = ?",
            (number, url, incident_id),
        )


_COLUMNS = {
    "state",
    "updated_at",
    "resolved_at",
    "closed_at",
    "acked_by",
    "acked_at",
    "note",
    "slack_root_key",
    "last_comment_at",
    "last_reminder_at",
    "fired_count",
}
_INCIDENT_SELECT = (
    "SELECT id, network, event, criticality, owner, state, opened_at, updated_at, resolved_at,"
    " closed_at, acked_by, acked_at, note, issue_number, issue_url, issue_create_started,"
    " slack_destination, slack_root_key, last_comment_at, last_reminder_at, unreported,"
    " fired_count FROM incidents"
)
_ALERT_SELECT = (
    "SELECT fingerprint, starts_at, incident_id, alertname, labels, annotations,"
    " generator_url, status, received_at, resolved_at FROM alerts"
)


def _incident(row: tuple[Any, ...]) -> Incident:
    return Incident(*row)


def _alert(row: tuple[Any, ...]) -> StoredAlert:
    fp, starts, incident, name, labels, annotations, url, status, received, resolved = row
    return StoredAlert(
        fingerprint=fp,
        starts_at=starts,
        incident_id=int(incident),
        alertname=name,
        labels=json.loads(labels),
        annotations=json.loads(annotations),
        generator_url=url,
        status=status,
        received_at=received,
        resolved_at=resolved,
    )
