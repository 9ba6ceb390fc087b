"""The composition root: opens every resource in one ``AsyncExitStack`` and hands
them to the dispatcher, adapters and workflows. Nothing here is a global.

Two compositions share this code. The bot (``testnet-bot run``) holds its
database's lease (see :mod:`bot.lease`) and runs everything: HTTP server, chat
adapters, outbox delivery, incident timer, schedules, resumed runs and the control
channel terminals hand commands to. A *local* session (``exec``/``shell`` when no
bot runs) holds the lease shared and opens only the store and the dispatcher: no
adapters, timers, schedules or resumes, and its outbox delivers nothing but its own
terminal's replies (everything else it queues waits for the bot)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler

import commands  # noqa: F401  (registers the built-in commands)
from bot import __version__
from bot.config import BotConfig
from bot.context import Services
from bot.control import ControlServer, control_path
from bot.dispatcher import Dispatcher
from bot.incident_wiring import wire_incidents
from bot.kube_access import KubeAccess
from bot.lease import DatabaseBusy, acquire_exclusive, acquire_shared
from bot.metrics import Metrics
from bot.outbox import Outbox
from bot.permissions import Permissions
from bot.registry import DEFAULT_REGISTRY, Registry
from bot.registry_access import RegistryAccess
from bot.sanity_wiring import wire_sanity
from bot.tasks import TaskSupervisor
from bot.web import WebServer
from commands.sanity.schedules import SCHEDULER
from state.store import Store

log = logging.getLogger("testnet_bot.app")


class Bot:
    """One running bot. ``async with Bot(config) as bot:`` starts it; leaving the
    block stops it cleanly (work in flight stays recorded in the database).

    Starting raises :class:`~bot.lease.DatabaseBusy` when another bot holds the
    database. With ``local=True`` it is a terminal session instead (see the module
    docstring), refused with ``DatabaseBusy`` while a bot runs there."""

    def __init__(
        self,
        config: BotConfig,
        *,
        registry: Registry = DEFAULT_REGISTRY,
        clock: Callable[[], float] = time.time,
        serve_http: bool = True,
        resume_runs: bool = True,
        config_source: str = "built-in defaults",
        local: bool = False,
    ) -> None:
        self.config = config
        self.registry = registry
        self.clock = clock
        self.serve_http = serve_http
        self.resume = resume_runs
        self.config_source = config_source
        self.local = local
        self.url: str | None = None
        self.ready = False
        self._stack = AsyncExitStack()
        self._services: Services | None = None
        self._dispatcher: Dispatcher | None = None
        self.slack: Any = None
        self.discord: Any = None

    @property
    def services(self) -> Services:
        """The services handed to handlers (only while running)."""
        if self._services is None:
            raise RuntimeError("the bot is not running")
        return self._services

    @property
    def dispatcher(self) -> Dispatcher:
        """The dispatcher adapters hand invocations to (only while running)."""
        if self._dispatcher is None:
            raise RuntimeError("the bot is not running")
        return self._dispatcher

    async def __aenter__(self) -> Bot:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.ready = False
        await self._stack.aclose()
        log.info("stopped", extra={"event": "stopped"})

    async def _start(self) -> None:
        config = self.config
        log.info(
            "testnet-bot %s starting with %s",
            __version__,
            self.config_source,
            extra={"event": "starting", "config": self.config_source},
        )
        await self._take_lease()
        store = Store.open(config.state.path, self.clock)
        self._stack.callback(store.close)
        log.info("state: SQLite at %s", config.state.path, extra={"event": "state_opened"})
        metrics = Metrics()
        metrics.watch_store(store)
        supervisor = TaskSupervisor()
        outbox = Outbox(store, config.outbox, metrics, supervisor, clock=self.clock)
        scheduler = AsyncIOScheduler()
        scheduler.start()
        self._stack.callback(scheduler.shutdown, wait=False)
        http = await self._stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        )
        self._services = Services(
            config=config,
            store=store,
            registry=self.registry,
            permissions=Permissions(config),
            outbox=outbox,
            supervisor=supervisor,
            metrics=metrics,
            clock=self.clock,
            started_at=self.clock(),
            http=http,
            images=RegistryAccess(http),
        )
        self._services.provide(SCHEDULER, scheduler)
        kube = KubeAccess(config.kubernetes)
        self._stack.push_async_callback(kube.close)
        self._services.kube = kube
        # Closed in reverse: work in flight is cancelled (runs stay resumable) and the
        # outbox stopped before the Kubernetes clients and the HTTP session go away.
        self._stack.push_async_callback(outbox.stop)
        self._stack.push_async_callback(supervisor.close)
        self._dispatcher = Dispatcher(self._services)
        server = WebServer(metrics, lambda: self.ready, client_max_size=1 << 20)
        if config.chat.slack is not None and not self.local:
            from integrations.chat.slack import SlackAdapter

            slack = SlackAdapter(config.chat.slack, self._services, self._dispatcher, http)
            slack.mount(server.app)
            await slack.start()
            self._stack.push_async_callback(slack.stop)
            self.slack = slack
        if config.chat.discord is not None and not self.local:
            from integrations.chat.discord import DiscordAdapter

            discord = DiscordAdapter(config.chat.discord, self._services, self._dispatcher)
            await discord.start()
            self._stack.push_async_callback(discord.stop)
            self.discord = discord
        background = not self.local
        wire_incidents(self._services, server.app, http, self._stack, background=background)
        wire_sanity(self._services, http, schedules=self.resume and background)
        if self.serve_http and background:
            self.url = await server.start(config.http.host, config.http.port)
            self._stack.push_async_callback(server.stop)
            log.info("http: listening on %s", self.url, extra={"event": "http_listening"})
        outbox.start()
        if self.resume and background:
            self._resume_runs()
        if background and self._database is not None:
            control = ControlServer(
                control_path(self._database),
                self._dispatcher,
                outbox,
                default_user=config.chat.shell.user,
            )
            await control.start()
            self._stack.push_async_callback(control.stop)
        self.ready = True
        log.info("ready", extra={"event": "ready"})

    @property
    def _database(self) -> Path | None:
        path = Path(self.config.state.path)
        return None if str(path) == ":memory:" else path

    async def _take_lease(self) -> None:
        """Hold the database: exclusively for a bot, shared for a local session."""
        database = self._database
        if database is None:
            return
        if self.local:
            lease = acquire_shared(database)
            if lease is None:
                raise DatabaseBusy(f"a bot is running on {database}: hand commands to it")
        else:
            lease = await acquire_exclusive(database)
            log.info("state: holding %s", lease.path, extra={"event": "lease_acquired"})
        self._stack.callback(lease.release)

    def _resume_runs(self) -> None:
        """Hand every run left unfinished back to its workflow."""
        services = self.services
        for run in services.store.unfinished_runs():
            resume = self.registry.resumer(run.kind)
            if resume is None:
                services.store.update_run(
                    run.id,
                    state="failed",
                    step="interrupted",
                    result={"error": f"interrupted; no workflow resumes {run.kind!r} runs"},
                )
                log.warning(
                    "run %s (%s) was interrupted and cannot be resumed",
                    run.id,
                    run.kind,
                    extra={"event": "run_abandoned"},
                )
                continue
            log.info("resuming run %s (%s)", run.id, run.kind, extra={"event": "run_resumed"})
            services.supervisor.spawn(f"resume:{run.kind}:{run.id}", resume(services, run))
