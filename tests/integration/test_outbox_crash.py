"""A process killed between enqueue and delivery loses nothing."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

from bot.config import OutboxConfig
from bot.metrics import Metrics
from bot.outbox import Outbox, Route
from bot.tasks import TaskSupervisor
from state.store import Store
from tests.fakes.destinations import RecordingDestination

ROOT = Path(__file__).resolve().parents[2]


async def test_killed_mid_delivery_the_messages_are_delivered_after_restart(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.outbox_child", str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # blocks until the child is mid-delivery
        assert line.startswith("delivering"), line
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    store = Store.open(db)
    supervisor = TaskSupervisor()
    outbox = Outbox(store, OutboxConfig(), Metrics(), supervisor, rng=random.Random(0))
    dest = RecordingDestination()
    outbox.add_route("test", Route(dest))
    outbox.start()
    try:
        assert await outbox.wait_delivered(timeout=10)
    finally:
        await outbox.stop()
        await supervisor.close()
    assert [i.payload["text"] for i in dest.delivered] == ["must survive", "and this"]
    assert store.outbox_counts() == {("test:a", "delivered"): 2}
    store.close()
