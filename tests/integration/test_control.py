"""The bot's lease and control channel in process: a second bot or a local session on
a held database is refused, the control socket is the owner's only, sessions run
commands and ask confirmations over it, and bad requests are refused without harm."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from bot.app import Bot
from bot.control import MAX_LINE, ControlClient, control_path
from bot.core import Outcome
from bot.lease import DatabaseBusy, lease_path
from integrations.chat.shell import BufferConsole
from tests.harness import make_config, wait_until


async def raw_exchange(path: Path, *lines: bytes) -> list[dict[str, object]]:
    """Send raw lines, return every message the bot answers until it closes."""
    reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_LINE * 4)
    for line in lines:
        writer.write(line)
    await writer.drain()
    answers = []
    async with asyncio.timeout(10):
        while line := await reader.readline():
            answers.append(json.loads(line))
    writer.close()
    return answers


async def test_a_held_database_refuses_a_second_bot_and_a_local_session(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with Bot(config, serve_http=False):
        with pytest.raises(DatabaseBusy, match=f"pid {os.getpid()} on .* since 20"):
            async with Bot(config, serve_http=False):
                pass
        with pytest.raises(DatabaseBusy, match="a bot is running"):
            async with Bot(config, serve_http=False, local=True):
                pass
        socket_file = control_path(config.state.path)
        assert stat.S_IMODE(socket_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(lease_path(config.state.path).stat().st_mode) == 0o600
    assert not control_path(config.state.path).exists()
    async with Bot(config, serve_http=False, local=True) as local:
        assert local.ready
        assert not control_path(config.state.path).exists(), "a local session serves nothing"
        assert "incident-timer" not in local.services.supervisor.running
    async with Bot(config, serve_http=False):  # released: a bot starts again
        pass


async def test_a_session_runs_commands_and_asks_confirmations_over_the_channel(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, networks={"alpha": {"namespace": "a", "image": "x"}})
    async with Bot(config, serve_http=False) as bot:
        bot.services.store.lock("alpha", holder="alice", reason="freeze")
        path = control_path(config.state.path)
        console = BufferConsole()
        client = await ControlClient.connect(path, user=None, assume_yes=None)
        try:
            assert await client.say("help", console) is Outcome.OK
            assert "/testnet status" in console.text
            console.answers.put_nowait("n")
            assert await client.say("unlock alpha", console) is Outcome.CANCELLED
            assert bot.services.store.get_lock("alpha") is not None
            console.answers.put_nowait("y")
            assert await client.say("unlock alpha", console) is Outcome.OK
            assert bot.services.store.get_lock("alpha") is None
            assert len(console.prompts) == 2 and "[y/N]" in console.prompts[0]
            assert await client.say("lock", console) is Outcome.USAGE
        finally:
            await client.close()


async def test_a_client_that_leaves_mid_question_declines_it(tmp_path: Path) -> None:
    config = make_config(tmp_path, networks={"alpha": {"namespace": "a", "image": "x"}})
    async with Bot(config, serve_http=False) as bot:
        bot.services.store.lock("alpha", holder="alice", reason="freeze")
        path = control_path(config.state.path)
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b'{"op": "open"}\n{"op": "say", "text": "unlock alpha"}\n')
        await writer.drain()
        async with asyncio.timeout(10):
            while b'"ask"' not in (await reader.readline()):
                pass
        writer.close()
        console = BufferConsole()
        client = await ControlClient.connect(path, user=None, assume_yes=None)
        try:
            assert await client.say("status", console) is Outcome.OK
        finally:
            await client.close()
        assert bot.services.store.get_lock("alpha") is not None, "the leaver approved nothing"
        outcomes = bot.services.store.conn.execute(
            "SELECT outcome FROM audit WHERE command = 'unlock'"
        ).fetchall()
        assert outcomes == [("cancelled",)]


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([b"not json\n"], "not JSON"),
        ([b'["open"]\n'], 'with an "op"'),
        ([b'{"op": "say", "text": "status"}\n'], 'first request must be "open"'),
        ([b'{"op": "open", "yes": "sure"}\n'], '"yes" must be'),
        ([b'{"op": "open"}\n', b'{"op": "say", "text": 5}\n'], '"text" must be a string'),
        ([b'{"op": "open"}\n', b'{"op": "say", "text": "' + b"x" * 5000 + b'"}\n'], "longer"),
        ([b'{"op": "open"}\n', b'{"op": "launch"}\n'], "unknown op"),
        ([b'{"op": "open", "user": "' + b"x" * MAX_LINE + b'"}\n'], "longer than"),
    ],
)
async def test_bad_requests_are_refused_and_the_bot_serves_on(
    tmp_path: Path, lines: list[bytes], reason: str
) -> None:
    config = make_config(tmp_path)
    async with Bot(config, serve_http=False) as bot:
        path = control_path(config.state.path)
        answers = await raw_exchange(path, *lines)
        errors = [a for a in answers if a["op"] == "error"]
        assert len(errors) == 1 and reason in str(errors[0]["message"]), answers
        assert not any(a["op"] == "done" for a in answers), "nothing ran"
        audit = bot.services.store.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
        assert audit == 0
        console = BufferConsole()
        client = await ControlClient.connect(path, user=None, assume_yes=False)
        try:
            assert await client.say("status", console) is Outcome.OK
        finally:
            await client.close()


async def test_a_bot_stopping_mid_question_ends_the_session_and_approves_nothing(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, networks={"alpha": {"namespace": "a", "image": "x"}})
    console = BufferConsole()
    bot = Bot(config, serve_http=False)
    await bot.__aenter__()
    try:
        bot.services.store.lock("alpha", holder="alice", reason="freeze")
        client = await ControlClient.connect(
            control_path(config.state.path), user=None, assume_yes=None
        )
        asked = asyncio.create_task(client.say("unlock alpha", console))
        await wait_until(lambda: bool(console.prompts), what="the y/N question")
    finally:
        await bot.__aexit__(None, None, None)
    console.answers.put_nowait("y")
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(asked, 10)
    await client.close()
    async with Bot(config, serve_http=False) as again:
        assert again.services.store.get_lock("alpha") is not None
