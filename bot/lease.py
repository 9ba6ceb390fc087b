"""One bot per database: an OS file lock beside the SQLite file.

``testnet-bot run`` holds an exclusive ``flock`` on ``<database>.lock`` for as long
as it runs and writes who it is into that file (pid, host, start time). A terminal
session (``exec``/``shell``) that finds no bot takes the same lock shared, so a bot
cannot start under it and resume a run the session is still driving, while several
sessions may work side by side.

Why a file lock and not a row with an expiry: the kernel drops a ``flock`` the
moment its holder dies, SIGKILL included, so a crashed bot never blocks the next
start and there is no expiry to tune, no renewal task that could stall, and no
clock to trust. A row lease would need all three. The holder's details in the file
are only informative: they are read only while the lock is actually held.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

log = logging.getLogger("testnet_bot.lease")


def lease_path(database: Path) -> Path:
    """The lock file of ``database``: ``<database>.lock`` beside it."""
    return database.with_name(database.name + ".lock")


@dataclass(frozen=True)
class Holder:
    """Who holds a database: what the bot wrote into the lock file when it started."""

    pid: int
    host: str
    since: float
    role: str = "run"

    def describe(self) -> str:
        """``pid 4242 on host-a since 2026-12-02 01:08:45 UTC`` for messages."""
        stamp = datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"pid {self.pid} on {self.host} since {stamp}"


class DatabaseBusy(Exception):
    """The database is held by someone else; the message says by whom."""

    def __init__(self, message: str, holder: Holder | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class Lease:
    """A held lock on one database's lock file; released by :meth:`release` (or by
    the kernel when the process dies)."""

    def __init__(self, path: Path, fd: int, *, exclusive: bool) -> None:
        self.path = path
        self.exclusive = exclusive
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        """True until released."""
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up (an exclusive holder first clears its details)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self.exclusive:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _try_lock(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def read_holder(database: Path) -> Holder | None:
    """The details a running bot wrote into the lock file (None if unreadable)."""
    try:
        data = json.loads(lease_path(database).read_text() or "null")
        return Holder(
            pid=int(data["pid"]),
            host=str(data["host"]),
            since=float(data["since"]),
            role=str(data.get("role", "run")),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None


def bot_running(database: Path) -> bool:
    """True while a bot holds ``database`` exclusively (checked by trying, and at
    once giving up, a shared lock)."""
    fd = _open(lease_path(database))
    try:
        if _try_lock(fd, fcntl.LOCK_SH):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)


async def acquire_exclusive(
    database: Path, *, wait_for_sessions: float = 30.0, poll: float = 0.1
) -> Lease:
    """Take ``database`` for a bot and record who holds it.

    Another bot holding it is refused at once with :class:`DatabaseBusy` naming it.
    Terminal sessions working without a bot (shared holders) are waited for up to
    ``wait_for_sessions`` seconds, then refused as well.
    """
    path = lease_path(database)
    fd = _open(path)
    deadline = time.monotonic() + wait_for_sessions
    waiting = False
    try:
        while not _try_lock(fd, fcntl.LOCK_EX):
            if not _try_lock(fd, fcntl.LOCK_SH):
                holder = read_holder(database)
                who = holder.describe() if holder else "another process"
                raise DatabaseBusy(
                    f"another testnet-bot is already running on {database} ({who}); "
                    "stop it first, or talk to it with `testnet-bot exec` / `shell`",
                    holder,
                )
            fcntl.flock(fd, fcntl.LOCK_UN)
            if time.monotonic() >= deadline:
                raise DatabaseBusy(
                    f"a `testnet-bot exec` or `shell` session is using {database} without a "
                    "bot; let it finish (or exit it) and start the bot again"
                )
            if not waiting:
                waiting = True
                log.info(
                    "waiting for exec/shell sessions on %s to finish",
                    database,
                    extra={"event": "lease_waiting"},
                )
            await asyncio.sleep(poll)
        holder = Holder(pid=os.getpid(), host=socket.gethostname(), since=time.time())
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(holder)).encode(), 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    return Lease(path, fd, exclusive=True)


def acquire_shared(database: Path) -> Lease | None:
    """Take ``database`` for a terminal session without a bot; None if a bot holds it
    (then hand the session to that bot instead)."""
    path = lease_path(database)
    fd = _open(path)
    if _try_lock(fd, fcntl.LOCK_SH):
        return Lease(path, fd, exclusive=False)
    os.close(fd)
    return None
