"""The validator records: ready once, reserved within the cap and the 24-hour quota
all or nothing, and when the quota's next slot opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from state.store import Store
from state.validators import DAY, AlreadyRecorded, NotReservable


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _store(tmp_path: Path) -> tuple[Store, Clock]:
    clock = Clock()
    return Store.open(tmp_path / "bot.db", clock), clock


def test_an_address_is_ready_once_until_removed(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    repo = store.validators
    repo.mark_ready("alpha", "0xaa", by="devrel", source="manual")
    with pytest.raises(AlreadyRecorded) as raised:
        repo.mark_ready("alpha", "0xaa", by="other", source="manual")
    assert raised.value.record.state == "ready" and raised.value.record.ready_by == "devrel"
    repo.mark_ready("beta", "0xaa", by="devrel", source="manual")  # another network's set
    repo.remove("alpha", "0xaa")
    assert repo.mark_ready("alpha", "0xaa", by="other", source="manual").ready_by == "other"


def test_reserve_is_all_or_nothing_within_the_cap(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    repo = store.validators
    for a in ("0x1", "0x2", "0x3"):
        repo.mark_ready("alpha", a, by="d", source="manual")
    with pytest.raises(NotReservable) as raised:
        repo.reserve("alpha", ["0x1", "0x2", "0x3"], by="e", cap=2, per_day=None)
    assert raised.value.reason == "cap" and raised.value.room == 2
    assert [r.state for r in repo.records("alpha")] == ["ready"] * 3
    repo.reserve("alpha", ["0x1", "0x2"], by="e", cap=2, per_day=None)
    with pytest.raises(NotReservable) as raised:
        repo.reserve("alpha", ["0x1"], by="e", cap=5, per_day=None)
    assert raised.value.reason == "state" and raised.value.records[0].state == "adding"
    with pytest.raises(NotReservable) as raised:
        repo.reserve("alpha", ["0x9"], by="e", cap=5, per_day=None)
    assert raised.value.missing == ("0x9",)


def test_the_quota_counts_the_last_24_hours_and_names_the_next_slot(tmp_path: Path) -> None:
    store, clock = _store(tmp_path)
    repo = store.validators
    for a in ("0x1", "0x2", "0x3"):
        repo.mark_ready("alpha", a, by="d", source="manual")
    repo.reserve("alpha", ["0x1"], by="e", cap=48, per_day=2)
    repo.finish("alpha", "0x1")
    first = clock.now
    clock.now += 3600
    repo.reserve("alpha", ["0x2"], by="e", cap=48, per_day=2)
    repo.finish("alpha", "0x2")
    with pytest.raises(NotReservable) as raised:
        repo.reserve("alpha", ["0x3"], by="e", cap=48, per_day=2)
    assert raised.value.reason == "quota" and raised.value.room == 0
    assert raised.value.next_slot == first + DAY
    clock.now = first + DAY + 1
    repo.reserve("alpha", ["0x3"], by="e", cap=48, per_day=2)
    assert repo.get("alpha", "0x3").state == "adding"  # type: ignore[union-attr]


def test_a_failed_addition_may_be_reserved_again(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    repo = store.validators
    repo.mark_ready("alpha", "0x1", by="d", source="manual")
    repo.reserve("alpha", ["0x1"], by="e", cap=48, per_day=None)
    repo.finish("alpha", "0x1", error="Job failed")
    record = repo.get("alpha", "0x1")
    assert record is not None and (record.state, record.error) == ("failed", "Job failed")
    assert repo.counts("alpha")["failed"] == 1
    repo.reserve("alpha", ["0x1"], by="e", cap=48, per_day=None)
    assert repo.get("alpha", "0x1").state == "adding"  # type: ignore[union-attr]
