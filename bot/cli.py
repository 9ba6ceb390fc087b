"""``testnet-bot``: run the bot, talk to it from a terminal, check its config."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.config import BotConfig, config_json_schema
from bot.configfile import ConfigError, LoadedConfig, inspect_config
from bot.core import Outcome
from bot.errors import StartupError
from bot.lease import DatabaseBusy
from bot.logs import configure_logging

if TYPE_CHECKING:
    from bot.control import ControlClient
    from integrations.chat.shell import ShellSession, TerminalConsole

log = logging.getLogger("testnet_bot.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 3
DOCS = {
    "commands": "the chat commands (Markdown table, as in the README)",
    "config": "every configuration key (Markdown, as in docs/configuration.md)",
}
CONFIG_HELP = "YAML config (default: ./testnet-bot.yaml if present, else built-in defaults)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="testnet-bot",
        description="ChatOps for a blockchain testnet: deploys, sanity checks, incidents.",
    )
    parser.add_argument("--version", action="version", version=f"testnet-bot {__version__}")
    # Accepted before the command too (`testnet-bot --config x.yaml run`); the
    # command's own --config, when given, wins.
    parser.add_argument("--config", dest="global_config", type=Path, default=None, help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", type=Path, default=None, help=CONFIG_HELP)
        return p

    run = with_config(sub.add_parser("run", help="start the bot (HTTP server, chat adapters)"))
    run.add_argument("--host", default=None, help="listen address (default from config)")
    run.add_argument("--port", type=int, default=None, help="listen port (default from config)")
    with_config(sub.add_parser("shell", help="chat with the bot in this terminal"))
    ex = with_config(sub.add_parser("exec", help='run one command, e.g. "/testnet status"'))
    ex.add_argument("--as", dest="as_user", default=None, help="act as this shell user")
    ex.add_argument("--yes", action="store_true", help="approve a confirmation")
    ex.add_argument(
        "text",
        nargs=argparse.REMAINDER,
        metavar="COMMAND",
        help='the command text, quoted or not: "/testnet status" or /testnet status',
    )
    cfg = sub.add_parser("config", help="check or describe the configuration")
    cfg_sub = cfg.add_subparsers(dest="config_cmd", required=True, metavar="ACTION")
    check = with_config(cfg_sub.add_parser("check", help="validate a config file"))
    check.add_argument(
        "--live",
        action="store_true",
        help="also look up every workload, pod selector and Service in the cluster",
    )
    cfg_sub.add_parser("schema", help="print the config's JSON Schema")
    manifest = sub.add_parser("slack-manifest", help="print the Slack app manifest (YAML)")
    manifest.add_argument(
        "--url",
        default=None,
        help="public base URL, e.g. https://bot.example.org (none: Socket Mode)",
    )
    docs = sub.add_parser("docs", help="print generated reference docs (Markdown)")
    docs.add_argument("what", nargs="?", choices=sorted(DOCS), help="what to print")
    completion = sub.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=["bash", "zsh"], help="the shell to complete for")
    return parser


def _color() -> bool | None:
    """False when NO_COLOR is set (no-color.org); None: colour when stdout is a terminal."""
    return False if os.environ.get("NO_COLOR") else None


def log_file(config: BotConfig) -> Path:
    """Where the logs go while a terminal chat is attached: beside the state file."""
    return config.state.path.parent / "testnet-bot.log"


def exec_text(words: Sequence[str]) -> str:
    """One command text from ``exec``'s arguments: a single argument as it is; several
    joined, re-quoting any that held spaces (``alertname=Block Production`` becomes
    ``alertname="Block Production"``) so the chat parser sees the same words."""
    if len(words) == 1:
        return words[0]
    return " ".join(_requote(w) for w in words)


def _requote(word: str) -> str:
    if word and not any(c.isspace() or c in "\"'\\" for c in word):
        return word
    name, eq, value = word.partition("=")
    escaped = (value if eq else word).replace("\\", "\\\\").replace('"', '\\"')
    if eq and name and not any(c.isspace() or c in "\"'" for c in name):
        return f'{name}="{escaped}"'
    return f'"{escaped}"'


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``testnet-bot`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None) is None:
        args.config = args.global_config
    env = dict(os.environ)
    if args.cmd == "completion":
        import shtab

        print(shtab.complete(parser, shell=args.shell), end="")
        return EXIT_OK
    if args.cmd == "exec" and not args.text:
        print(
            'error: exec needs a command, e.g. testnet-bot exec "/testnet status"', file=sys.stderr
        )
        return EXIT_USAGE
    if args.cmd == "slack-manifest":
        import commands
        from bot.registry import DEFAULT_REGISTRY
        from integrations.chat.slack_manifest import manifest_yaml

        if args.url is not None and not args.url.startswith("https://"):
            print("error: --url must be an https:// URL Slack can reach", file=sys.stderr)
            return EXIT_USAGE
        print(manifest_yaml(DEFAULT_REGISTRY, url=args.url), end="")
        return EXIT_OK
    if args.cmd == "docs":
        import commands  # noqa: F401  (registers the built-in commands)
        from bot.docs import commands_markdown, config_markdown
        from bot.registry import DEFAULT_REGISTRY

        if args.what is None:
            print("testnet-bot docs WHAT prints one of:")
            for name, what in DOCS.items():
                print(f"  {name:<10} {what}")
            return EXIT_OK
        print(
            commands_markdown(DEFAULT_REGISTRY) if args.what == "commands" else config_markdown(),
            end="",
        )
        return EXIT_OK
    if args.cmd == "config" and args.config_cmd == "schema":
        print(json.dumps(config_json_schema(), indent=2))
        return EXIT_OK
    try:
        loaded = inspect_config(args.config, env=env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    config, source = loaded.config, loaded.source
    if args.cmd == "config":
        return _config_check(loaded, live=args.live)
    if args.cmd == "run":
        updates: dict[str, object] = {}
        if args.host is not None:
            updates["host"] = args.host
        if args.port is not None:
            updates["port"] = args.port
        if updates:
            config = config.model_copy(update={"http": config.http.model_copy(update=updates)})
    quiet = args.cmd == "exec"
    attached = args.cmd == "shell" or (args.cmd == "run" and sys.stdin.isatty())
    configure_logging(
        level="WARNING" if quiet and config.logging.level == "INFO" else config.logging.level,
        fmt=config.logging.format,
        secrets=config.secrets(),
        file=log_file(config) if attached else None,
    )
    for warning in loaded.warnings:
        log.warning("config: %s", warning, extra={"event": "config_warning"})
    if attached:
        print(f"(logs: {log_file(config)}; warnings also here)", file=sys.stderr)
    try:
        if args.cmd == "run":
            return asyncio.run(_run(config, source, shell=sys.stdin.isatty()))
        if args.cmd == "shell":
            return asyncio.run(_shell(config, source))
        text = exec_text(args.text)
        return asyncio.run(_exec(config, source, text, args.as_user, args.yes))
    except StartupError as exc:
        log.error("cannot start: %s", exc, extra={"event": "startup_failed"})
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except (DatabaseBusy, ConnectionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _config_check(loaded: LoadedConfig, *, live: bool) -> int:
    """``config check``: the file's verdict and warnings, then (``--live``) what the
    cluster has of everything it names. Non-zero when anything matches nothing."""
    nets = ", ".join(sorted(loaded.config.networks)) or "none"
    print(f"{loaded.source}: OK (networks: {nets})")
    for warning in loaded.warnings:
        print(f"warning: {warning}")
    if not live:
        return EXIT_OK
    from bot.configlive import check_live

    reports = asyncio.run(check_live(loaded.config, loaded.line_of))
    for report in reports:
        print(report.render())
    problems = sum(len(r.problems) for r in reports)
    if problems:
        print(f"{problems} problem(s): see FAIL above", file=sys.stderr)
        return EXIT_FAILED
    print("live check: everything configured was found")
    return EXIT_OK


async def _run(config: BotConfig, source: str, *, shell: bool, serve_http: bool = True) -> int:
    """Run until SIGTERM/SIGINT (or, with the shell, until the operator exits)."""
    from bot.app import Bot
    from integrations.chat.shell import ShellSession, TerminalConsole

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Bot(config, config_source=source, serve_http=serve_http) as bot:
            log.info(
                "chat: %s",
                "local shell"
                if shell
                else "no local shell (stdin is not a terminal; use `testnet-bot shell`)",
                extra={"event": "chat_adapters"},
            )
            waiters: list[asyncio.Task[Any]] = [
                asyncio.create_task(stop.wait(), name="wait-for-signal")
            ]
            if shell:
                session = ShellSession(
                    bot.dispatcher,
                    bot.services.outbox,
                    TerminalConsole(color=_color()),
                    user=config.chat.shell.user,
                )
                waiters.append(asyncio.create_task(session.repl(), name="shell-repl"))
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waiters:
                    task.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
            log.info("shutting down", extra={"event": "shutdown"})
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return EXIT_OK


def _exit_code(outcome: Outcome) -> int:
    """The exit code of a command's outcome: 0 ok, 2 usage or unknown, 1 otherwise."""
    if outcome.success:
        return EXIT_OK
    if outcome in (Outcome.USAGE, Outcome.UNKNOWN):
        return EXIT_USAGE
    return EXIT_FAILED


