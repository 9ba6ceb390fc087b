"""One bot per database, with ``testnet-bot`` run as a user runs it (subprocesses):
a second ``run`` refuses naming the holder, ``exec`` hands its command to the running
bot (output and exit code included), and without a bot ``exec`` works locally and
never delivers, expires or resumes anything it did not start."""

from __future__ import annotations

import socket
from pathlib import Path

from state.store import Store
from tests.fakes.github_api import GitHubFake
from tests.fakes.slack_api import DEPLOYS
from tests.integration.botprocess import cli, commands_run, db_rows, start_bot, write_config

GH_TOKEN = "ghp_one_bot"
REPO = "aztec/testnet"


async def test_a_second_run_refuses_naming_the_holder_and_a_killed_holder_blocks_nothing(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    first = await start_bot(tmp_path, config)
    try:
        second = await cli(tmp_path, "run", "--config", str(config), "--port", "0")
        assert second.code == 1
        assert "another testnet-bot is already running" in second.stderr
        assert f"pid {first.proc.pid} on {socket.gethostname()} since 20" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.proc.returncode is None, "the refused start left the first bot alone"
        status = await cli(tmp_path, "exec", "--config", str(config), "/testnet status")
        assert status.code == 0 and "alpha" in status.stdout
    finally:
        await first.kill()
    again = await start_bot(tmp_path, config)  # the kernel dropped the killed bot's lock
    assert await again.stop() == 0


async def test_exec_hands_off_to_the_running_bot_with_its_output_and_exit_code(
    tmp_path: Path,
) -> None:
    config = str(write_config(tmp_path))
    bot = await start_bot(tmp_path, Path(config))
    try:
        ok = await cli(tmp_path, "exec", "--config", config, "--yes", "/testnet lock alpha freeze")
        assert ok.code == 0 and "`alpha` is locked: freeze" in ok.stdout, ok
        refused = await cli(tmp_path, "exec", "--config", config, "/testnet unlock alpha")
        assert refused.code == 1 and "re-run with --yes" in refused.stdout
        usage = await cli(tmp_path, "exec", "--config", config, "/testnet stats")
        assert usage.code == 2 and "Did you mean `/testnet status`?" in usage.stdout
        done = await cli(tmp_path, "exec", "--config", config, "--yes", "/testnet unlock alpha")
        assert done.code == 0 and "is unlocked" in done.stdout
        typed = "lock alpha again\nunlock alpha\nn\nunlock alpha\ny\n"
        shell = await cli(tmp_path, "shell", "--config", config, stdin=typed)
        assert shell.code == 0, shell
        assert "connected to the running bot" in shell.stdout
        assert shell.stdout.count("[y/N]") == 2, "the bot's question was asked in the terminal"
        assert "declined" in shell.stdout and "is unlocked" in shell.stdout
    finally:
        assert await bot.stop() == 0
    assert commands_run(bot) == [  # the bot ran them, not four local sessions
        "command lock: ok",
        "command unlock: cancelled",
        "command (unknown): unknown",
        "command unlock: ok",
        "command lock: ok",
        "command unlock: cancelled",
        "command unlock: ok",
    ]
    assert not (tmp_path / "bot.db.sock").exists(), "the bot removed its socket on the way out"


async def test_exec_without_a_bot_runs_locally_and_touches_nothing_it_did_not_start(
    tmp_path: Path,
) -> None:
    async with GitHubFake(token=GH_TOKEN, repo=REPO) as gh:
        config = write_config(tmp_path, github={"repo": REPO, "token": GH_TOKEN, "api_url": gh.url})
        store = Store.open(tmp_path / "bot.db")
        item = store.enqueue(f"github:{REPO}", "comment", {"number": 1, "body": "queued"})
        conf = store.confirmations.create(
            command="unlock alpha",
            plan="Unlock alpha",
            permission="deploy",
            requester="U0ALICE",
            approvals=1,
            destination=f"slack:{DEPLOYS}",
            timeout=600,
        )
        run = store.create_run(kind="deploy", network="alpha", args={}, owner="alice")
        store.close()

        result = await cli(tmp_path, "exec", "--config", str(config), "/testnet status")
        assert result.code == 0 and "alpha" in result.stdout
        bad = await cli(tmp_path, "exec", "--config", str(config), "/testnet deploi")
        assert bad.code == 2 and "Did you mean `/testnet deploy`?" in bad.stdout

        assert gh.count() == 0, "no GitHub delivery from a terminal session"
        rows = db_rows(tmp_path / "bot.db", "SELECT state FROM outbox WHERE id = ?", item)
        assert rows == [("pending",)]
        [(state,)] = db_rows(
            tmp_path / "bot.db", "SELECT state FROM confirmations WHERE id = ?", conf.id
        )
        assert state == "pending", "only the bot may expire confirmations"
        [(run_state,)] = db_rows(tmp_path / "bot.db", "SELECT state FROM runs WHERE id = ?", run.id)
        assert run_state == "pending", "only the bot may resume or abandon runs"
