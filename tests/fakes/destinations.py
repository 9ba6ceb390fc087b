"""Outbox destinations for tests: they record what arrives and can be told to fail."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bot.outbox import DeliveryContext, PermanentFailure, RetryLater
from state.records import OutboxItem


@dataclass
class RecordingDestination:
    """Accepts items (recording each with its arrival time) unless a fault is queued.

    Faults: ``"error"`` (a transient exception), ``("retry", seconds)`` (a
    ``Retry-After``), ``"permanent"``.
    """

    faults: deque[Any] = field(default_factory=deque)
    attempts: list[tuple[float, int]] = field(default_factory=list)
    delivered: list[OutboxItem] = field(default_factory=list)

    async def deliver(self, item: OutboxItem, context: DeliveryContext) -> dict[str, Any] | None:
        self.attempts.append((time.monotonic(), item.id))
        if self.faults:
            fault = self.faults.popleft()
            if fault == "error":
                raise ConnectionError("destination unreachable")
            if fault == "permanent":
                raise PermanentFailure("channel_not_found")
            if isinstance(fault, tuple) and fault[0] == "retry":
                raise RetryLater("rate limited", retry_after=fault[1])
        self.delivered.append(item)
        return {"n": len(self.delivered)}
