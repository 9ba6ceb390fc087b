"""Background tasks that are named, owned and never fire-and-forget.

A :class:`TaskSupervisor` starts each task with a name, logs its failure, and on
close cancels what is still running and waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("testnet_bot.tasks")


class TaskSupervisor:
    """Owns a set of named tasks."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, name: str, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Start ``coro`` as a task called ``name``; its failure is logged, not lost."""
        if self._closed:
            coro.close()
            raise RuntimeError(f"cannot start {name}: shutting down")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "background task failed",
                exc_info=exc,
                extra={"event": "task_failed", "task": task.get_name()},
            )

    @property
    def running(self) -> list[str]:
        """Names of the tasks still running."""
        return sorted(t.get_name() for t in self._tasks if not t.done())

    async def close(self, timeout: float = 5.0) -> None:
        """Cancel every task still running and wait (up to ``timeout``) for them."""
        self._closed = True
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
