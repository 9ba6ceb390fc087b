"""Sanity results, scheduled sanity checks and posted connection-info messages."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SanityResult:
    """One stored run of a network's sanity checks."""

    id: int
    network: str
    source: str
    verdict: str
    started_at: float
    seconds: float
    results: list[dict[str, Any]]


@dataclass(frozen=True)
class Schedule:
    """A recurring sanity check and where it reports."""

    id: int
    network: str
    interval: float
    destination: str
    created_by: str
    created_at: float
    digest: bool
    last_verdict: str | None
    last_run_at: float | None
    last_digest_at: float


@dataclass(frozen=True)
class InfoPost:
    """The connection-info message of a network in one channel, edited on later posts."""

    network: str
    destination: str
    message_key: str
    text: str
    posted_at: float


_SCHEDULE_COLUMNS = (
    "id, network, interval, destination, created_by, created_at, digest,"
    " last_verdict, last_run_at, last_digest_at"
)


class SanityRepo:
    """Repository of sanity results, schedules and info posts on one connection."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float]) -> None:
        self.conn = conn
        self.clock = clock

    # -- results -------------------------------------------------------------

    def record(
        self,
        *,
        network: str,
        source: str,
        verdict: str,
        started_at: float,
        seconds: float,
        results: list[dict[str, Any]],
    ) -> int:
        """Store one run's results; return its id."""
        cur = self.conn.execute(
            "INSERT INTO sanity_results (network, source, verdict, started_at, seconds, results)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (network, source, verdict, started_at, seconds, json.dumps(results)),
        )
        return int(cur.lastrowid or 0)

    def results(
        self, *, network: str | None = None, source: str | None = None, limit: int = 20
    ) -> list[SanityResult]:
        """The most recent results (newest first), filtered by network and source."""
        where, args = [], []
        if network is not None:
            where.append("network = ?")
            args.append(network)
        if source is not None:
            where.append("source = ?")
            args.append(source)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self.conn.execute(
            "SELECT id, network, source, verdict, started_at, seconds, results"
            f" FROM sanity_results {clause} ORDER BY id DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
        return [SanityResult(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]

    def verdict_totals(self) -> dict[tuple[str, str], int]:
        """How many sanity runs ended in each verdict, by ``(network, verdict)``."""
        rows = self.conn.execute(
            "SELECT network, verdict, COUNT(*) FROM sanity_results GROUP BY network, verdict"
        ).fetchall()
        return {(n, v): int(k) for n, v, k in rows}

    def latest_by_network(self) -> list[SanityResult]:
        """Each network's most recent sanity result."""
        rows = self.conn.execute(
            "SELECT id, network, source, verdict, started_at, seconds, results"
            " FROM sanity_results WHERE id IN"
            " (SELECT MAX(id) FROM sanity_results GROUP BY network) ORDER BY network"
        ).fetchall()
        return [SanityResult(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]

    def verdict_counts(self, source: str, since: float) -> dict[str, int]:
        """How many runs of ``source`` since ``since`` ended with each verdict."""
        rows = self.conn.execute(
            "SELECT verdict, COUNT(*) FROM sanity_results WHERE source = ? AND started_at >= ?"
            " GROUP BY verdict",
            (source, since),
        ).fetchall()
        return {str(v): int(n) for v, n in rows}

    # -- schedules -----------------------------------------------------------

    def add_schedule(
        self, *, network: str, interval: float, destination: str, created_by: str, digest: bool
    ) -> Schedule:
        """Record a new schedule."""
        now = self.clock()
        cur = self.conn.execute(
            "INSERT INTO sanity_schedules (network, interval, destination, created_by,"
            " created_at, digest, last_digest_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (network, interval, destination, created_by, now, int(digest), now),
        )
        schedule = self.schedule(int(cur.lastrowid or 0))
        assert schedule is not None
        return schedule

    def schedule(self, schedule_id: int) -> Schedule | None:
        """One schedule by id."""
        row = self.conn.execute(
            f"SELECT {_SCHEDULE_COLUMNS} FROM sanity_schedules WHERE id = ?", (schedule_id,)
        ).fetchone()
        return _schedule(row) if row else None

    def schedules(self) -> list[Schedule]:
        """Every schedule, oldest first."""
        rows = self.conn.execute(
            f"SELECT {_SCHEDULE_COLUMNS} FROM sanity_schedules ORDER BY id"
        ).fetchall()
        return [_schedule(r) for r in rows]

    def remove_schedule(self, schedule_id: int) -> Schedule | None:
        """Delete a schedule; return what it was (None if there was none)."""
        schedule = self.schedule(schedule_id)
        if schedule is not None:
            self.conn.execute("DELETE FROM sanity_schedules WHERE id = ?", (schedule_id,))
        return schedule

    def schedule_ran(self, schedule_id: int, verdict: str, at: float) -> None:
        """Remember a scheduled run's verdict (to post only on change)."""
        self.conn.execute(
            "UPDATE sanity_schedules SET last_verdict = ?, last_run_at = ? WHERE id = ?",
            (verdict, at, schedule_id),
        )

    def digest_sent(self, schedule_id: int, at: float) -> None:
        """Remember when the schedule's last digest was posted."""
        self.conn.execute(
            "UPDATE sanity_schedules SET last_digest_at = ? WHERE id = ?", (at, schedule_id)
        )

    # -- connection info -------------------------------------------------------

    def info_post(self, network: str, destination: str) -> InfoPost | None:
        """The connection-info message posted for ``network`` to ``destination``, if any."""
        row = self.conn.execute(
            "SELECT network, destination, message_key, text, posted_at FROM info_posts"
            " WHERE network = ? AND destination = ?",
            (network, destination),
        ).fetchone()
        return InfoPost(*row) if row else None

    def info_posts(self, network: str) -> list[InfoPost]:
        """Every connection-info message posted for ``network``."""
        rows = self.conn.execute(
            "SELECT network, destination, message_key, text, posted_at FROM info_posts"
            " WHERE network = ? ORDER BY destination",
            (network,),
        ).fetchall()
        return [InfoPost(*r) for r in rows]

    def save_info_post(self, network: str, destination: str, message_key: str, text: str) -> None:
        """Record (or refresh) the connection-info message of a network in a channel."""
        self.conn.execute(
            "INSERT INTO info_posts (network, destination, message_key, text, posted_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (network, destination) DO UPDATE SET"
            " message_key = excluded.message_key, text = excluded.text,"
            " posted_at = excluded.posted_at",
            (network, destination, message_key, text, self.clock()),
        )


def _schedule(row: tuple[Any, ...]) -> Schedule:
    return Schedule(
        id=int(row[0]),
        network=row[1],
        interval=float(row[2]),
        destination=row[3],
        created_by=row[4],
        created_at=float(row[5]),
        digest=bool(row[6]),
        last_verdict=row[7],
        last_run_at=row[8],
        last_digest_at=float(row[9]),
    )
