"""``testnet-bot run`` as a child process: start it, find its URL, stop or kill it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

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
