"""The local control channel: ``exec`` and ``shell`` hand their commands to the bot
that runs on the same database instead of becoming a second bot.

The bot listens on a Unix socket beside its database (``<database>.sock``, mode
0600, and every peer's uid is checked against the bot's own), so only the account
that runs the bot can talk to it. Each connection is one terminal session in the
bot: its commands go through the bot's dispatcher, its replies through the bot's
outbox to that connection, and a confirmation is asked back over the connection.

The protocol is one JSON object per line. The client opens with
``{"op": "open", "user": ..., "yes": true|false|null}``, then sends
``{"op": "say", "text": ...}`` for each command and ``{"op": "answer", "text": ...}``
when asked. The bot sends ``output`` (text to print), ``ask`` (a prompt to answer),
``done`` (the command's outcome) and ``error`` (a refused request; the bot then
closes the connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.core import Outcome
from bot.dispatcher import Dispatcher
from bot.outbox import Outbox
from integrations.chat.shell import Console, ShellSession

log = logging.getLogger("testnet_bot.control")

MAX_LINE = 1 << 16
"""Longest request line the bot reads; a longer one is refused."""
MAX_TEXT = 4000
"""Longest command text accepted (Slack's own limit for a slash command's text)."""
UNIX_PATH_MAX = 104
"""Socket paths must fit ``sun_path`` (108 bytes on Linux, 104 on macOS)."""
FALLBACK_DIR = "testnet-bot-{uid}"
"""The per-user directory in the temp dir for sockets whose path beside the
database would be too long."""


def control_path(database: Path) -> Path:
    """Where the bot on ``database`` listens: ``<database>.sock`` beside it, or, when
    that path is too long for a socket, a per-user directory in the temp dir named by
    a hash of the database's absolute path (both ends compute the same path)."""
    beside = database.with_name(database.name + ".sock")
    if len(os.fsencode(beside.absolute())) < UNIX_PATH_MAX:
        return beside
    digest = hashlib.sha256(os.fsencode(database.absolute())).hexdigest()[:20]
    private = FALLBACK_DIR.format(uid=os.getuid())
    return Path(tempfile.gettempdir()) / private / f"{digest}.sock"


class ProtocolError(Exception):
    """A request the control channel refuses; the message says why."""


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


