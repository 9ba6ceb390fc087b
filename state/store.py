"""The bot's state: audit log, runs, locks, outbox and posted messages, in SQLite.

One :class:`Store` owns one connection. All methods are synchronous and short
(single statements or one small transaction on a WAL database), so async callers
may call them directly from the event loop.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sqlite_utils

from state.command_syncs import CommandSyncs
from state.confirmations import Confirmations
from state.db import open_database, transaction
from state.incidents import Incidents
from state.records import (
    ACTIVE_RUN_STATES,
    FINAL_RUN_STATES,
    AuditEntry,
    Lock,
    OutboxItem,
    Priority,
    Run,
)
from state.sanity import SanityRepo
from state.seen import SeenRequests

Clock = Callable[[], float]


class LockHeld(Exception):
    """The network is already locked; ``lock`` says by whom and since when."""

    def __init__(self, lock: Lock) -> None:
        super().__init__(f"{lock.network} is locked by {lock.holder}")
        self.lock = lock


class RunConflict(Exception):
    """Another exclusive run is active on the network."""

    def __init__(self, run: Run) -> None:
        super().__init__(f"run {run.id} ({run.kind}) is active on {run.network}")
        self.run = run


class Store:
    """Typed access to every table; one instance per process (and per connection)."""

    def __init__(self, db: sqlite_utils.Database, clock: Clock = time.time) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self.clock = clock
        self.confirmations = Confirmations(self.conn, clock)
        self.incidents = Incidents(self.conn, clock)
        self.sanity = SanityRepo(self.conn, clock)
        self.seen = SeenRequests(self.conn, clock)
        self.command_syncs = CommandSyncs(self.conn, clock)

    @classmethod
    def open(cls, path: str | Path, clock: Clock = time.time) -> Store:
        """Open and migrate the database at ``path``."""
        return cls(open_database(path), clock)

    def close(self) -> None:
        """Close the connection; the WAL is checkpointed by SQLite."""
        self.conn.close()

    # -- audit ---------------------------------------------------------------

    def audit(
        self,
        *,
        trace_id: str,
        platform: str,
        actor: str,
        command: str,
        args: str,
        outcome: str,
        detail: str = "",
    ) -> int:
        """Append one audit entry and return its id."""
        cur = self.conn.execute(
            "INSERT INTO audit (ts, trace_id, platform, actor, command, args, outcome, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.clock(), trace_id, platform, actor, command, args, outcome, detail),
        )
        return int(cur.lastrowid or 0)

    def recent_audit(self, limit: int = 20) -> list[AuditEntry]:
        """The newest ``limit`` audit entries, newest first."""
        rows = self.conn.execute(
            "SELECT id, ts, trace_id, platform, actor, command, args, outcome, detail"
            " FROM audit ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [AuditEntry(*row) for row in rows]

    # -- runs ----------------------------------------------------------------

    def create_run(
        self,
        *,
        kind: str,
        network: str | None,
        args: dict[str, Any],
        owner: str,
        exclusive: bool = False,
        reply_to: dict[str, Any] | None = None,
    ) -> Run:
        """Record a new pending run.

        With ``exclusive``, at most one pending/running exclusive run may exist per
        network; a second raises :class:`RunConflict` naming the first.
        """
        now = self.clock()
        run_id = uuid.uuid4().hex[:12]
        try:
            self.conn.execute(
                "INSERT INTO runs (id, kind, network, args, state, owner, exclusive,"
                " created_at, updated_at, reply_to) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
                (
                    run_id,
                    kind,
                    network,
                    json.dumps(args),
                    owner,
                    int(exclusive),
                    now,
                    now,
                    json.dumps(reply_to or {}),
                ),
            )
        except sqlite3.IntegrityError:
            active = self.active_exclusive_run(network)
            if active is None:  # it finished between the insert and the look-up
                return self.create_run(
                    kind=kind,
                    network=network,
                    args=args,
                    owner=owner,
                    exclusive=exclusive,
                    reply_to=reply_to,
                )
            raise RunConflict(active) from None
        run = self.get_run(run_id)
        assert run is not None
        return run

    def get_run(self, run_id: str) -> Run | None:
        """The run with this id, or None."""
        row = self.conn.execute(_RUN_SELECT + " WHERE id = ?", (run_id,)).fetchone()
        return _run(row) if row else None

    def update_run(
        self,
        run_id: str,
        *,
        state: str | None = None,
        step: str | None = None,
        result: dict[str, Any] | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> Run:
        """Move a run on; entering a final state stamps ``finished_at``."""
        sets = ["updated_at = ?"]
        values: list[Any] = [self.clock()]
        if state is not None:
            sets.append("state = ?")
            values.append(state)
            if state in FINAL_RUN_STATES:
                sets.append("finished_at = ?")
                values.append(self.clock())
        if step is not None:
            sets.append("step = ?")
            values.append(step)
        if result is not None:
            sets.append("result = ?")
            values.append(json.dumps(result))
        if reply_to is not None:
            sets.append("reply_to = ?")
            values.append(json.dumps(reply_to))
        values.append(run_id)
        self.conn.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", values)
        run = self.get_run(run_id)
        if run is None:
            raise KeyError(run_id)
        return run

    def unfinished_runs(self) -> list[Run]:
        """Runs left pending or running (by a crash or a restart), oldest first."""
        marks = ",".join("?" for _ in ACTIVE_RUN_STATES)
        rows = self.conn.execute(
            _RUN_SELECT + f" WHERE state IN ({marks}) ORDER BY created_at",
            tuple(sorted(ACTIVE_RUN_STATES)),
        ).fetchall()
        return [_run(r) for r in rows]

    def active_exclusive_run(self, network: str | None) -> Run | None:
        """The exclusive run now active on ``network``, if any."""
        row = self.conn.execute(
            _RUN_SELECT
            + " WHERE network IS ? AND exclusive = 1 AND state IN ('pending', 'running')",
            (network,),
        ).fetchone()
        return _run(row) if row else None

    def recent_runs(
        self, *, kinds: Iterable[str] | None = None, network: str | None = None, limit: int = 20
    ) -> list[Run]:
        """The newest runs, optionally of some kinds and one network, newest first."""
        where: list[str] = []
        values: list[Any] = []
        if kinds is not None:
            kind_list = list(kinds)
            where.append(f"kind IN ({','.join('?' for _ in kind_list)})")
            values.extend(kind_list)
        if network is not None:
            where.append("network = ?")
            values.append(network)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self.conn.execute(
            _RUN_SELECT + clause + " ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (*values, limit),
        ).fetchall()
        return [_run(r) for r in rows]

    def finished_run_durations(self) -> list[tuple[str, str, str, float]]:
        """``(kind, network, state, seconds)`` of every run that has finished."""
        rows = self.conn.execute(
            "SELECT kind, COALESCE(network, ''), state, finished_at - created_at FROM runs"
            " WHERE finished_at IS NOT NULL"
        ).fetchall()
        return [(k, n, st, max(0.0, float(sec or 0.0))) for k, n, st, sec in rows]

    def count_runs_by_kind_state(self) -> dict[tuple[str, str], int]:
        """How many runs there are of each (kind, state)."""
        rows = self.conn.execute("SELECT kind, state, COUNT(*) FROM runs GROUP BY kind, state")
        return {(k, s): int(n) for k, s, n in rows}

    def oldest_running_run_ages(self) -> dict[tuple[str, str], float]:
        """Seconds since the oldest ``running`` run of each (kind, network) started.

        A (kind, network) with no running run is absent; the network of a run without
        one is ``""``.
        """
        rows = self.conn.execute(
            "SELECT kind, COALESCE(network, ''), MIN(created_at) FROM runs"
            " WHERE state = 'running' GROUP BY kind, COALESCE(network, '')"
        ).fetchall()
        now = self.clock()
        return {(k, n): max(0.0, now - float(started)) for k, n, started in rows}

    # -- locks ---------------------------------------------------------------

    def lock(self, network: str, *, holder: str, reason: str) -> Lock:
        """Freeze deploys on ``network``; raise :class:`LockHeld` if already frozen."""
        now = self.clock()
        try:
            self.conn.execute(
                "INSERT INTO locks (network, holder, reason, since) VALUES (?, ?, ?, ?)",
                (network, holder, reason, now),
            )
        except sqlite3.IntegrityError:
            held = self.get_lock(network)
            if held is None:
                return self.lock(network, holder=holder, reason=reason)
            raise LockHeld(held) from None
        return Lock(network, holder, reason, now)

    def unlock(self, network: str) -> Lock | None:
        """Lift the freeze on ``network``; return the lock that was removed, if any."""
        with transaction(self.conn):
            held = self.get_lock(network)
            self.conn.execute("DELETE FROM locks WHERE network = ?", (network,))
        return held

    def get_lock(self, network: str) -> Lock | None:
        """The freeze on ``network``, if any."""
        row = self.conn.execute(
            "SELECT network, holder, reason, since FROM locks WHERE network = ?", (network,)
        ).fetchone()
        return Lock(*row) if row else None

    def locks(self) -> list[Lock]:
        """Every freeze in force."""
        rows = self.conn.execute(
            "SELECT network, holder, reason, since FROM locks ORDER BY network"
        )
        return [Lock(*r) for r in rows]

    # -- outbox --------------------------------------------------------------

    def enqueue(
        self,
        destination: str,
        op: str,
        payload: dict[str, Any],
        *,
        message_key: str | None = None,
        dedupe_key: str | None = None,
        priority: int | None = None,
        lane: str | None = None,
    ) -> int | None:
        """Queue one outbound operation; return its id.

        An item whose ``dedupe_key`` was queued before is not queued again (None is
        returned), which makes retried producers idempotent. ``lane`` (default: the
        destination) is the scope delivered in order; ``priority`` (default: edits
        :attr:`Priority.EDIT`, the rest :attr:`Priority.REPLY`) orders a lane. An edit
        or thread reply never gets a priority above its message's (it is clamped).
        """
        rank = _rank(op, payload, priority)
        now = self.clock()
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO outbox (destination, op, payload, next_attempt_at, created_at,"
            " message_key, dedupe_key, priority, lane) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                destination,
                op,
                json.dumps(payload),
                now,
                now,
                message_key,
                dedupe_key,
                rank,
                lane or destination,
            ),
        )
        if cur.rowcount == 0:
            return None
        return int(cur.lastrowid or 0)

    def outbox_heads(self, now: float | None = None) -> list[OutboxItem]:
        """The next item of each lane: its most urgent pending item, oldest first among
        equals (delivery is in that order per lane). A lane's edits queue on their own
        (they are paced apart from posts), so each lane yields up to two heads."""
        rows = self.conn.execute(
            _OUTBOX_SELECT + " WHERE id IN (SELECT id FROM (SELECT id,"
            " MIN(priority * 1099511627776 + id) FROM outbox WHERE state = 'pending'"
            " GROUP BY lane, op = 'update')) ORDER BY priority, next_attempt_at, id"
        ).fetchall()
        return [_outbox(r) for r in rows]

    def begin_attempt(self, item_id: int) -> None:
        """Durably note that a delivery of the item is starting: until it is recorded
        as delivered or as refused, the item may have reached its destination."""
        self.conn.execute("UPDATE outbox SET maybe_sent = 1 WHERE id = ?", (item_id,))

    def pending_updates(self, destination: str, message_key: str, after_id: int) -> list[int]:
        """Ids of later pending ``update`` items for the same message, oldest first."""
        rows = self.conn.execute(
            "SELECT id FROM outbox WHERE state = 'pending' AND destination = ? AND op = 'update'"
            " AND message_key = ? AND id > ? ORDER BY id",
            (destination, message_key, after_id),
        )
        return [int(r[0]) for r in rows]

    def mark_delivered(self, item_id: int, *, superseded: Iterable[int] = ()) -> None:
        """Record a delivery; ``superseded`` items (older edits of the same message
        made redundant by a newer one) are marked delivered with it."""
        now = self.clock()
        ids = [item_id, *superseded]
        marks = ",".join("?" for _ in ids)
        self.conn.execute(
            f"UPDATE outbox SET state = 'delivered', delivered_at = ? WHERE id IN ({marks})",
            (now, *ids),
        )

    def mark_retry(
        self, item_id: int, *, at: float, error: str, maybe_sent: bool | None = None
    ) -> None:
        """Count a failed attempt and schedule the next one at ``at``; ``maybe_sent``
        False records that the destination surely did not act on it (None: unknown,
        the flag is left as it is)."""
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,"
            " maybe_sent = CASE WHEN ? IS NULL THEN maybe_sent ELSE ? END WHERE id = ?",
            (at, error[:500], maybe_sent, maybe_sent, item_id),
        )

    # -- pacing --------------------------------------------------------------

    def record_send(self, scope: str, at: float, *, keep: float) -> None:
        """Remember one paced send in ``scope``; sends older than ``keep`` seconds go."""
        self.conn.execute("INSERT INTO outbox_pacing (scope, at) VALUES (?, ?)", (scope, at))
        self.conn.execute(
            "DELETE FROM outbox_pacing WHERE scope = ? AND at < ?", (scope, at - keep)
        )

    def recent_sends(self, scope: str, since: float) -> list[float]:
        """When the sends of ``scope`` since ``since`` happened, oldest first."""
        rows = self.conn.execute(
            "SELECT at FROM outbox_pacing WHERE scope = ? AND at >= ? ORDER BY at",
            (scope, since),
        )
        return [float(r[0]) for r in rows]

    def pause(self, scope: str, until: float) -> None:
        """Hold every send of ``scope`` until ``until`` (a later pause wins)."""
        self.conn.execute(
            "INSERT INTO outbox_pauses (scope, until) VALUES (?, ?)"
            " ON CONFLICT(scope) DO UPDATE SET until = MAX(until, excluded.until)",
            (scope, until),
        )

    def paused_until(self, scope: str) -> float:
        """Until when ``scope`` is paused (0 if it never was)."""
        row = self.conn.execute(
            "SELECT until FROM outbox_pauses WHERE scope = ?", (scope,)
        ).fetchone()
        return float(row[0]) if row else 0.0

    def mark_dead(self, item_id: int, *, error: str) -> None:
        """Park an item that keeps failing; it stays visible in status."""
        self.conn.execute(
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?"
            " WHERE id = ?",
            (error[:500], item_id),
        )

    def get_outbox_item(self, item_id: int) -> OutboxItem | None:
        """One outbox item by id."""
        row = self.conn.execute(_OUTBOX_SELECT + " WHERE id = ?", (item_id,)).fetchone()
        return _outbox(row) if row else None

    def outbox_counts(self, *, delivered: bool = True) -> dict[tuple[str, str], int]:
        """How many outbox items there are per (destination, state); without
        ``delivered`` only pending and dead ones are counted (an index look-up, cheap
        however long the history)."""
        where = "" if delivered else " WHERE state IN ('pending', 'dead')"
        rows = self.conn.execute(
            f"SELECT destination, state, COUNT(*) FROM outbox{where} GROUP BY destination, state"
        )
        return {(d, s): int(n) for d, s, n in rows}

    def dead_items(self, limit: int = 10) -> list[OutboxItem]:
        """The newest parked (dead) items."""
        rows = self.conn.execute(
            _OUTBOX_SELECT + " WHERE state = 'dead' ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_outbox(r) for r in rows]

    # -- messages ------------------------------------------------------------

    def new_message(self, destination: str) -> str:
        """Reserve a key for a message about to be posted; its platform ref comes later."""
        key = uuid.uuid4().hex
        self.conn.execute(
            "INSERT INTO messages (key, destination, ref, created_at) VALUES (?, ?, NULL, ?)",
            (key, destination, self.clock()),
        )
        return key

    def named_message(self, key: str, destination: str) -> bool:
        """Reserve the caller-chosen ``key`` (one message per incident, say); True if it
        is new, False if it was reserved before."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO messages (key, destination, ref, created_at)"
            " VALUES (?, ?, NULL, ?)",
            (key, destination, self.clock()),
        )
        return cur.rowcount == 1

    def set_message_ref(self, key: str, ref: dict[str, Any]) -> None:
        """Record where the platform put a message (e.g. Slack channel and ts)."""
        self.conn.execute("UPDATE messages SET ref = ? WHERE key = ?", (json.dumps(ref), key))

    def message_alive(self, key: str) -> bool:
        """True if the message was posted, or its post is still waiting to be; False
        if its post was parked as dead (so editing it can never work)."""
        if self.message_ref(key) is not None:
            return True
        row = self.conn.execute(
            "SELECT 1 FROM outbox WHERE message_key = ? AND op = 'post' AND state = 'pending'",
            (key,),
        ).fetchone()
        return row is not None

    def message_ref(self, key: str) -> dict[str, Any] | None:
        """The platform's reference for a posted message, or None if not yet posted."""
        row = self.conn.execute("SELECT ref FROM messages WHERE key = ?", (key,)).fetchone()
        if row is None or row[0] is None:
            return None
        ref: dict[str, Any] = json.loads(row[0])
        return ref


