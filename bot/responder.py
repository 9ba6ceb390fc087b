"""A :class:`~bot.core.Responder` whose every message goes through the outbox.

Platforms differ only in how they ask for confirmation, so adapters subclass
:class:`OutboxResponder` and implement :meth:`confirm`.
"""

from __future__ import annotations

from typing import Any

from bot.core import ConfirmRequest, ConfirmResult, MessageRef, Table
from bot.outbox import Outbox
from state.records import Priority


def table_payload(table: Table | None) -> dict[str, Any] | None:
    """A table as JSON-able data for an outbox payload."""
    if table is None:
        return None
    data: dict[str, Any] = {"headers": list(table.headers), "rows": [list(r) for r in table.rows]}
    if table.attention:
        data["attention"] = table.attention
    return data


def payload_table(data: dict[str, Any] | None) -> Table | None:
    """The inverse of :func:`table_payload`."""
    if not data:
        return None
    return Table(
        tuple(data["headers"]),
        tuple(tuple(r) for r in data["rows"]),
        int(data.get("attention") or 0),
    )


class OutboxResponder:
    """Posts, edits and thread replies as durable outbox items for one destination."""

    def __init__(
        self,
        outbox: Outbox,
        destination: str,
        extra: dict[str, Any] | None = None,
        *,
        urgent_first_reply: bool = False,
    ):
        self.outbox = outbox
        self._destination = destination
        self._extra = extra or {}
        self._replied = not urgent_first_reply
        """With ``urgent_first_reply`` (a responder answering someone who just typed a
        command), the first reply goes ahead of the channel's other traffic."""

    @property
    def destination(self) -> str:
        """Where this responder's messages go."""
        return self._destination

    def _payload(self, text: str, table: Table | None) -> dict[str, Any]:
        payload: dict[str, Any] = {**self._extra, "text": text}
        if table is not None:
            payload["table"] = table_payload(table)
        return payload

    async def reply(self, text: str, *, table: Table | None = None) -> MessageRef:
        """Queue a new message; a command's first reply (see ``urgent_first_reply``)
        goes ahead of the channel's progress edits and thread replies."""
        priority = Priority.REPLY if self._replied else Priority.URGENT
        self._replied = True
        key = self.outbox.post(self._destination, self._payload(text, table), priority=priority)
        return MessageRef(self._destination, key)

    async def update(self, ref: MessageRef, text: str, *, table: Table | None = None) -> None:
        """Queue an edit of ``ref`` (older queued edits of it are skipped)."""
        self.outbox.enqueue(
            ref.destination, "update", self._payload(text, table), message_key=ref.key
        )

    async def reply_in_thread(
        self, ref: MessageRef, text: str, *, table: Table | None = None
    ) -> MessageRef:
        """Queue a reply under ``ref``."""
        payload = {**self._payload(text, table), "thread_key": ref.key}
        return MessageRef(ref.destination, self.outbox.post(ref.destination, payload))

    async def reply_private(self, text: str) -> None:
        """Platforms with ephemeral messages override this; by default a normal reply."""
        await self.reply(text)

    async def confirm(self, request: ConfirmRequest) -> ConfirmResult:
        """Platforms override this; by default nothing dangerous is approved."""
        return ConfirmResult(False, reason="this channel cannot ask for confirmation")
