"""``POST /hooks/alertmanager``: Alertmanager notifications into the incident desk.

Authentication is what Alertmanager's ``http_config`` sends: a bearer token
(``authorization: {credentials: ...}``) or basic auth, checked against
``alertmanager:`` in the config. With no credentials configured the endpoint is
disabled (404) and a log line at start-up says so; it is never open. A body over
``alertmanager.max_body`` gets 413, an invalid one 400 with the reason; 200 comes only
after the alerts, incident changes and outbound messages are committed together, so
Alertmanager retries (on 5xx or a dropped connection) anything not stored.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging

from aiohttp import web

from bot.config import AlertmanagerConfig
from bot.metrics import Metrics
from commands.incidents.desk import IncidentDesk, IntakeResult
from integrations.alertmanager import WebhookError, WebhookPayload, parse_webhook

log = logging.getLogger("testnet_bot.webhooks")
PATH = "/hooks/alertmanager"


class AlertmanagerWebhook:
    """The aiohttp handler of Alertmanager's webhook receiver."""

    def __init__(
        self, config: AlertmanagerConfig, desk: IncidentDesk, metrics: Metrics | None = None
    ) -> None:
        self.config = config
        self.desk = desk
        self.metrics = metrics
        self._pending: list[tuple[WebhookPayload, asyncio.Future[IntakeResult]]] = []
        self._bearer = (
            config.bearer_token.get_secret_value().encode() if config.bearer_token else None
        )
        self._basic: bytes | None = None
        if config.basic_user is not None and config.basic_password is not None:
            pair = f"{config.basic_user}:{config.basic_password.get_secret_value()}"
            self._basic = pair.encode()

    @property
    def enabled(self) -> bool:
        """Whether any credentials are configured (otherwise the endpoint answers 404)."""
        return self._bearer is not None or self._basic is not None

    def mount(self, app: web.Application) -> None:
        """Add the route to ``app`` (before it starts); once it serves, say whether the
        route is enabled (a bot that serves no HTTP, like ``exec``, says nothing)."""
        app.router.add_post(PATH, self.handle)
        app.on_startup.append(self._announce)

    async def _announce(self, app: web.Application) -> None:
        if self.enabled:
            kinds = [k for k, v in (("bearer", self._bearer), ("basic", self._basic)) if v]
            log.info(
                "alertmanager webhook on %s (%s auth)",
                PATH,
                " or ".join(kinds),
                extra={"event": "webhook_enabled"},
            )
        else:
            log.warning(
                "alertmanager webhook %s is disabled: no alertmanager.bearer_token or"
                " basic_user/basic_password configured",
                PATH,
                extra={"event": "webhook_disabled"},
            )

    def _authorized(self, header: str) -> bool:
        """Whether ``header`` carries the configured credentials. Any value is safe:
        aiohttp hands over non-UTF-8 header bytes as surrogate escapes, which are
        compared as the bytes that were sent."""
        raw = header.encode("utf-8", "surrogateescape")
        scheme, _, credential = raw.partition(b" ")
        given = credential.strip()
        if self._bearer is not None and scheme.lower() == b"bearer":
            return hmac.compare_digest(given, self._bearer)
        if self._basic is not None and scheme.lower() == b"basic":
            try:
                decoded = base64.b64decode(given, validate=True)
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(decoded, self._basic)
        return False

    async def handle(self, request: web.Request) -> web.Response:
        """Authenticate, bound, validate and store one notification."""
        if not self.enabled:
            return _error(404, "the alertmanager webhook is disabled (no credentials configured)")
        if not self._authorized(request.headers.get("Authorization", "")):
            log.warning(
                "rejected an alertmanager webhook from %s: missing or wrong credentials",
                request.remote or "an unknown address",
                extra={"event": "webhook_unauthorized", "remote": request.remote},
            )
            return _error(401, "missing or wrong credentials", auth=True)
        limit = self.config.max_body
        if request.content_length is not None and request.content_length > limit:
            return _error(413, f"body larger than {limit} bytes")
        body = bytearray()
        async for chunk in request.content.iter_chunked(1 << 16):
            body += chunk
            if len(body) > limit:
                return _error(413, f"body larger than {limit} bytes")
        try:
            payload = parse_webhook(bytes(body))
        except WebhookError as exc:
            log.warning(
                "rejected an alertmanager webhook from %s: %s",
                request.remote or "an unknown address",
                exc.reason,
                extra={"event": "webhook_rejected", "remote": request.remote},
            )
            return _error(400, exc.reason)
        result = await self._store(payload)
        if self.metrics is not None:
            self.metrics.alerts_received(
                new=result.new,
                repeats=result.repeats,
                resolved=result.resolved,
                ignored=result.ignored,
            )
        return web.json_response(
            {
                "status": "stored",
                "received": result.received,
                "new": result.new,
                "resolved": result.resolved,
                "repeats": result.repeats,
                "ignored": result.ignored,
                "incidents": list(result.touched),
            }
        )

    async def _store(self, payload: WebhookPayload) -> IntakeResult:
        """Group commit: notifications that arrive while one is being parsed are stored
        in ONE transaction (each in its own savepoint), run synchronously on the event
        loop with no await inside, and each waits for that COMMIT before its 200."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[IntakeResult] = loop.create_future()
        self._pending.append((payload, done))
        if len(self._pending) == 1:
            loop.call_soon(self._commit_pending)
        return await done

    def _commit_pending(self) -> None:
        batch, self._pending = self._pending, []
        try:
            results = self.desk.intake_batch([payload for payload, _ in batch])
        except Exception as exc:  # nothing of the batch is stored: every sender gets 500
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for (_, done), result in zip(batch, results, strict=True):
            if done.done():  # the request was cancelled; its alerts are stored anyway
                continue
            if isinstance(result, Exception):
                done.set_exception(result)
            else:
                done.set_result(result)


def _error(status: int, reason: str, *, auth: bool = False) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="testnet-bot"'} if auth else None
    return web.Response(
        status=status,
        text=json.dumps({"error": reason}),
        content_type="application/json",
        headers=headers,
    )