_RUN_SELECT = (
    "SELECT id, kind, network, args, state, step, owner, created_at, updated_at,"
    " finished_at, result, reply_to FROM runs"
)
_OUTBOX_SELECT = (
    "SELECT id, destination, op, payload, state, attempts, next_attempt_at, created_at,"
    " message_key, last_error, priority, lane, maybe_sent FROM outbox"
)


def _run(row: tuple[Any, ...]) -> Run:
    (rid, kind, network, args, state, step, owner, created, updated, finished, result, reply) = row
    return Run(
        id=rid,
        kind=kind,
        network=network,
        args=json.loads(args),
        state=state,
        step=step,
        owner=owner,
        created_at=created,
        updated_at=updated,
        finished_at=finished,
        result=json.loads(result),
        reply_to=json.loads(reply),
    )


def _outbox(row: tuple[Any, ...]) -> OutboxItem:
    (iid, dest, op, payload, state, attempts, nxt, created, key, err, rank, lane, maybe) = row
    return OutboxItem(
        id=iid,
        destination=dest,
        op=op,
        payload=json.loads(payload),
        state=state,
        attempts=attempts,
        next_attempt_at=nxt,
        created_at=created,
        message_key=key,
        last_error=err,
        priority=rank,
        lane=lane,
        maybe_sent=bool(maybe),
    )


def _rank(op: str, payload: dict[str, Any], priority: int | None) -> int:
    """The item's priority: edits always rank as edits, thread replies never above
    replies (so neither overtakes the message it belongs to)."""
    if op == "update":
        return int(Priority.EDIT)
    floor = Priority.REPLY if payload.get("thread_key") else Priority.URGENT
    default = Priority.REPLY
    return int(max(floor, default if priority is None else priority))
