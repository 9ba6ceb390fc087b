"""Keys of inbound requests already handled (e.g. the trigger id of a chat command),
kept in SQLite so a retry or replay that reaches a restarted bot is still recognised."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Clock = Callable[[], float]
PRUNE_EVERY = 500
"""Prune expired keys once per this many recorded keys (and at the first one)."""


class SeenRequests:
    """A window of recently seen request keys per source.

    :meth:`first_time` is atomic: of two concurrent callers with the same key (in this
    process or another on the same database), exactly one gets True.
    """

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self.conn = conn
        self.clock = clock
        self._recorded = 0

    def first_time(self, source: str, key: str, window: float) -> bool:
        """Record ``key`` for ``source``; False if it was already recorded less than
        ``window`` seconds ago (an older record counts as unseen and is renewed)."""
        now = self.clock()
        if self._recorded % PRUNE_EVERY == 0:
            self.conn.execute("DELETE FROM seen_requests WHERE seen_at < ?", (now - window,))
        cur = self.conn.execute(
            "INSERT INTO seen_requests (source, key, seen_at) VALUES (?, ?, ?)"
            " ON CONFLICT (source, key) DO UPDATE SET seen_at = excluded.seen_at"
            " WHERE seen_requests.seen_at < ?",
            (source, key, now, now - window),
        )
        if cur.rowcount == 0:
            return False
        self._recorded += 1
        return True

    def count(self, source: str) -> int:
        """How many keys of ``source`` are recorded (expired ones not yet pruned included)."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM seen_requests WHERE source = ?", (source,)
        ).fetchone()
        return int(row[0])
