"""The bot's HTTP server: health, readiness, metrics, and routes adapters add
(Slack events, Alertmanager webhooks)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bot.metrics import Metrics

log = logging.getLogger("testnet_bot.web")
server_log = logging.getLogger("testnet_bot.web.server")
"""aiohttp's request handler logs here (instead of ``aiohttp.server``)."""
CONTENT_TYPE_LATEST = "text/plain; version=0.0.4; charset=utf-8"


class ClientErrorsAsWarnings(logging.Filter):
    """Turn aiohttp's ERROR-with-traceback for a request it could not parse (a bad
    header byte, a malformed request line: answered 400 by aiohttp) into one WARNING
    line naming the sender and the problem. The offending bytes are not logged: they
    may hold someone's credentials. Errors of the bot's own handlers stay ERRORs."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            problem = (exc.message or type(exc).__name__).strip().splitlines()[0].rstrip(":")
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = "refused a malformed HTTP request from %s: %s (%d)"
            record.args = (remote, problem, exc.code)
            record.exc_info, record.exc_text = None, None
            record.event = "http_malformed"
        return True


server_log.addFilter(ClientErrorsAsWarnings())


class WebServer:
    """An aiohttp application with the bot's standard routes, started on demand."""

    def __init__(
        self, metrics: Metrics, ready: Callable[[], bool], *, client_max_size: int
    ) -> None:
        self.app = web.Application(client_max_size=client_max_size)
        self._metrics = metrics
        self._ready = ready
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/readyz", self._readyz)
        self.app.router.add_get("/metrics", self._metrics_handler)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        if self._ready():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "starting"}, status=503)

    async def _metrics_handler(self, request: web.Request) -> web.Response:
        body = self._metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self, host: str, port: int) -> str:
        """Listen on ``host:port`` (0: a free port); return the base URL."""
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, logger=server_log
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=1024)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        """Stop listening and finish in-flight requests."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
