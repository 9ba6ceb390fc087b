"""``testnet-bot run`` as a child process: start it, find its URL, stop or kill it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = [sys.executable, "-m", "bot.cli"]


@dataclass
class BotProcess:
    """A running bot: its process, base URL and everything it logged so far."""

    proc: asyncio.subprocess.Process
    url: str
    log: list[str] = field(default_factory=list)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        self.proc.send_signal(signal.SIGKILL)
        await self._reap()

    async def stop(self) -> int:
        """SIGTERM and wait; return the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        await self._reap()
        return self.proc.returncode or 0

    async def _reap(self) -> None:
        _, stderr = await asyncio.wait_for(self.proc.communicate(), 15)
        self.log.append(stderr.decode(errors="replace"))


async def start_bot(cwd: Path, config: Path, env: dict[str, str] | None = None) -> BotProcess:
    """Start ``testnet-bot run --config config --port 0`` and wait until it listens."""
    proc = await asyncio.create_subprocess_exec(
        *BIN,
        "run",
        "--config",
        str(config),
        "--port",
        "0",
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    log: list[str] = []
    deadline = time.monotonic() + 30
    while True:
        line = await asyncio.wait_for(proc.stderr.readline(), max(0.1, deadline - time.monotonic()))
        if not line:
            await proc.wait()
            raise AssertionError("the bot exited before listening:\n" + "".join(log))
        log.append(line.decode(errors="replace"))
        if '"http_listening"' in log[-1]:
            url = json.loads(log[-1])["message"].rsplit(" ", 1)[-1]
            return BotProcess(proc, url, log)


@dataclass
class Result:
    """How a finished ``testnet-bot`` run ended."""

    code: int
    stdout: str
    stderr: str


async def cli(cwd: Path, *args: str, stdin: str | None = None, timeout: float = 60) -> Result:
    """Run ``testnet-bot args`` (typing ``stdin``, if given) without blocking the event
    loop the fakes serve on."""
    proc = await asyncio.create_subprocess_exec(
        *BIN,
        *args,
        cwd=cwd,
        env=dict(os.environ),
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    typed = None if stdin is None else stdin.encode()
    out, err = await asyncio.wait_for(proc.communicate(typed), timeout)
    return Result(proc.returncode or 0, out.decode(), err.decode())


def write_config(tmp_path: Path, **sections: Any) -> Path:
    """A config with the database in ``tmp_path``, one network and JSON logs."""
    data: dict[str, Any] = {
        "state": {"path": str(tmp_path / "bot.db")},
        "networks": {"alpha": {"namespace": "alpha", "image": "x"}},
        "logging": {"format": "json"},
        **sections,
    }
    path = tmp_path / "bot.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


def commands_run(bot: BotProcess) -> list[str]:
    """The commands the bot process itself ran, from its log (after it stopped)."""
    done = []
    for line in "".join(bot.log).splitlines():
        if '"command_done"' in line:
            done.append(json.loads(line)["message"])
    return done


def db_rows(path: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of a read-only query on the bot's database (as a second process sees it)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
