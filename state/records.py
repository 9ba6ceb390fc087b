"""Plain records read from the database; the rest of the bot never sees rows."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

FINAL_RUN_STATES = frozenset({"succeeded", "failed", "cancelled", "rolled_back"})
ACTIVE_RUN_STATES = frozenset({"pending", "running"})


@dataclass(frozen=True)
class AuditEntry:
    """One command attempt: who ran what, and how it ended."""

    id: int
    ts: float
    trace_id: str
    platform: str
    actor: str
    command: str
    args: str
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class Run:
    """A durable workflow run (a deploy, a rollback, ...) and where it has got to."""

    id: str
    kind: str
    network: str | None
    args: dict[str, Any]
    state: str
    step: str
    owner: str
    created_at: float
    updated_at: float
    finished_at: float | None = None
    result: dict[str, Any] = field(default_factory=dict)
    reply_to: dict[str, Any] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        """True once the run has ended, whichever way."""
        return self.state in FINAL_RUN_STATES


@dataclass(frozen=True)
class Lock:
    """A deploy freeze on a network."""

    network: str
    holder: str
    reason: str
    since: float


@dataclass(frozen=True)
class OutboxItem:
    """One outbound operation waiting for (or done with) delivery."""

    id: int
    destination: str
    op: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: float
    created_at: float
    message_key: str | None = None
    last_error: str = ""
    priority: int = 1
    lane: str = ""
    maybe_sent: bool = False
    """An earlier attempt may have reached the destination (it timed out, the
    connection broke, or the process died before recording the answer)."""


class Priority(enum.IntEnum):
    """How urgent an outbox item is within its lane: lower goes first.

    Within one priority items go in the order they were queued. An edit or a thread
    reply never ranks above the message it belongs to, so it never overtakes it.
    """

    URGENT = 0
    """Interactive prompts, a command's first reply, an incident's root message."""
    REPLY = 1
    """Everything else that posts: thread replies, later replies, GitHub writes."""
    EDIT = 2
    """Edits of messages already posted (they coalesce, so they can wait)."""
