"""Validator onboarding records: each network's validator addresses and their state,
and every operator self-check try.

An address moves ``ready`` → ``adding`` → ``added`` (or ``failed``, from where it may be
added again); ``removed`` ends it, and only a removed address may be recorded as ready
again. :meth:`ValidatorRepo.reserve` checks the set's cap and daily quota and marks the
addresses ``adding`` in one transaction, so two concurrent adds cannot overshoot.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from state.db import transaction

Clock = Callable[[], float]
STATES = ("ready", "adding", "added", "failed", "removed")
DAY = 86400.0
_COLUMNS = (
    "network, address, state, operator, operator_discord, source, ready_by, ready_at,"
    " added_by, added_at, job, error, updated_at"
)


@dataclass(frozen=True)
class ValidatorRecord:
    """One address of a network's validator set, and how it got where it is."""

    network: str
    address: str
    state: str
    operator: str
    operator_discord: str
    source: str
    ready_by: str
    ready_at: float
    added_by: str
    added_at: float | None
    job: str
    error: str
    updated_at: float


class AlreadyRecorded(Exception):
    """The address is already recorded (and not removed); ``record`` is its state."""

    def __init__(self, record: ValidatorRecord) -> None:
        super().__init__(f"{record.address} is {record.state}")
        self.record = record


