"""The outbox: exactly-once-on-success delivery, backoff, Retry-After, dead items."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import OutboxConfig
from bot.metrics import Metrics
from bot.outbox import Outbox, RateLimit, Route
from bot.tasks import TaskSupervisor
from state.store import Store
from tests.fakes.destinations import RecordingDestination
from tests.harness import wait_until


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    store = Store.open(tmp_path / "o.db")
    supervisor = TaskSupervisor()
    box = Outbox(
        store,
        OutboxConfig(max_attempts=4, base_backoff=0.01, max_backoff=0.05),
        Metrics(),
        supervisor,
        rng=random.Random(1),
    )
    box.start()
    try:
        yield box
    finally:
        await box.stop()
        await supervisor.close()
        store.close()


async def test_a_destination_failing_twice_then_accepting_gets_it_once(outbox: Outbox) -> None:
    dest = RecordingDestination()
    dest.faults.extend(["error", "error"])
    outbox.add_route("test", Route(dest))
    outbox.enqueue("test:a", "post", {"text": "hello"})
    assert await outbox.wait_delivered(timeout=5)
    assert len(dest.attempts) == 3
    assert [i.payload["text"] for i in dest.delivered] == ["hello"]
    assert outbox.store.outbox_counts() == {("test:a", "delivered"): 1}


async def test_retry_after_is_honoured(outbox: Outbox) -> None:
    dest = RecordingDestination()
    dest.faults.append(("retry", 2.0))
    outbox.add_route("test", Route(dest))
    outbox.enqueue("test:a", "post", {"text": "hello"})
    assert await outbox.wait_delivered(timeout=10)
    (first, _), (second, _) = dest.attempts
    assert second - first >= 2.0
    assert len(dest.delivered) == 1


async def test_an_item_that_keeps_failing_is_parked_dead(outbox: Outbox) -> None:
    dest = RecordingDestination()
    dest.faults.extend(["error"] * 10)
    outbox.add_route("test", Route(dest))
    item_id = outbox.enqueue("test:a", "post", {"text": "x"})
    assert await outbox.wait_delivered(timeout=5)
    assert item_id is not None
    item = outbox.store.get_outbox_item(item_id)
    assert item is not None and item.state == "dead" and item.attempts == 4
    assert "gave up after 4 attempts" in item.last_error
    assert dest.delivered == []


async def test_a_permanent_failure_is_dead_at_once_and_the_queue_moves_on(outbox: Outbox) -> None:
    dest = RecordingDestination()
    dest.faults.append("permanent")
    outbox.add_route("test", Route(dest))
    outbox.enqueue("test:a", "post", {"text": "lost"})
    outbox.enqueue("test:a", "post", {"text": "next"})
    assert await outbox.wait_delivered(timeout=5)
    assert [i.payload["text"] for i in dest.delivered] == ["next"]
    assert outbox.store.dead_items()[0].last_error == "channel_not_found"


async def test_edits_collapse_and_wait_behind_posts_but_never_before_their_own(
    outbox: Outbox,
) -> None:
    dest = RecordingDestination()
    outbox.add_route("test", Route(dest))
    store = outbox.store
    # Nothing can be delivered until the route exists, so queue everything first.
    key = store.new_message("test:a")
    store.enqueue("test:a", "post", {"text": "progress 0"}, message_key=key)
    for n in range(1, 6):
        store.enqueue("test:a", "update", {"text": f"progress {n}"}, message_key=key)
    store.enqueue("test:a", "post", {"text": "done"})
    outbox.wake()
    assert await outbox.wait_delivered(timeout=5)
    texts = [(i.op, i.payload["text"]) for i in dest.delivered]
    assert texts == [("post", "progress 0"), ("post", "done"), ("update", "progress 5")]
    assert store.message_ref(key) == {"n": 1}
    assert store.outbox_counts() == {("test:a", "delivered"): 7}


async def test_dedupe_keys_make_producers_idempotent(outbox: Outbox) -> None:
    dest = RecordingDestination()
    outbox.add_route("test", Route(dest))
    assert outbox.enqueue("test:a", "post", {"text": "x"}, dedupe_key="incident-1-open") is not None
    assert outbox.enqueue("test:a", "post", {"text": "x"}, dedupe_key="incident-1-open") is None
    assert await outbox.wait_delivered(timeout=5)
    assert len(dest.delivered) == 1


async def test_rate_limits_space_deliveries_per_destination(outbox: Outbox) -> None:
    dest = RecordingDestination()
    outbox.add_route("test", Route(dest, limits=[RateLimit(count=2, per=0.5)]))
    for n in range(4):
        outbox.enqueue("test:a", "post", {"text": str(n)})
    outbox.enqueue("test:b", "post", {"text": "other channel"})
    assert await outbox.wait_delivered(timeout=5)
    times_a = [
        t for t, i in dest.attempts if outbox.store.get_outbox_item(i).destination == "test:a"
    ]  # type: ignore[union-attr]
    assert len(times_a) == 4
    assert times_a[2] - times_a[0] >= 0.5
    assert times_a[3] - times_a[1] >= 0.5


async def test_items_without_a_route_wait_and_status_sees_them(outbox: Outbox) -> None:
    outbox.enqueue("nowhere:x", "post", {"text": "waiting"})
    assert not await outbox.wait_delivered(timeout=0.2)
    dest = RecordingDestination()
    outbox.add_route("nowhere", Route(dest))
    await wait_until(lambda: len(dest.delivered) == 1, timeout=5, what="late route delivery")


async def test_the_worker_survives_a_scan_that_fails(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    failures = iter([RuntimeError("database is locked")])

    def flaky(item: object) -> bool:
        for exc in failures:
            raise exc
        return True

    dest = RecordingDestination()
    outbox.add_route("test", Route(dest, limits=[RateLimit(10, 1.0, applies_to=flaky)]))
    outbox.enqueue("test:a", "post", {"text": "after the failure"})
    await wait_until(lambda: len(dest.delivered) == 1, timeout=10, what="delivery after it")
    assert "outbox scan failed" in caplog.text
