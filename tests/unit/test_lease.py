"""The database lease (an OS file lock) and where the control socket lives."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.control import UNIX_PATH_MAX, control_path
from bot.lease import (
    DatabaseBusy,
    acquire_exclusive,
    acquire_shared,
    bot_running,
    lease_path,
    read_holder,
)


async def test_a_bot_waits_for_local_sessions_then_refuses_and_starts_once_they_leave(
    tmp_path: Path,
) -> None:
    db = tmp_path / "bot.db"
    first, second = acquire_shared(db), acquire_shared(db)
    assert first is not None and second is not None, "local sessions share the database"
    assert not bot_running(db)
    with pytest.raises(DatabaseBusy, match="`testnet-bot exec` or `shell` session"):
        await acquire_exclusive(db, wait_for_sessions=0.2, poll=0.05)
    first.release()
    second.release()
    with await acquire_exclusive(db, wait_for_sessions=0.2) as lease:
        assert lease.held and bot_running(db)
        assert acquire_shared(db) is None, "no local session beside a bot"
        holder = read_holder(db)
        assert holder is not None and holder.pid == os.getpid()
        with pytest.raises(DatabaseBusy, match=f"pid {os.getpid()}") as refused:
            await acquire_exclusive(db, wait_for_sessions=5)
        assert refused.value.holder == holder
    assert not bot_running(db) and read_holder(db) is None


async def test_details_left_by_a_killed_bot_block_nothing(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    lease_path(db).write_text(json.dumps({"pid": 1, "host": "gone", "since": 0.0}))
    assert not bot_running(db), "details alone are not a lock"
    with await acquire_exclusive(db, wait_for_sessions=0) as lease:
        holder = read_holder(db)
        assert holder is not None and holder.pid == os.getpid() and lease.held


def test_the_control_socket_sits_beside_the_database_unless_the_path_is_too_long(
    tmp_path: Path,
) -> None:
    assert control_path(tmp_path / "bot.db") == tmp_path / "bot.db.sock"
    deep = tmp_path / ("d" * 120) / "bot.db"
    path = control_path(deep)
    assert len(os.fsencode(path)) < UNIX_PATH_MAX
    assert path == control_path(deep), "both ends find the same socket"
    assert path != control_path(tmp_path / ("e" * 120) / "bot.db")