def _decode(line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ProtocolError('every line must be a JSON object with an "op"')
    return message


def _text(message: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = message.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f'"{key}" must be a string')
    if len(value) > MAX_TEXT:
        raise ProtocolError(f'"{key}" is longer than {MAX_TEXT} characters')
    return value


class ConnectionConsole:
    """A :class:`Console` at the other end of one control connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self.answers: asyncio.Queue[str | None] = asyncio.Queue()
        self.gone = False

    def send(self, message: dict[str, Any]) -> None:
        """Queue one message to the client (dropped once it has disconnected)."""
        if self.gone or self._writer.is_closing():
            self.gone = True
            return
        self._writer.write(_encode(message))

    def write(self, text: str) -> None:
        """Print ``text`` in the client's terminal."""
        self.send({"op": "output", "text": text})

    async def ask(self, prompt: str) -> str | None:
        """Ask the client; None if it disconnects first."""
        if self.gone:
            return None
        self.send({"op": "ask", "prompt": prompt})
        return await self.answers.get()


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


class ControlServer:
    """The bot's end of the control channel: one terminal session per connection."""

    def __init__(
        self, path: Path, dispatcher: Dispatcher, outbox: Outbox, *, default_user: str
    ) -> None:
        self.path = path
        self.dispatcher = dispatcher
        self.outbox = outbox
        self.default_user = default_user
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Listen on :attr:`path`, readable and writable by the bot's user only.

        Only the lease holder calls this, so a socket file left by a killed bot is
        removed first."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.path.parent.name == FALLBACK_DIR.format(uid=os.getuid()):
            info = self.path.parent.stat()
            if info.st_uid != os.getuid() or info.st_mode & 0o077:
                raise PermissionError(
                    f"{self.path.parent} must belong to this user alone (mode 0700)"
                )
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._connection, path=str(self.path), limit=MAX_LINE
            )
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        log.info("control: listening on %s", self.path, extra={"event": "control_listening"})

    async def stop(self) -> None:
        """Stop listening, end open sessions and remove the socket file."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        console = ConnectionConsole(writer)
        try:
            uid = _peer_uid(writer)
            if uid is not None and uid not in (os.getuid(), 0):
                raise ProtocolError("only the bot's own user may use its control channel")
            await self._serve(reader, console)
        except ProtocolError as exc:
            log.warning("control: refused a request: %s", exc, extra={"event": "control_refused"})
            console.send({"op": "error", "message": str(exc)})
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("control: session failed", extra={"event": "control_error"})
            console.send({"op": "error", "message": "the bot failed; see its log"})
        finally:
            self._connections.discard(task)
            console.gone = True
            with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
                if not writer.is_closing():  # a client that stopped reading gets 1 s
                    await asyncio.wait_for(writer.drain(), 1.0)
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> dict[str, Any] | None:
        try:
            line = await reader.readline()
        except (ValueError, asyncio.LimitOverrunError):
            raise ProtocolError(f"a request line is longer than {MAX_LINE} bytes") from None
        return _decode(line) if line else None

    async def _serve(self, reader: asyncio.StreamReader, console: ConnectionConsole) -> None:
        hello = await self._read(reader)
        if hello is None:
            return
        if hello["op"] != "open":
            raise ProtocolError('the first request must be "open"')
        user = _text(hello, "user", optional=True) or self.default_user
        yes = hello.get("yes")
        if yes is not None and not isinstance(yes, bool):
            raise ProtocolError('"yes" must be true, false or null')
        session = ShellSession(self.dispatcher, self.outbox, console, user=user, assume_yes=yes)
        console.send({"op": "ready", "pid": os.getpid()})
        commands: asyncio.Queue[str | None] = asyncio.Queue()
        runner = asyncio.create_task(
            self._run_commands(session, console, commands), name=f"control:{session.destination}"
        )
        try:
            while True:
                message = await self._read(reader)
                if message is None:
                    break
                if message["op"] == "say":
                    commands.put_nowait(_text(message, "text"))
                elif message["op"] == "answer":
                    console.answers.put_nowait(_text(message, "text", optional=True))
                else:
                    raise ProtocolError(f"unknown op {message['op']!r}")
        except asyncio.CancelledError:  # the bot is stopping: so is the command
            runner.cancel()
            raise
        finally:
            # The client left (or broke the protocol): a question still open is
            # declined; a command already running finishes in the bot.
            console.answers.put_nowait(None)
            commands.put_nowait(None)
            await asyncio.wait([runner])
            failure = None if runner.cancelled() else runner.exception()
            if failure is not None:
                raise failure

    async def _run_commands(
        self,
        session: ShellSession,
        console: ConnectionConsole,
        commands: asyncio.Queue[str | None],
    ) -> None:
        while (text := await commands.get()) is not None:
            outcome = await session.say(text)
            console.send({"op": "done", "outcome": str(outcome)})
            if console.gone:
                return


class ControlClient:
    """A terminal's end of the control channel."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(
        cls, path: Path, *, user: str | None, assume_yes: bool | None
    ) -> ControlClient:
        """Open a session with the bot listening on ``path`` (OSError if none does)."""
        reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_LINE * 4)
        client = cls(reader, writer)
        try:
            await client._send({"op": "open", "user": user, "yes": assume_yes})
            ready = await client._receive()
            if ready.get("op") != "ready":
                raise ConnectionError(str(ready.get("message", "the bot refused the session")))
        except BaseException:
            await client.close()
            raise
        return client

    async def _send(self, message: dict[str, Any]) -> None:
        self._writer.write(_encode(message))
        await self._writer.drain()

    async def _receive(self) -> dict[str, Any]:
        line = await self._reader.readline()
        if not line:
            raise ConnectionError("the bot closed the control channel")
        return _decode(line)

    async def say(self, text: str, console: Console) -> Outcome:
        """Run ``text`` in the bot; print its replies on ``console`` and answer its
        questions from it. ConnectionError if the bot goes away meanwhile."""
        await self._send({"op": "say", "text": text})
        while True:
            message = await self._receive()
            op = message["op"]
            if op == "output":
                console.write(str(message.get("text", "")))
            elif op == "ask":
                answer = await console.ask(str(message.get("prompt", "")))
                await self._send({"op": "answer", "text": answer})
            elif op == "done":
                return Outcome(str(message.get("outcome")))
            elif op == "error":
                raise ConnectionError(str(message.get("message", "refused")))

    async def repl(self, console: Console) -> None:
        """Read commands from ``console`` until end of input or ``exit``, each run in
        the bot."""
        console.write("testnet-bot shell (connected to the running bot): type `help`, or `exit`.\n")
        while True:
            line = await console.ask("testnet> ")
            if line is None or line.strip() in {"exit", "quit"}:
                return
            if line.strip():
                await self.say(line, console)

    async def close(self) -> None:
        """End the session."""
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


async def connect_to_bot(
    path: Path,
    still_running: Any,
    *,
    user: str | None,
    assume_yes: bool | None,
    timeout: float = 15.0,
) -> ControlClient | None:
    """Connect to the bot holding the database, waiting up to ``timeout`` seconds for
    one that is still starting. None if ``still_running()`` turns false meanwhile (the
    bot stopped: the caller works without it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await ControlClient.connect(path, user=user, assume_yes=assume_yes)
        except (FileNotFoundError, ConnectionRefusedError):
            if not still_running():
                return None
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"a bot holds the database but does not answer on {path}"
                ) from None
            await asyncio.sleep(0.05)
