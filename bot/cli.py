"""``testnet-bot``: run the bot, talk to it from a terminal, check its config."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot import __version__
from bot.config import BotConfig
from bot.configfile import ConfigError, load_config
from bot.core import Outcome
from bot.errors import StartupError
from bot.logs import configure_logging

log = logging.getLogger("testnet_bot.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="testnet-bot",
        description="ChatOps for a blockchain testnet: deploys, sanity checks, incidents.",
    )
    parser.add_argument("--version", action="version", version=f"testnet-bot {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config",
            type=Path,
            default=None,
            help="YAML config (default: ./testnet-bot.yaml if present, else built-in defaults)",
        )
        return p

    run = with_config(sub.add_parser("run", help="start the bot (HTTP server, chat adapters)"))
    run.add_argument("--host", default=None, help="listen address (default from config)")
    run.add_argument("--port", type=int, default=None, help="listen port (default from config)")
    with_config(sub.add_parser("shell", help="chat with the bot in this terminal"))
    ex = with_config(sub.add_parser("exec", help='run one command, e.g. "/testnet status"'))
    ex.add_argument("--as", dest="as_user", default=None, help="act as this shell user")
    ex.add_argument("--yes", action="store_true", help="approve a confirmation")
    ex.add_argument("text", help="the command text")
    cfg = sub.add_parser("config", help="check or describe the configuration")
    cfg_sub = cfg.add_subparsers(dest="config_cmd", required=True, metavar="ACTION")
    with_config(cfg_sub.add_parser("check", help="validate a config file"))
    cfg_sub.add_parser("schema", help="print the config's JSON Schema")
    manifest = sub.add_parser("slack-manifest", help="print the Slack app manifest (YAML)")
    manifest.add_argument(
        "--url",
        default=None,
        help="public base URL, e.g. https://bot.example.org (none: Socket Mode)",
    )
    docs = sub.add_parser("docs", help="print generated reference docs (Markdown)")
    docs.add_argument("what", choices=["commands", "config"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``testnet-bot`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    env = dict(os.environ)
    if args.cmd == "slack-manifest":
        import commands
        from bot.registry import DEFAULT_REGISTRY
        from integrations.slack_manifest import manifest_yaml

        if args.url is not None and not args.url.startswith("https://"):
            print("error: --url must be an https:// URL Slack can reach", file=sys.stderr)
            return EXIT_USAGE
        print(manifest_yaml(DEFAULT_REGISTRY, url=args.url), end="")
        return EXIT_OK
    if args.cmd == "docs":
        import commands  # noqa: F401  (registers the built-in commands)
        from bot.docs import commands_markdown, config_markdown
        from bot.registry import DEFAULT_REGISTRY

        print(
            commands_markdown(DEFAULT_REGISTRY) if args.what == "commands" else config_markdown(),
            end="",
        )
        return EXIT_OK
    if args.cmd == "config" and args.config_cmd == "schema":
        print(json.dumps(BotConfig.model_json_schema(), indent=2))
        return EXIT_OK
    try:
        config, source = load_config(args.config, env=env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.cmd == "config":
        nets = ", ".join(sorted(config.networks)) or "none"
        print(f"{source}: OK (networks: {nets})")
        return EXIT_OK
    if args.cmd == "run":
        updates: dict[str, object] = {}
        if args.host is not None:
            updates["host"] = args.host
        if args.port is not None:
            updates["port"] = args.port
        if updates:
            config = config.model_copy(update={"http": config.http.model_copy(update=updates)})
    quiet = args.cmd == "exec"
    configure_logging(
        level="WARNING" if quiet and config.logging.level == "INFO" else config.logging.level,
        fmt=config.logging.format,
        secrets=config.secrets(),
    )
    try:
        if args.cmd == "run":
            return asyncio.run(_run(config, source, shell=sys.stdin.isatty()))
        if args.cmd == "shell":
            return asyncio.run(_run(config, source, shell=True, serve_http=False))
        return asyncio.run(_exec(config, source, args.text, args.as_user, args.yes))
    except StartupError as exc:
        log.error("cannot start: %s", exc, extra={"event": "startup_failed"})
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


async def _run(config: BotConfig, source: str, *, shell: bool, serve_http: bool = True) -> int:
    """Run until SIGTERM/SIGINT (or, with the shell, until the operator exits)."""
    from bot.app import Bot
    from integrations.shell import ShellSession, TerminalConsole

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
                    TerminalConsole(),
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


async def _exec(config: BotConfig, source: str, text: str, as_user: str | None, yes: bool) -> int:
    """Run one command, print its replies, return an exit code from its outcome."""
    from bot.app import Bot
    from integrations.shell import ShellSession, TerminalConsole

    async with Bot(
        config,
        config_source=source,
        serve_http=False,
        resume_runs=False,
        connect_gateways=False,
    ) as bot:
        session = ShellSession(
            bot.dispatcher,
            bot.services.outbox,
            TerminalConsole(),
            user=as_user or config.chat.shell.user,
            assume_yes=yes,
        )
        outcome: Outcome = await session.say(text)
    if outcome.success:
        return EXIT_OK
    if outcome in (Outcome.USAGE, Outcome.UNKNOWN):
        return EXIT_USAGE
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
