"""Confirmations that wait for approvers (buttons in chat), kept in SQLite so a
double click or a retried delivery never approves twice."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from state.db import transaction

PENDING, APPROVED, CANCELLED, EXPIRED = "pending", "approved", "cancelled", "expired"


@dataclass(frozen=True)
class Confirmation:
    """A request for approval and how far it has got."""

    id: str
    command: str
    plan: str
    permission: str | None
    requester: str
    approvals: int
    approvers: tuple[str, ...]
    state: str
    decided_by: str
    destination: str
    message_key: str | None
    created_at: float
    expires_at: float

    @property
    def needed_from_others(self) -> int:
        """How many approvers other than the requester are needed (approvals ≥ 2 means
        the requester counts as the first person and cannot approve alone)."""
        return self.approvals - 1 if self.approvals >= 2 else 0


@dataclass(frozen=True)
class Vote:
    """What one click did."""

    confirmation: Confirmation
    changed: bool
    note: str


class Confirmations:
    """Repository of confirmations on one connection."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float]) -> None:
        self.conn = conn
        self.clock = clock

    def create(
        self,
        *,
        command: str,
        plan: str,
        permission: str | None,
        requester: str,
        approvals: int,
        destination: str,
        timeout: float,
        message_key: str | None = None,
    ) -> Confirmation:
        """Record a new pending confirmation that expires after ``timeout`` seconds."""
        now = self.clock()
        cid = uuid.uuid4().hex[:16]
        self.conn.execute(
            "INSERT INTO confirmations (id, command, plan, permission, requester, approvals,"
            " destination, message_key, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                cid,
                command,
                plan,
                permission,
                requester,
                approvals,
                destination,
                message_key,
                now,
                now + timeout,
            ),
        )
        found = self.get(cid)
        assert found is not None
        return found

    def get(self, cid: str) -> Confirmation | None:
        """One confirmation by id."""
        row = self.conn.execute(_SELECT + " WHERE id = ?", (cid,)).fetchone()
        return _confirmation(row) if row else None

    def pending(self) -> list[Confirmation]:
        """Every confirmation still waiting."""
        rows = self.conn.execute(_SELECT + " WHERE state = 'pending' ORDER BY created_at")
        return [_confirmation(r) for r in rows]

    def approve(self, cid: str, user: str) -> Vote:
        """Count ``user``'s approval once; approve when enough distinct people have."""
        with transaction(self.conn):
            conf = self.get(cid)
            if conf is None:
                raise KeyError(cid)
            blocked = self._closed(conf)
            if blocked is not None:
                return Vote(blocked, False, blocked.state)
            if user in conf.approvers:
                return Vote(conf, False, "already approved by you")
            if conf.needed_from_others and user == conf.requester:
                return Vote(conf, False, "requester cannot approve")
            approvers = (*conf.approvers, user)
            others = [a for a in approvers if a != conf.requester]
            done = len(others) >= conf.needed_from_others if conf.needed_from_others else True
            state = APPROVED if done else PENDING
            self.conn.execute(
                "UPDATE confirmations SET approvers = ?, state = ?, decided_by = ? WHERE id = ?",
                (json.dumps(approvers), state, user if done else "", cid),
            )
        updated = self.get(cid)
        assert updated is not None
        return Vote(updated, True, state)

    def cancel(self, cid: str, user: str) -> Vote:
        """Cancel a pending confirmation."""
        return self._finish(cid, CANCELLED, user)

    def expire(self, cid: str) -> Vote:
        """Mark a pending confirmation expired."""
        return self._finish(cid, EXPIRED, "")

    def _finish(self, cid: str, state: str, user: str) -> Vote:
        with transaction(self.conn):
            conf = self.get(cid)
            if conf is None:
                raise KeyError(cid)
            blocked = self._closed(conf) if state != EXPIRED else None
            if blocked is not None:
                return Vote(blocked, False, blocked.state)
            if conf.state != PENDING:
                return Vote(conf, False, conf.state)
            self.conn.execute(
                "UPDATE confirmations SET state = ?, decided_by = ? WHERE id = ?",
                (state, user, cid),
            )
        updated = self.get(cid)
        assert updated is not None
        return Vote(updated, True, state)

    def _closed(self, conf: Confirmation) -> Confirmation | None:
        """The confirmation if it can no longer change (expiring it now if its time is up)."""
        if conf.state != PENDING:
            return conf
        if self.clock() > conf.expires_at:
            self.conn.execute("UPDATE confirmations SET state = 'expired' WHERE id = ?", (conf.id,))
            return self.get(conf.id)
        return None


_SELECT = (
    "SELECT id, command, plan, permission, requester, approvals, approvers, state, decided_by,"
    " destination, message_key, created_at, expires_at FROM confirmations"
)


def _confirmation(row: tuple[Any, ...]) -> Confirmation:
    (
        cid,
        command,
        plan,
        perm,
        requester,
        approvals,
        approvers,
        state,
        decided,
        dest,
        key,
        created,
        expires,
    ) = row
    return Confirmation(
        id=cid,
        command=command,
        plan=plan,
        permission=perm,
        requester=requester,
        approvals=approvals,
        approvers=tuple(json.loads(approvers)),
        state=state,
        decided_by=decided,
        destination=dest,
        message_key=key,
        created_at=created,
        expires_at=expires,
    )
