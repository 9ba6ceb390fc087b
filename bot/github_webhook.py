"""``POST /hooks/github``: GitHub's ``workflow_run`` and ``release`` deliveries wake the
release commands following a build or a checklist, so it moves without waiting for
the next poll (polling stays the fallback, so nothing is lost when a delivery is).

Each delivery is authenticated as GitHub's webhook docs describe: ``X-Hub-Signature-256``
is ``sha256=`` and the hex HMAC-SHA256 of the raw body keyed with the webhook secret,
compared in constant time. Unsigned or wrongly signed: 401, nothing done. With no
``release.webhook_secret`` configured the endpoint is off (404). A body over the limit
gets 413, one that is not a JSON object 400, an event the bot does not follow 202.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from aiohttp import web

from commands.release.tools import ReleaseTools

log = logging.getLogger("testnet_bot.webhooks")
PATH = "/hooks/github"
MAX_BODY = 25 * 1024 * 1024
"""GitHub caps webhook payloads at 25 MB."""
FOLLOWED = ("workflow_run", "release")


class GitHubWebhook:
    """The aiohttp handler of the repository's webhook."""

    def __init__(self, secret: str | None, kit: ReleaseTools | None) -> None:
        self._secret = secret.encode() if secret else None
        self._kit = kit

    def mount(self, app: web.Application) -> None:
        """Add the route to ``app`` (before it starts)."""
        app.router.add_post(PATH, self.handle)

    def signed(self, body: bytes, header: str) -> bool:
        """Whether ``header`` is the ``sha256=`` HMAC of ``body`` with the secret."""
        if self._secret is None:
            return False
        expected = "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        given = header.strip().encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, expected.encode())

    async def handle(self, request: web.Request) -> web.Response:
        """Authenticate, bound and read one delivery, then wake the followers."""
        if self._secret is None or self._kit is None:
            return _answer(404, "the GitHub webhook is off (no release.webhook_secret or github:)")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _answer(413, f"body larger than {MAX_BODY} bytes")
        body = bytearray()
        async for chunk in request.content.iter_chunked(1 << 16):
            body += chunk
            if len(body) > MAX_BODY:
                return _answer(413, f"body larger than {MAX_BODY} bytes")
        if not self.signed(bytes(body), request.headers.get("X-Hub-Signature-256", "")):
            log.warning(
                "rejected a GitHub webhook from %s: missing or wrong signature",
                request.remote or "an unknown address",
                extra={"event": "webhook_unauthorized", "remote": request.remote},
            )
            return _answer(401, "missing or wrong X-Hub-Signature-256")
        event = request.headers.get("X-GitHub-Event", "")
        try:
            payload = json.loads(bytes(body))
        except (ValueError, UnicodeDecodeError):
            return _answer(400, "the body is not JSON")
        if not isinstance(payload, dict):
            return _answer(400, "the body is not a JSON object")
        if event == "ping":
            return _answer(200, "pong")
        if event not in FOLLOWED:
            return _answer(202, f"ignored: the bot does not follow {event or 'unnamed'} events")
        subject = payload.get(event)
        if not isinstance(subject, dict):
            return _answer(400, f"a {event} delivery needs a `{event}` object")
        log.info(
            "GitHub %s %s", event, payload.get("action", ""), extra={"event": "github_webhook"}
        )
        await self._kit.poke()
        return _answer(200, "noted")


def _answer(status: int, text: str) -> web.Response:
    key = "status" if status < 400 else "error"
    return web.Response(
        status=status, text=json.dumps({key: text}), content_type="application/json"
    )
