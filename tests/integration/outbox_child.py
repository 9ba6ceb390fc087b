"""Child process for the crash test: queue a message, start delivering it, hang.

Usage: python -m tests.integration.outbox_child DB_PATH
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from bot.config import OutboxConfig
from bot.metrics import Metrics
from bot.outbox import DeliveryContext, Outbox, Route
from bot.tasks import TaskSupervisor
from state.records import OutboxItem
from state.store import Store


class Hanging:
    """A destination that accepts the connection and never answers."""

    async def deliver(self, item: OutboxItem, context: DeliveryContext) -> dict[str, Any] | None:
        print(f"delivering {item.id}", flush=True)
        await asyncio.Event().wait()
        return None


async def main(path: str) -> None:
    store = Store.open(path)
    supervisor = TaskSupervisor()
    outbox = Outbox(store, OutboxConfig(), Metrics(), supervisor)
    outbox.add_route("test", Route(Hanging()))
    outbox.enqueue("test:a", "post", {"text": "must survive"})
    outbox.enqueue("test:a", "post", {"text": "and this"})
    outbox.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
