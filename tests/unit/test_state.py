"""State: migrations, runs, locks."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from state.db import SCHEMA_VERSION, SchemaTooNew, connect, migrate, schema_version
from state.store import LockHeld, RunConflict, Store


def test_migrations_from_an_empty_file(tmp_path: Path) -> None:
    conn = connect(tmp_path / "a.db")
    assert schema_version(conn) == 0
    assert migrate(conn) == list(range(1, SCHEMA_VERSION + 1))
    assert schema_version(conn) == SCHEMA_VERSION
    assert migrate(conn) == []  # idempotent
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migration_from_the_previous_version_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    conn = connect(path)
    migrate(conn, target=SCHEMA_VERSION - 1)
    conn.execute(
        "INSERT INTO outbox (destination, op, payload, next_attempt_at, created_at)"
        " VALUES ('shell', 'post', '{\"text\": \"hi\"}', 0, 0)"
    )
    conn.execute(
        "INSERT INTO runs (id, kind, network, args, state, owner, created_at, updated_at)"
        " VALUES ('r1', 'deploy', 'alpha', '{}', 'running', 'alice', 0, 0)"
    )
    conn.close()
    store = Store.open(path)
    try:
        (item,) = store.outbox_heads()
        assert item.payload == {"text": "hi"} and item.message_key is None
        run = store.get_run("r1")
        assert run is not None and run.state == "running" and run.reply_to == {}
    finally:
        store.close()


def test_a_database_from_a_newer_bot_is_refused(tmp_path: Path) -> None:
    conn = connect(tmp_path / "c.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew):
        migrate(conn)


def test_a_failed_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    conn = connect(tmp_path / "d.db")
    migrate(conn, target=1)
    conn.execute("CREATE TABLE messages (x)")  # makes version 2's CREATE TABLE fail
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn)
    assert schema_version(conn) == 1
    columns = {r[1] for r in conn.execute("PRAGMA table_info(outbox)")}
    assert "message_key" not in columns


def test_concurrent_lock_attempts_exactly_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "locks.db"
    Store.open(path).close()
    barrier = threading.Barrier(8)
    winners: list[str] = []
    losers: list[str] = []

    def attempt(i: int) -> None:
        store = Store.open(path)
        try:
            barrier.wait()
            store.lock("alpha", holder=f"user{i}", reason="freeze")
            winners.append(f"user{i}")
        except LockHeld as exc:
            losers.append(exc.lock.holder)
        finally:
            store.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    assert len(losers) == 7 and set(losers) == set(winners)


def test_one_exclusive_run_per_network(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "runs.db")
    try:
        first = store.create_run(kind="deploy", network="alpha", args={}, owner="a", exclusive=True)
        with pytest.raises(RunConflict) as caught:
            store.create_run(kind="rollback", network="alpha", args={}, owner="b", exclusive=True)
        assert caught.value.run.id == first.id
        store.create_run(kind="deploy", network="beta", args={}, owner="b", exclusive=True)
        store.create_run(kind="sanity", network="alpha", args={}, owner="b")
        store.update_run(first.id, state="succeeded")
        finished = store.get_run(first.id)
        assert finished is not None and finished.is_final and finished.finished_at is not None
        store.create_run(kind="rollback", network="alpha", args={}, owner="b", exclusive=True)
        assert [r.kind for r in store.unfinished_runs()] == ["deploy", "sanity", "rollback"]
    finally:
        store.close()


def test_a_message_whose_post_died_is_not_alive(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.db")
    try:
        key = store.new_message("slack:C1")
        item = store.enqueue("slack:C1", "post", {"text": "info"}, message_key=key)
        assert item is not None and store.message_alive(key)  # waiting to be posted
        store.mark_dead(item, error="not_in_channel")
        assert not store.message_alive(key)  # editing it can never work: post afresh
        other = store.new_message("slack:C1")
        store.set_message_ref(other, {"channel": "C1", "ts": "1.0"})
        assert store.message_alive(other)
    finally:
        store.close()


def test_seen_requests_are_remembered_for_the_window_and_across_reopening(
    tmp_path: Path,
) -> None:
    now = [1000.0]
    store = Store.open(tmp_path / "bot.db", lambda: now[0])
    assert store.seen.first_time("slack-command", "T1", 900)
    assert not store.seen.first_time("slack-command", "T1", 900)
    assert store.seen.first_time("other-source", "T1", 900)  # sources are separate
    store.close()
    reopened = Store.open(tmp_path / "bot.db", lambda: now[0])
    now[0] += 899
    assert not reopened.seen.first_time("slack-command", "T1", 900)  # a restart forgets nothing
    now[0] += 2
    assert reopened.seen.first_time("slack-command", "T1", 900)  # the window has passed
    assert reopened.seen.count("slack-command") == 1