HANDOFF_ATTEMPTS = 3
"""How often a terminal session re-checks for a bot that starts or stops while it
decides between handing over and working locally."""


async def _running_bot(
    config: BotConfig, *, user: str | None, assume_yes: bool | None
) -> ControlClient | None:
    """A session with the bot running on the configured database, or None if no bot
    runs there (then the caller works locally)."""
    from bot.control import connect_to_bot, control_path
    from bot.lease import bot_running

    database = Path(config.state.path)
    if str(database) == ":memory:" or not bot_running(database):
        return None
    return await connect_to_bot(
        control_path(database),
        lambda: bot_running(database),
        user=user,
        assume_yes=assume_yes,
    )


async def _in_terminal(
    config: BotConfig,
    source: str,
    *,
    user: str | None,
    assume_yes: bool | None,
    remote: Callable[[ControlClient, TerminalConsole], Awaitable[int]],
    local: Callable[[ShellSession, TerminalConsole], Awaitable[int]],
) -> int:
    """Run a terminal session: ``remote`` with the bot running on the configured
    database (over the control channel), else ``local`` in a local session that starts
    nothing in the background. A bot that starts or stops while this decides is
    noticed and the choice made again."""
    from bot.app import Bot
    from integrations.chat.shell import ShellSession, TerminalConsole

    console = TerminalConsole(color=_color())
    for attempt in range(HANDOFF_ATTEMPTS):
        client = await _running_bot(config, user=user, assume_yes=assume_yes)
        if client is not None:
            try:
                return await remote(client, console)
            except ConnectionError as exc:
                print(f"error: the bot went away ({exc})", file=sys.stderr)
                return EXIT_FAILED
            finally:
                await client.close()
        try:
            async with Bot(
                config, config_source=source, serve_http=False, resume_runs=False, local=True
            ) as bot:
                session = ShellSession(
                    bot.dispatcher,
                    bot.services.outbox,
                    console,
                    user=user or config.chat.shell.user,
                    assume_yes=assume_yes,
                )
                return await local(session, console)
        except DatabaseBusy:  # a bot started meanwhile: hand the session to it
            if attempt == HANDOFF_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def _exec(config: BotConfig, source: str, text: str, as_user: str | None, yes: bool) -> int:
    """Run one command, print its replies, return an exit code from its outcome
    (in the running bot if there is one)."""

    async def remote(client: ControlClient, console: TerminalConsole) -> int:
        return _exit_code(await client.say(text, console))

    async def local(session: ShellSession, console: TerminalConsole) -> int:
        return _exit_code(await session.say(text))

    return await _in_terminal(
        config, source, user=as_user, assume_yes=yes, remote=remote, local=local
    )


async def _shell(config: BotConfig, source: str) -> int:
    """Chat in this terminal: with the running bot if there is one, else locally."""

    async def remote(client: ControlClient, console: TerminalConsole) -> int:
        await client.repl(console)
        return EXIT_OK

    async def local(session: ShellSession, console: TerminalConsole) -> int:
        console.write(
            "No bot is running on this database: commands run here, and what they "
            "send to Slack or GitHub waits until `testnet-bot run` starts.\n"
        )
        await session.repl()
        return EXIT_OK

    return await _in_terminal(
        config, source, user=None, assume_yes=None, remote=remote, local=local
    )


if __name__ == "__main__":
    sys.exit(main())
