"""The outbox: exactly-once-on-success delivery, backoff, Retry-After, dead items."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import OutboxConfig
from bot.metrics import Metrics
from bot.outbox import DeliveryContext, Outbox, RateLimit, RetryLater, Route
from bot.tasks import TaskSupervisor
from state.records import OutboxItem, Priority
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
    assert texts[0] == ("post", "progress 0")  # the edit waited for its message
    assert sorted(texts[1:]) == [("post", "done"), ("update", "progress 5")]
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


# ---------------------------------------------------------------- priorities and lanes


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_outbox(store: Store, supervisor: TaskSupervisor, clock: Clock | None = None) -> Outbox:
    return Outbox(
        store,
        OutboxConfig(max_attempts=20, base_backoff=0.01, max_backoff=0.05),
        Metrics(),
        supervisor,
        clock=clock or time.time,
        rng=random.Random(1),
    )


async def test_urgent_items_go_first_in_a_lane_but_never_before_their_own_message(
    outbox: Outbox,
) -> None:
    dest = RecordingDestination()
    store = outbox.store
    key = store.new_message("test:a")
    store.enqueue("test:a", "post", {"text": "progress"}, message_key=key)
    store.enqueue("test:a", "post", {"text": "detail", "thread_key": key})
    store.enqueue("test:a", "update", {"text": "progress 2"}, message_key=key)
    store.enqueue("test:a", "post", {"text": "reply"})
    store.enqueue("test:a", "post", {"text": "prompt"}, priority=Priority.URGENT)
    # An urgent thread reply or edit is clamped: it cannot overtake its message.
    store.enqueue("test:a", "post", {"text": "urgent detail", "thread_key": key}, priority=0)
    outbox.add_route("test", Route(dest))
    assert await outbox.wait_delivered(timeout=5)
    texts = [i.payload["text"] for i in dest.delivered]
    posts = [t for t in texts if t != "progress 2"]
    assert posts == ["prompt", "progress", "detail", "reply", "urgent detail"]
    assert texts.index("progress 2") > texts.index("progress")  # an edit after its post


async def test_a_failing_lane_backs_off_alone(outbox: Outbox) -> None:
    class FailsForLaneA(RecordingDestination):
        async def deliver(self, item: OutboxItem, context: DeliveryContext) -> Any:
            if item.lane == "test:x#a":
                self.attempts.append((time.monotonic(), item.id))
                raise RetryLater("broken", retry_after=60)
            return await super().deliver(item, context)

    dest = FailsForLaneA()
    outbox.add_route("test", Route(dest))
    outbox.enqueue("test:x", "op", {"text": "a1"}, lane="test:x#a")
    outbox.enqueue("test:x", "op", {"text": "a2"}, lane="test:x#a")
    for n in range(3):
        outbox.enqueue("test:x", "op", {"text": f"b{n}"}, lane="test:x#b")
    await wait_until(lambda: len(dest.delivered) == 3, timeout=5, what="lane b")
    assert [i.payload["text"] for i in dest.delivered] == ["b0", "b1", "b2"]
    assert len(dest.attempts) == 4  # a1 tried once, then waits; a2 waits behind it


async def test_an_uncertain_attempt_flags_the_item_until_it_is_delivered(
    outbox: Outbox,
) -> None:
    dest = RecordingDestination()
    seen: list[bool] = []

    class Watching(RecordingDestination):
        async def deliver(self, item: OutboxItem, context: DeliveryContext) -> Any:
            seen.append(item.maybe_sent)
            if len(seen) in (1, 3):
                raise RetryLater("429", retry_after=0.01, maybe_sent=False)  # surely did not
            if len(seen) == 2:
                raise TimeoutError("no answer")  # may have landed
            return await dest.deliver(item, context)

    outbox.add_route("test", Route(Watching()))
    outbox.enqueue("test:a", "post", {"text": "x"})
    assert await outbox.wait_delivered(timeout=5)
    # A refusal keeps a clean item clean; once uncertain, it stays flagged (a later
    # refusal says nothing about whether the uncertain attempt landed).
    assert seen == [False, False, True, True]


async def test_pacing_and_pauses_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    store = Store.open(tmp_path / "p.db", clock)
    supervisor = TaskSupervisor()

    def route(dest: RecordingDestination, *, durable: bool) -> Route:
        return Route(
            dest, limits=[RateLimit(2, 60.0)], per_destination=False, durable_pacing=durable
        )

    first = make_outbox(store, supervisor, clock)
    sent = RecordingDestination()
    first.add_route("gh", route(sent, durable=True))
    first.start()
    for n in range(2):
        first.enqueue("gh:r", "comment", {"text": str(n)})
    assert await first.wait_delivered(timeout=5)
    await first.stop()

    clock.now += 10  # a restart ten seconds later
    second = make_outbox(store, supervisor, clock)
    after = RecordingDestination()
    second.add_route("gh", route(after, durable=True))
    second.start()
    second.enqueue("gh:r", "comment", {"text": "third"})
    assert not await second.wait_delivered(timeout=0.3)  # the window still holds two sends
    assert after.delivered == []
    clock.now += 51
    second.wake()
    assert await second.wait_delivered(timeout=5)
    assert [i.payload["text"] for i in after.delivered] == ["third"]

    # A rate limit pauses the whole route, and the pause outlives the process too.
    after.faults.append(("retry", 30.0))
    clock.now += 3600
    second.enqueue("gh:r", "comment", {"text": "limited"})
    await wait_until(lambda: len(after.attempts) == 2, timeout=5, what="the limited attempt")
    await second.stop()
    third = make_outbox(store, supervisor, clock)
    last = RecordingDestination()
    third.add_route("gh", route(last, durable=True))
    third.start()
    assert not await third.wait_delivered(timeout=0.3)
    clock.now += 31
    third.wake()
    assert await third.wait_delivered(timeout=5)
    assert [i.payload["text"] for i in last.delivered] == ["limited"]
    await third.stop()

    # Without durable pacing a restart forgets: the bad case the flag exists for.
    fresh = make_outbox(store, supervisor, clock)
    forgetful = RecordingDestination()
    fresh.add_route("gh", route(forgetful, durable=False))
    fresh.start()
    for n in range(3):
        fresh.enqueue("gh:r", "comment", {"text": f"f{n}"})
    await wait_until(lambda: len(forgetful.delivered) == 2, timeout=5, what="two sends")
    await fresh.stop()
    await supervisor.close()
    store.close()
