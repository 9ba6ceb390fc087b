"""The local terminal as a chat platform: ``testnet-bot shell`` and ``exec``.

Replies travel through the outbox like any platform's (destination
``shell:<session>``) and are printed by :class:`ShellDelivery`. Confirmations are
a y/N question on the console, or ``--yes`` for ``exec``.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import uuid
from typing import IO, Any, Protocol

from bot import markup, messages
from bot.core import Actor, ConfirmRequest, ConfirmResult, Invocation
from bot.dispatcher import Dispatcher
from bot.outbox import DeliveryContext, Outbox, Route
from bot.responder import OutboxResponder, payload_table
from state.records import OutboxItem

BOLD, CODE, RESET = "\x1b[1m", "\x1b[36m", "\x1b[0m"
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")


def render_markup(text: str, *, color: bool) -> str:
    """The bot's neutral markup as terminal text: ``*bold*`` in bold and
    ```code``` highlighted without its backticks on a colour terminal; elsewhere
    bold loses its asterisks and code keeps its backticks (plain-text quoting)."""
    out = []
    text = markup.render(text, markup.plain)
    for i, part in enumerate(_CODE_SPAN.split(text)):
        if i % 2:  # a code span, taken as it is
            out.append(f"{CODE}{part[1:-1]}{RESET}" if color else part)
        else:
            out.append(_BOLD.sub(lambda m: f"{BOLD}{m[1]}{RESET}" if color else m[1], part))
    return "".join(out)


class Console(Protocol):
    """Where the shell reads lines and writes text (``color``: whether it shows ANSI
    colour; a console without the attribute gets plain text)."""

    def write(self, text: str) -> None:
        """Show ``text`` (no newline added)."""
        ...

    async def ask(self, prompt: str) -> str | None:
        """Show ``prompt`` and wait for one line; None at end of input."""
        ...


class TerminalConsole:
    """stdin/stdout. A daemon thread reads lines so the event loop never blocks and
    shutdown never waits on a pending read."""

    def __init__(
        self,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
        *,
        color: bool | None = None,
    ) -> None:
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._lines: asyncio.Queue[str | None] | None = None
        self.color = self._stdout.isatty() if color is None else color
        """Bold and code in ANSI colour (default: when stdout is a terminal)."""
        self._ended = False

    def write(self, text: str) -> None:
        """Print to stdout and flush."""
        self._stdout.write(text)
        self._stdout.flush()

    def _start_reader(self) -> asyncio.Queue[str | None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        def read() -> None:
            for line in self._stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\n"))
            loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=read, name="shell-stdin", daemon=True).start()
        return queue

    async def ask(self, prompt: str) -> str | None:
        """Print ``prompt``, return the next line typed (None from end of input on)."""
        if self._lines is None:
            self._lines = self._start_reader()
        self.write(prompt)
        if self._ended:
            return None
        line = await self._lines.get()
        self._ended = line is None
        return line


class BufferConsole:
    """A console in memory: answers come from a queue, output is collected (for
    tests, benchmarks and embedding)."""

    def __init__(self, *, color: bool = False) -> None:
        self.color = color
        self.output: list[str] = []
        self.prompts: list[str] = []
        self.answers: asyncio.Queue[str | None] = asyncio.Queue()

    def write(self, text: str) -> None:
        """Collect ``text``."""
        self.output.append(text)

    async def ask(self, prompt: str) -> str | None:
        """Record the prompt and take the next queued answer."""
        self.prompts.append(prompt)
        return await self.answers.get()

    @property
    def text(self) -> str:
        """Everything written so far."""
        return "".join(self.output)


class ShellDelivery:
    """Prints outbox items for one shell session."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lines = 0

    async def deliver(self, item: OutboxItem, context: DeliveryContext) -> dict[str, Any] | None:
        """Print the message; edits print again, marked as updated."""
        payload = item.payload
        text = render_markup(
            str(payload.get("text", "")), color=getattr(self.console, "color", False)
        )
        table = payload_table(payload.get("table"))
        if table is not None:
            text = f"{text}\n{table.as_text()}" if text else table.as_text()
        prefix = ""
        if item.op == "update":
            prefix = "(updated) "
        elif payload.get("thread_key"):
            prefix = "  ↳ "
            text = text.replace("\n", "\n    ")
        self.console.write(f"{prefix}{text}\n")
        self._lines += 1
        return {"line": self._lines}


class ShellResponder(OutboxResponder):
    """Replies to the terminal; confirmation is a y/N question (or ``--yes``)."""

    def __init__(
        self, outbox: Outbox, destination: str, console: Console, *, assume_yes: bool | None
    ) -> None:
        super().__init__(outbox, destination)
        self.console = console
        self.assume_yes = assume_yes

    async def confirm(self, request: ConfirmRequest) -> ConfirmResult:
        """Show the plan and ask; ``assume_yes`` (exec) answers without asking."""
        await self.reply(request.plan)
        await self.outbox.wait_delivered(self.destination)
        if request.approvals > 1:
            reason = messages.CONFIRM_NEEDS_OTHERS.format(approvals=request.approvals)
            return ConfirmResult(False, reason=reason)
        if self.assume_yes is not None:
            if self.assume_yes:
                return ConfirmResult(True, (request.requester.name,), "approved with --yes")
            return ConfirmResult(False, reason=messages.CONFIRM_NEEDS_YES)
        answer = await self.console.ask(messages.CONFIRM_PROMPT.format(command=request.command))
        if answer is not None and answer.strip().lower() in {"y", "yes"}:
            return ConfirmResult(True, (request.requester.name,), "approved")
        return ConfirmResult(False, reason="declined")


class ShellSession:
    """One local operator's session: its destination, responder and prompt loop."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        outbox: Outbox,
        console: Console,
        *,
        user: str,
        assume_yes: bool | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.outbox = outbox
        self.console = console
        self.user = user
        self.destination = f"shell:{uuid.uuid4().hex[:8]}"
        self.responder = ShellResponder(outbox, self.destination, console, assume_yes=assume_yes)
        outbox.add_route(self.destination, Route(ShellDelivery(console)))

    def invocation(self, text: str) -> Invocation:
        """The invocation for one line typed by the operator."""
        text = text.strip()
        if not text.startswith("/"):
            text = f"/testnet {text}"
        return Invocation(
            actor=Actor("shell", self.user, self.user),
            text=text,
            responder=self.responder,
            trace_id=uuid.uuid4().hex[:12],
            channel=self.destination,
        )

    async def say(self, text: str) -> Any:
        """Run one command to the end and wait until its replies are printed."""
        outcome = await self.dispatcher.submit(self.invocation(text))
        await self.outbox.wait_delivered(self.destination)
        return outcome

    async def repl(self) -> None:
        """Read commands until end of input or ``exit``."""
        self.console.write("testnet-bot shell: type `help`, or `exit` to leave.\n")
        while True:
            line = await self.console.ask("testnet> ")
            if line is None or line.strip() in {"exit", "quit"}:
                return
            if line.strip():
                await self.say(line)
