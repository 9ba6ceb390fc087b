"""The neutral request every chat platform is turned into, and the port back to it.

An adapter (shell, Slack, Discord) builds one :class:`Invocation` per command and
hands it to the dispatcher; a command handler never sees a platform object. The
handler answers through the invocation's :class:`Responder`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Actor:
    """Who asked: a platform identity and what the platform says they belong to."""

    platform: str
    id: str
    name: str
    groups: frozenset[str] = frozenset()

    def __str__(self) -> str:
        return f"{self.name} ({self.platform}:{self.id})" if self.name != self.id else self.id


@dataclass(frozen=True)
class MessageRef:
    """A message the bot posted, by our own key (the platform's id comes later)."""

    destination: str
    key: str


@dataclass(frozen=True)
class Table:
    """Rows to show as a table: Block Kit in Slack, an embed in Discord, aligned text
    in the shell."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    attention: int = 0
    """How many of the first rows need attention (failed checks, say): a platform may
    show them more prominently. Every row is still shown, in order."""

    def lines(self) -> list[str]:
        """The table as aligned monospace lines: the header, a rule, then one line per
        row, every column as wide as its widest cell."""
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        lines = [
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip()
            for r in (self.headers, *self.rows)
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return lines

    def as_text(self) -> str:
        """The table as aligned monospace text."""
        return "\n".join(self.lines())


@dataclass(frozen=True)
class ConfirmRequest:
    """What a dangerous command asks before it runs."""

    command: str
    plan: str
    permission: str | None
    requester: Actor
    approvals: int = 1
    timeout: float = 600.0


@dataclass(frozen=True)
class ConfirmResult:
    """How a confirmation ended."""

    approved: bool
    approvers: tuple[str, ...] = ()
    """The people who approved, named as the platform shows them."""
    reason: str = ""


class Responder(Protocol):
    """How a handler talks back to where the command came from.

    Every method returns once the message is durably queued for delivery, not
    once it is shown; delivery order per destination is the call order.
    """

    @property
    def destination(self) -> str:
        """Where replies go, e.g. ``shell`` or ``slack:C0123``."""
        ...

    async def reply(self, text: str, *, table: Table | None = None) -> MessageRef:
        """Post a new message."""
        ...

    async def update(self, ref: MessageRef, text: str, *, table: Table | None = None) -> None:
        """Replace a posted message's content in place."""
        ...

    async def reply_in_thread(
        self, ref: MessageRef, text: str, *, table: Table | None = None
    ) -> MessageRef:
        """Post under a message (a thread where the platform has them)."""
        ...

    async def reply_private(self, text: str) -> None:
        """Tell only the person who asked (an ephemeral message where the platform has
        them: usage errors, permission denials); elsewhere a normal reply."""
        ...

    async def confirm(self, request: ConfirmRequest) -> ConfirmResult:
        """Ask for approval and wait for the answer (or the timeout)."""
        ...


@dataclass(frozen=True)
class Invocation:
    """One command as typed by someone, on some platform."""

    actor: Actor
    text: str
    responder: Responder
    trace_id: str
    channel: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class Outcome(enum.StrEnum):
    """How a dispatched command ended; also the audit log's outcome column."""

    OK = "ok"
    FAILED = "failed"
    USAGE = "usage"
    UNKNOWN = "unknown"
    DENIED = "denied"
    CANCELLED = "cancelled"
    ERROR = "error"

    @property
    def success(self) -> bool:
        """True only for OK."""
        return self is Outcome.OK