class NotReservable(Exception):
    """``reserve`` refused: ``reason`` is ``"state"``, ``"cap"`` or ``"quota"``.

    ``records`` are the addresses not ready (for ``"state"``); ``room`` how many more
    fit; ``next_slot`` when the quota next frees a slot (for ``"quota"``).
    """

    def __init__(
        self,
        reason: str,
        *,
        records: Sequence[ValidatorRecord] = (),
        missing: Sequence[str] = (),
        room: int = 0,
        next_slot: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.records = tuple(records)
        self.missing = tuple(missing)
        self.room = room
        self.next_slot = next_slot


@dataclass(frozen=True)
class SetCounts:
    """How a network's validator set stands."""

    by_state: dict[str, int]
    added_last_day: int

    def __getitem__(self, state: str) -> int:
        return self.by_state.get(state, 0)


class ValidatorRepo:
    """Typed access to the ``validators`` and ``self_checks`` tables."""

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self.conn = conn
        self.clock = clock

    # -- the set -------------------------------------------------------------

    def get(self, network: str, address: str) -> ValidatorRecord | None:
        """The record of ``address`` (lower-case key) on ``network``, if any."""
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM validators WHERE network = ? AND address = ?",
            (network, address),
        ).fetchone()
        return ValidatorRecord(*row) if row else None

    def mark_ready(
        self,
        network: str,
        address: str,
        *,
        by: str,
        source: str,
        operator: str = "",
        operator_discord: str = "",
    ) -> ValidatorRecord:
        """Record ``address`` as ready; :class:`AlreadyRecorded` unless it is new or removed."""
        now = self.clock()
        with transaction(self.conn):
            existing = self.get(network, address)
            if existing is not None and existing.state != "removed":
                raise AlreadyRecorded(existing)
            self.conn.execute(
                f"INSERT OR REPLACE INTO validators ({_COLUMNS})"
                " VALUES (?, ?, 'ready', ?, ?, ?, ?, ?, '', NULL, '', '', ?)",
                (network, address, operator, operator_discord, source, by, now, now),
            )
        record = self.get(network, address)
        assert record is not None
        return record

    def records(self, network: str, states: Iterable[str] | None = None) -> list[ValidatorRecord]:
        """The network's records (only those in ``states``), oldest ready first."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM validators WHERE network = ? ORDER BY ready_at, address",
            (network,),
        ).fetchall()
        records = [ValidatorRecord(*r) for r in rows]
        if states is not None:
            wanted = set(states)
            records = [r for r in records if r.state in wanted]
        return records

    def counts(self, network: str) -> SetCounts:
        """Records per state, and how many were added in the last 24 hours."""
        rows = self.conn.execute(
            "SELECT state, COUNT(*) FROM validators WHERE network = ? GROUP BY state",
            (network,),
        ).fetchall()
        (recent,) = self.conn.execute(
            "SELECT COUNT(*) FROM validators WHERE network = ? AND state = 'added'"
            " AND added_at > ?",
            (network, self.clock() - DAY),
        ).fetchone()
        return SetCounts({str(s): int(n) for s, n in rows}, int(recent))

    def reserve(
        self,
        network: str,
        addresses: Sequence[str],
        *,
        by: str,
        cap: int,
        per_day: int | None,
    ) -> list[ValidatorRecord]:
        """Mark ``addresses`` (each ready or failed) as ``adding`` for ``by``, if the set's
        ``cap`` (added + adding) and the 24-hour quota leave room for all of them;
        otherwise change nothing and raise :class:`NotReservable`."""
        now = self.clock()
        with transaction(self.conn):
            records = [self.get(network, a) for a in addresses]
            missing = [a for a, r in zip(addresses, records, strict=True) if r is None]
            wrong = [r for r in records if r is not None and r.state not in ("ready", "failed")]
            if missing or wrong:
                raise NotReservable("state", records=wrong, missing=missing)
            counts = self.counts(network)
            in_set = counts["added"] + counts["adding"]
            if in_set + len(addresses) > cap:
                raise NotReservable("cap", room=max(0, cap - in_set))
            if per_day is not None:
                used = counts.added_last_day + counts["adding"]
                if used + len(addresses) > per_day:
                    raise NotReservable(
                        "quota",
                        room=max(0, per_day - used),
                        next_slot=self.next_slot(network, now, per_day, len(addresses)),
                    )
            self.conn.executemany(
                "UPDATE validators SET state = 'adding', added_by = ?, job = '', error = '',"
                " updated_at = ? WHERE network = ? AND address = ?",
                [(by, now, network, a) for a in addresses],
            )
        return [r for r in (self.get(network, a) for a in addresses) if r is not None]

    def next_slot(self, network: str, now: float, per_day: int, wanted: int) -> float | None:
        """When enough of the last 24 hours' additions age out for ``wanted`` more to fit
        the quota (None when ageing alone cannot make room)."""
        times = [
            float(t)
            for (t,) in self.conn.execute(
                "SELECT added_at FROM validators WHERE network = ? AND state = 'added'"
                " AND added_at > ? ORDER BY added_at",
                (network, now - DAY),
            )
        ]
        adding = self.counts(network)["adding"]
        over = len(times) + adding + wanted - per_day
        if over <= 0 or over > len(times):
            return None  # no ageing frees enough (in-progress additions hold the rest)
        return times[over - 1] + DAY

    def set_job(self, network: str, address: str, job: str) -> None:
        """Remember the Job adding (or removing) ``address``."""
        self.conn.execute(
            "UPDATE validators SET job = ?, updated_at = ? WHERE network = ? AND address = ?",
            (job, self.clock(), network, address),
        )

    def finish(self, network: str, address: str, *, error: str | None = None) -> None:
        """An addition ended: ``added`` (no ``error``) or ``failed`` with ``error``."""
        now = self.clock()
        if error is None:
            self.conn.execute(
                "UPDATE validators SET state = 'added', added_at = ?, error = '', updated_at = ?"
                " WHERE network = ? AND address = ?",
                (now, now, network, address),
            )
        else:
            self.conn.execute(
                "UPDATE validators SET state = 'failed', error = ?, updated_at = ?"
                " WHERE network = ? AND address = ?",
                (error[:2000], now, network, address),
            )

    def remove(self, network: str, address: str) -> None:
        """Take ``address`` out of the set (its record stays, as ``removed``)."""
        self.conn.execute(
            "UPDATE validators SET state = 'removed', job = '', updated_at = ?"
            " WHERE network = ? AND address = ?",
            (self.clock(), network, address),
        )

    # -- self-check tries ----------------------------------------------------

    def record_try(
        self,
        *,
        platform: str,
        user: str,
        network: str,
        address: str,
        block: int | None,
        outcome: str,
        detail: str = "",
    ) -> None:
        """Remember one self-check try and how it ended."""
        self.conn.execute(
            "INSERT INTO self_checks (ts, platform, user, network, address, block, outcome,"
            " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.clock(), platform, user, network, address, block, outcome, detail[:500]),
        )

    def tries_since(
        self, platform: str, user: str, since: float, *, counted: Iterable[str]
    ) -> list[float]:
        """When ``user`` tried since ``since`` (tries whose outcome is in ``counted``)."""
        wanted = set(counted)
        rows = self.conn.execute(
            "SELECT ts, outcome FROM self_checks WHERE platform = ? AND user = ? AND ts > ?"
            " ORDER BY ts",
            (platform, user, since),
        ).fetchall()
        return [float(ts) for ts, outcome in rows if outcome in wanted]

    def tries(self, network: str) -> list[tuple[float, str, str, str]]:
        """Every try on ``network``: (ts, user, address, outcome), oldest first."""
        rows = self.conn.execute(
            "SELECT ts, user, address, outcome FROM self_checks WHERE network = ? ORDER BY id",
            (network,),
        ).fetchall()
        return [(float(a), str(b), str(c), str(d)) for a, b, c, d in rows]
