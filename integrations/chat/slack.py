"""Slack: the ``/testnet`` slash command, Approve/Cancel buttons, and delivery of
the bot's messages. The only module that imports ``slack_bolt`` or ``slack_sdk``.

HTTP mode mounts a slack-bolt ``AsyncApp`` (which verifies request signatures) on
the bot's aiohttp server at ``/slack/events``; with an app token it also connects
in Socket Mode. Every listener acks at once and hands the work to a supervised
task. Outbound messages are outbox items delivered by :class:`SlackDelivery`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.config import SlackChat
from bot.context import Services
from bot.core import Actor, ConfirmRequest, ConfirmResult, Invocation
from bot.dispatcher import Dispatcher
from bot.errors import StartupError
from bot.outbox import DeliveryContext, PermanentFailure, RateLimit, RetryLater, Route
from bot.responder import OutboxResponder, payload_table
from integrations.chat.slack_blocks import (
    APPROVE_ACTION,
    CANCEL_ACTION,
    TEXT_LIMIT,
    confirmation_blocks,
    fallback_text,
    message_blocks,
    message_parts,
    render_parts,
)
from integrations.chat.slack_inbound import (
    MalformedRequest,
    is_ssl_check,
    parse_request,
    signature_problem,
)
from integrations.chat.votes import open_confirmation, unchanged
from state.confirmations import APPROVED, CANCELLED, EXPIRED, Confirmation
from state.records import OutboxItem, Priority

log = logging.getLogger("testnet_bot.slack")

WORKING_AFTER = 1.5
"""Seconds after which a still-running command gets an ephemeral "Working on …"."""

# Errors that retrying cannot fix, with what to do about them.
PERMANENT_ERRORS = {
    "channel_not_found": "the channel does not exist or the bot cannot see it",
    "not_in_channel": "the bot is not in the channel: invite it with /invite",
    "is_archived": "the channel is archived",
    "missing_scope": "the app lacks a scope: add it in the app's settings and reinstall",
    "invalid_auth": "the bot token is not valid",
    "token_revoked": "the bot token was revoked: reinstall the app",
    "account_inactive": "the bot's account is inactive: reinstall the app",
    "not_authed": "no bot token was sent",
    "msg_too_long": "the message is too long",
    "no_text": "the message was empty",
    "message_not_found": "the message to edit no longer exists",
    "cant_update_message": "the bot may not edit that message",
    "restricted_action": "a workspace admin restricted posting there",
}


SLACK_POST_SPACING = 1.05
"""Seconds between posts (and between edits) to one channel: Slack allows about one
message per second per channel; the margin absorbs clock and network jitter."""
TOKEN_UNUSABLE = (
    "testnet-bot cannot use its Slack token (revoked or invalid): "
    "an admin must reinstall the app and update SLACK_BOT_TOKEN."
)
RETRY_WINDOW = 900.0
"""Slack retries an unacked request after 1 s, 1 min and 5 min, and a replayed request
passes the signature check for 5 min: a slash command's trigger id is remembered (in
SQLite, so across restarts) for 15 min."""
SEEN_SOURCE = "slack-command"
STARTUP_CHECK_TIMEOUT = 10.0
"""Seconds ``auth.test`` may take at start-up before Slack counts as unreachable."""


def destination(channel: str) -> str:
    """The outbox destination of a Slack channel."""
    return f"slack:{channel}"


class SlackDelivery:
    """Posts, edits and ephemeral responses through the Web API."""

    def __init__(self, client: AsyncWebClient, http: aiohttp.ClientSession) -> None:
        self.client = client
        self.http = http

    async def deliver(self, item: OutboxItem, context: DeliveryContext) -> dict[str, Any] | None:
        """Send one item; map Slack's answers onto retry / permanent failure."""
        if isinstance(item.payload.get("text"), str):  # neutral parts in Slack's syntax
            rendered = {**item.payload, "text": render_parts(item.payload["text"])}
            item = dataclasses.replace(item, payload=rendered)
        payload = item.payload
        try:
            if item.op == "respond":
                await self._respond(payload["response_url"], payload["text"])
                return None
            channel = item.destination.split(":", 1)[1]
            if item.op == "ephemeral":
                await self.client.chat_postEphemeral(
                    channel=channel, user=payload["user"], text=payload["text"]
                )
                return None
            if item.op == "update":
                ref = context.ref(item.message_key)
                if ref is None:
                    raise PermanentFailure("the message to edit was never posted")
                await self.client.chat_update(
                    channel=ref["channel"],
                    ts=ref["ts"],
                    text=_clip_text(payload["text"]),
                    blocks=self._blocks(payload),
                )
                return None
            thread_ts = None
            if payload.get("thread_key"):
                parent = context.ref(payload["thread_key"])
                if parent is None:
                    raise PermanentFailure("the thread's first message was never posted")
                thread_ts = parent["ts"]
            return await self._post(item, context, channel, thread_ts)
        except SlackApiError as exc:
            await self._refused(item, exc)
            raise AssertionError("unreachable") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(f"Slack unreachable: {exc!r}") from exc

    async def _post(
        self,
        item: OutboxItem,
        context: DeliveryContext,
        channel: str,
        thread_ts: str | None,
    ) -> dict[str, Any]:
        """Post a message and return its ref. One too long for a Slack message is
        split (every part within Slack's limits, nothing dropped): the first part is
        posted now, the others are queued as replies in its thread, each once."""
        payload = item.payload
        if "blocks" in payload:
            parts = [payload["blocks"]]
        else:
            parts = message_parts(payload["text"], payload_table(payload.get("table")))
        resp = await self.client.chat_postMessage(
            channel=channel,
            text=_clip_text(payload["text"]) or fallback_text(parts[0]),
            blocks=parts[0],
            thread_ts=thread_ts,
        )
        ref = {"channel": resp["channel"], "ts": resp["ts"]}
        thread_key = payload.get("thread_key") or item.message_key
        for number, blocks in enumerate(parts[1:], start=2):
            continued = [*blocks, _continued(number, len(parts))]
            if thread_key is None:  # nothing to thread under by key: post it now
                await self.client.chat_postMessage(
                    channel=ref["channel"],
                    text=fallback_text(blocks),
                    blocks=continued,
                    thread_ts=thread_ts or ref["ts"],
                )
                continue
            context.store.enqueue(
                item.destination,
                "post",
                {"text": fallback_text(blocks), "blocks": continued, "thread_key": thread_key},
                dedupe_key=f"slack-continued:{item.id}:{number}",
            )
        return ref

    def _blocks(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        if "blocks" in payload:
            blocks: list[dict[str, Any]] = payload["blocks"]
            return blocks
        return message_blocks(payload["text"], payload_table(payload.get("table")))

    async def _respond(self, url: str, text: str) -> None:
        webhook = AsyncWebhookClient(url, session=self.http)
        resp = await webhook.send(text=text, response_type="ephemeral", replace_original=False)
        if resp.status_code == 429:
            raise RetryLater("response_url rate limited", _retry_after(resp.headers))
        if resp.status_code >= 500:
            raise RetryLater(f"response_url answered {resp.status_code}")
        if resp.status_code >= 400:
            raise PermanentFailure(f"response_url refused: {resp.status_code} {resp.body}")

    async def _refused(self, item: OutboxItem, exc: SlackApiError) -> None:
        status = exc.response.status_code
        error = str(exc.response.get("error", "")) if exc.response.data else ""
        if status == 429 or error == "ratelimited":
            raise RetryLater("Slack rate limit", _retry_after(exc.response.headers))
        if status >= 500 or error in {"internal_error", "fatal_error", "service_unavailable"}:
            raise RetryLater(f"Slack answered {status} {error}")
        hint = PERMANENT_ERRORS.get(error, "Slack refused the request")
        if error == "missing_scope":
            hint += f" (needs {exc.response.get('needed', '?')})"
        log.error(
            "Slack refused %s to %s: %s (%s)",
            item.op,
            item.destination,
            error,
            hint,
            extra={"event": "slack_refused", "error": error},
        )
        response_url = item.payload.get("response_url")
        if response_url and item.op == "post":
            try:  # tell the person who asked, where Slack still lets us
                await self._respond(response_url, f"I could not post here: {error} ({hint}).")
            except Exception:
                log.warning("could not tell the user about %s", error)
        raise PermanentFailure(f"{error}: {hint}")


def _clip_text(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def _continued(number: int, total: int) -> dict[str, Any]:
    note = f"(continued, part {number} of {total})"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}


def _repair_slash_command(request: AsyncBoltRequest) -> None:
    """Work around slack-bolt 1.30 dropping a slash command whose text contains the
    word "payload": its parser then looks for an interactivity ``payload`` field,
    finds none, and leaves the body empty. Re-parse such a body as the form it is
    (the signature is checked on the raw body either way)."""
    if request.body or not request.raw_body:
        return
    fields = dict(parse_qsl(request.raw_body, keep_blank_values=True))
    if "command" in fields and "payload" not in fields:
        request.body = fields
        request.context = build_async_context(AsyncBoltContext({}), fields)


def _retry_after(headers: Any) -> float | None:
    values = headers.get("Retry-After") or headers.get("retry-after")
    if isinstance(values, list):
        values = values[0] if values else None
    try:
        return float(values) if values is not None else None
    except ValueError:
        return None


class GroupCache:
    """Slack user-group membership, fetched with ``usergroups.users.list`` and cached."""

    def __init__(self, client: AsyncWebClient, groups: set[str], ttl: float) -> None:
        self.client = client
        self.groups = groups
        self.ttl = ttl
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    async def groups_of(self, user: str) -> frozenset[str]:
        """The configured groups ``user`` belongs to (a group that cannot be read counts
        as empty, and the reason is logged)."""
        held: set[str] = set()
        for group in self.groups:
            if user in await self._members_of(group):
                held.add(group)
        return frozenset(held)

    async def _members_of(self, group: str) -> frozenset[str]:
        now = time.monotonic()
        cached = self._members.get(group)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        try:
            resp = await self.client.usergroups_users_list(usergroup=group)
            members = frozenset(resp.get("users") or [])
        except SlackApiError as exc:
            error = exc.response.get("error", "") if exc.response.data else ""
            log.error(
                "cannot read Slack user group %s: %s (%s)",
                group,
                error,
                PERMANENT_ERRORS.get(str(error), "Slack refused"),
                extra={"event": "slack_group_error"},
            )
            members = cached[1] if cached else frozenset()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("cannot reach Slack for group %s: %r", group, exc)
            members = cached[1] if cached else frozenset()
        self._members[group] = (now, members)
        return members


NAME_CACHE_TTL = 3600.0
"""Seconds a person's display name is remembered (people rarely rename themselves)."""
NAME_RETRY_AFTER = 60.0
"""Seconds before asking again about someone Slack could not tell us about."""


class DisplayNames:
    """How people are named in messages and records: Slack's display name, else the
    real name, else the handle; looked up with ``users.info`` and cached."""

    def __init__(self, client: AsyncWebClient, ttl: float = NAME_CACHE_TTL) -> None:
        self.client = client
        self.ttl = ttl
        self._names: dict[str, tuple[float, str]] = {}

    def known(self, user: str) -> str:
        """The cached name of ``user`` (the id itself when none is cached)."""
        cached = self._names.get(user)
        return cached[1] if cached else user

    async def name_of(self, user: str, handle: str = "") -> str:
        """The name of ``user``: display name, real name, then ``handle`` (the login
        handle Slack sent with the request), then the id. A lookup Slack refuses is
        logged and the handle used, so a missing scope never blocks a command."""
        now = time.monotonic()
        cached = self._names.get(user)
        if cached is not None and now < cached[0]:
            return cached[1]
        name = ""
        try:
            resp = await self.client.users_info(user=user)
            info = resp.get("user") or {}
            profile = info.get("profile") or {}
            for candidate in (
                profile.get("display_name"),
                profile.get("real_name"),
                info.get("real_name"),
                info.get("name"),
            ):
                if isinstance(candidate, str) and candidate.strip():
                    name = candidate.strip()
                    break
            expires = now + self.ttl
        except SlackApiError as exc:
            error = exc.response.get("error", "") if exc.response.data else ""
            log.warning(
                "cannot look up Slack user %s: %s (%s)",
                user,
                error,
                PERMANENT_ERRORS.get(str(error), "Slack refused"),
                extra={"event": "slack_user_error"},
            )
            expires = now + NAME_RETRY_AFTER
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("cannot reach Slack to look up user %s: %r", user, exc)
            expires = now + NAME_RETRY_AFTER
        if not name:
            name = cached[1] if cached is not None and cached[1] != user else handle or user
        self._names[user] = (expires, name)
        return name


class SlackResponder(OutboxResponder):
    """Replies in the command's channel; confirmation is a message with buttons."""

    def __init__(
        self, adapter: SlackAdapter, channel: str, response_url: str | None, user: str = ""
    ) -> None:
        extra = {"response_url": response_url} if response_url else {}
        super().__init__(
            adapter.services.outbox, destination(channel), extra, urgent_first_reply=True
        )
        self.adapter = adapter
        self.channel = channel
        self.response_url = response_url
        self.user = user

    async def reply_private(self, text: str) -> None:
        """An ephemeral message only the person who asked sees: through the command's
        response URL, else ``chat.postEphemeral``; a normal reply if neither is known."""
        if self.response_url:
            self.adapter.ephemeral(self.channel, self.response_url, text)
        elif self.user:
            self.outbox.enqueue(
                f"slack-ephemeral:{self.channel}", "ephemeral", {"user": self.user, "text": text}
            )
        else:
            await self.reply(text)

    async def confirm(self, request: ConfirmRequest) -> ConfirmResult:
        """Post the plan with Approve/Cancel and wait for enough approvers or the timeout."""
        return await self.adapter.ask(self, request)


class SlackAdapter:
    """The Slack side of the bot: bolt app, listeners, confirmations, delivery route."""

    def __init__(
        self,
        config: SlackChat,
        services: Services,
        dispatcher: Dispatcher,
        http: aiohttp.ClientSession,
    ) -> None:
        self.config = config
        self.services = services
        self.dispatcher = dispatcher
        self.http = http
        self.client = AsyncWebClient(
            token=config.bot_token.get_secret_value(),
            base_url=str(config.api_url),
            session=http,
            retry_handlers=[],  # the outbox owns retries
        )
        signing = config.signing_secret.get_secret_value() if config.signing_secret else None
        self._signing_secret = (signing or "").encode()
        self.app = AsyncApp(
            client=self.client,
            signing_secret=signing,
            request_verification_enabled=signing is not None,
            process_before_response=False,
            logger=logging.getLogger("slack_bolt"),
            user_facing_authorize_error_message=TOKEN_UNUSABLE,
        )
        groups = {g for role in services.config.roles.values() for g in role.slack_groups}
        self.groups = GroupCache(self.client, groups, config.group_cache_ttl)
        self.names = DisplayNames(self.client)
        self._waiters: dict[str, asyncio.Future[ConfirmResult]] = {}
        self._socket: AsyncSocketModeHandler | None = None
        self.app.command("/testnet")(self._on_command)
        for root in sorted(services.registry.roots()):  # /operator, /validator
            self.app.command(f"/{root}")(self._on_command)
        self.app.action(APPROVE_ACTION)(self._on_approve)
        self.app.action(CANCEL_ACTION)(self._on_cancel)
        delivery = SlackDelivery(self.client, http)
        posts = RateLimit(1, SLACK_POST_SPACING, lambda item: item.op == "post")
        edits = RateLimit(1, SLACK_POST_SPACING, lambda item: item.op == "update")
        services.outbox.add_route("slack", Route(delivery, limits=[posts, edits]))
        services.outbox.add_route("slack-ephemeral", Route(delivery))

    # -- lifecycle -----------------------------------------------------------

    def mount(self, app: web.Application, path: str = "/slack/events") -> None:
        """Serve slash commands and interactivity at ``path`` (HTTP mode). Without a
        signing secret (Socket Mode only) nothing is mounted: requests that cannot be
        verified are never accepted."""
        if self.config.signing_secret is None:
            log.info("slack: no signing secret, so no HTTP endpoint (Socket Mode only)")
            return
        app.router.add_post(path, self._http)

    async def start(self) -> None:
        """Check the bot token with ``auth.test`` (raising :class:`StartupError` with
        what to fix when Slack refuses it or cannot be reached), expire confirmations
        a previous process left waiting, connect Socket Mode."""
        await self._check_token()
        for conf in self.services.store.confirmations.pending():
            if conf.destination.startswith("slack:"):
                self.services.store.confirmations.expire(conf.id)
                self._edit(conf, "⌛ This request was interrupted by a bot restart; run it again.")
        if self.config.app_token is not None:
            self._socket = AsyncSocketModeHandler(
                self.app, self.config.app_token.get_secret_value(), web_client=self.client
            )
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
            log.info("slack: connected in Socket Mode", extra={"event": "slack_socket"})

    async def _check_token(self) -> None:
        api = str(self.config.api_url)
        try:
            resp = await asyncio.wait_for(self.client.auth_test(), STARTUP_CHECK_TIMEOUT)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response.data else ""
            if not error:
                error = f"HTTP {exc.response.status_code}"
            hint = PERMANENT_ERRORS.get(error, "Slack refused the token")
            raise StartupError(
                f"Slack refused the bot token at start-up: {error} ({hint}); check"
                " SLACK_BOT_TOKEN (chat.slack.bot_token)"
            ) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            reason = "no answer in time" if isinstance(exc, TimeoutError) else str(exc) or repr(exc)
            raise StartupError(
                f"cannot reach Slack at {api} to check the bot token: {reason}"
                " (check the network, a proxy, or chat.slack.api_url)"
            ) from None
        log.info(
            "slack: token accepted for %s in workspace %s",
            resp.get("user") or resp.get("user_id") or "the bot",
            resp.get("team") or resp.get("team_id") or "?",
            extra={"event": "slack_token_ok"},
        )

    async def stop(self) -> None:
        """Disconnect Socket Mode and refuse confirmations still waiting."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        for future in self._waiters.values():
            if not future.done():
                future.set_result(ConfirmResult(False, reason="the bot is shutting down"))

    async def _http(self, request: web.Request) -> web.Response:
        """Verify, then hand the request to slack-bolt: unsigned, badly signed or
        stale → 401, signed but malformed → 400, each logged once at WARNING with
        the reason and the sender's address."""
        raw = await request.read()
        if is_ssl_check(raw):
            return web.Response(status=200)
        problem = signature_problem(raw, request.headers, self._signing_secret, time.time())
        if problem is not None:
            return self._rejected(request, 401, problem)
        content_type = (request.headers.get("Content-Type") or "").split(";")[0]
        try:
            verified = parse_request(raw, content_type)
            bolt_request = AsyncBoltRequest(
                body=verified.text, query=request.query_string, headers=dict(request.headers)
            )
        except MalformedRequest as exc:
            return self._rejected(request, exc.status, str(exc))
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            return self._rejected(request, 400, f"unusable payload ({type(exc).__name__})")
        _repair_slash_command(bolt_request)
        bolt_response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    def _rejected(self, request: web.Request, status: int, reason: str) -> web.Response:
        log.warning(
            "rejected a Slack request from %s: %s",
            request.remote or "an unknown address",
            reason,
            extra={
                "event": "slack_request_rejected",
                "status": status,
                "reason": reason,
                "remote": request.remote,
            },
        )
        return web.json_response({"error": reason}, status=status)

    # -- slash command -------------------------------------------------------

    async def _on_command(self, ack: Any, command: dict[str, Any]) -> None:
        await ack()
        self.services.supervisor.spawn(
            f"slack-command:{command.get('trigger_id', '')}", self._run_command(command)
        )

    async def _run_command(self, command: dict[str, Any]) -> None:
        trigger = command.get("trigger_id") or uuid.uuid4().hex
        if not self.services.store.seen.first_time(SEEN_SOURCE, trigger, RETRY_WINDOW):
            log.info(
                "ignored a retried or replayed slash command (trigger %s)",
                trigger,
                extra={"event": "slack_retry"},
            )
            return
        user = command["user_id"]
        name = await self.names.name_of(user, command.get("user_name") or "")
        actor = Actor("slack", user, name, await self.groups.groups_of(user))
        slash = str(command.get("command") or "/testnet")  # /operator and /validator too
        text = f"{slash} {command.get('text', '')}".strip()
        responder = SlackResponder(self, command["channel_id"], command.get("response_url"), user)
        invocation = Invocation(
            actor=actor,
            text=text,
            responder=responder,
            trace_id=uuid.uuid4().hex[:12],
            channel=command["channel_id"],
        )
        task = self.dispatcher.submit(invocation)
        done, _ = await asyncio.wait({task}, timeout=WORKING_AFTER)
        if not done and responder.response_url:
            shown = text.removeprefix("/testnet ").strip()
            self.ephemeral(command["channel_id"], responder.response_url, f"Working on `{shown}`…")
        await task

    def ephemeral(self, channel: str, response_url: str, text: str) -> None:
        """Queue an ephemeral ``text`` for whoever ``response_url`` belongs to."""
        self.services.outbox.enqueue(
            f"slack-ephemeral:{channel}", "respond", {"response_url": response_url, "text": text}
        )

    def _edit(self, conf: Confirmation, status: str) -> None:
        if conf.message_key is None:
            return
        text = f"{conf.plan}\n{status}"
        self.services.outbox.enqueue(
            conf.destination,
            "update",
            {"text": text, "blocks": message_blocks(text)},
            message_key=conf.message_key,
        )

    # -- confirmations -------------------------------------------------------

    async def ask(self, responder: SlackResponder, request: ConfirmRequest) -> ConfirmResult:
        """Post a confirmation and wait for its outcome."""
        store = self.services.store
        timeout = min(request.timeout, self.config.confirm_timeout)
        conf, key = open_confirmation(store, request, responder.destination, timeout)
        blocks = confirmation_blocks(
            plan=request.plan,
            confirmation_id=conf.id,
            requester=request.requester.id,
            approvals=request.approvals,
            expires_in=timeout,
        )
        future: asyncio.Future[ConfirmResult] = asyncio.get_running_loop().create_future()
        self._waiters[conf.id] = future
        self.services.outbox.enqueue(
            responder.destination,
            "post",
            {"text": request.plan, "blocks": blocks, **responder_extra(responder)},
            message_key=key,
            priority=Priority.URGENT,  # people wait on the prompt: before edits and replies
        )
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            vote = store.confirmations.expire(conf.id)
            if vote.changed:
                minutes = max(1, round(timeout / 60))
                self._edit(conf, f"⌛ Expired after {minutes} min without approval; run it again.")
                return ConfirmResult(False, reason="expired without approval")
            return self._result(vote.confirmation)
        finally:
            self._waiters.pop(conf.id, None)

    def _result(self, conf: Confirmation) -> ConfirmResult:
        if conf.state == APPROVED:
            return ConfirmResult(
                True, tuple(self.names.known(a) for a in conf.approvers), "approved"
            )
        if conf.state == CANCELLED:
            return ConfirmResult(False, reason=f"cancelled by {self.names.known(conf.decided_by)}")
        return ConfirmResult(False, reason="expired without approval")

    async def _on_approve(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        self.services.supervisor.spawn(
            f"slack-approve:{action.get('value')}", self._vote(body, action, approve=True)
        )

    async def _on_cancel(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        self.services.supervisor.spawn(
            f"slack-cancel:{action.get('value')}", self._vote(body, action, approve=False)
        )

    async def _vote(self, body: dict[str, Any], action: dict[str, Any], *, approve: bool) -> None:
        store = self.services.store
        user = body["user"]["id"]
        channel_field = body.get("channel")
        channel = str(channel_field.get("id", "")) if isinstance(channel_field, dict) else ""
        response_url = body.get("response_url")

        def tell(text: str) -> None:
            if response_url:
                self.ephemeral(channel, response_url, text)

        conf = store.confirmations.get(str(action.get("value", "")))
        if conf is None:
            tell("I do not know this request any more; run the command again.")
            return
        handle = body["user"].get("username") or body["user"].get("name") or ""
        name = await self.names.name_of(user, handle)
        actor = Actor("slack", user, name, await self.groups.groups_of(user))
        allowed = conf.permission is None or self.services.permissions.has(actor, conf.permission)
        if approve and not allowed:
            tell(f"You need the `{conf.permission}` permission to approve `{conf.command}`.")
            return
        if not approve and not (allowed or user == conf.requester):
            tell(f"Only <@{conf.requester}> or someone with `{conf.permission}` may cancel this.")
            return
        vote = (store.confirmations.approve if approve else store.confirmations.cancel)(
            conf.id, user
        )
        conf = vote.confirmation
        if not vote.changed:
            tell(unchanged(conf, vote.note))
            if conf.state == EXPIRED and vote.note == EXPIRED:
                self._settle(conf)
            return
        if conf.state == APPROVED:
            names = ", ".join(f"<@{a}>" for a in conf.approvers)
            self._edit(conf, f"✅ Approved by {names}.")
        elif conf.state == CANCELLED:
            self._edit(conf, f"✖️ Cancelled by <@{user}>.")
        else:
            self._edit(conf, f"👍 <@{user}> approved; waiting for one more approver.")
            return
        self._settle(conf)

    def _settle(self, conf: Confirmation) -> None:
        future = self._waiters.get(conf.id)
        if future is not None and not future.done():
            future.set_result(self._result(conf))


def responder_extra(responder: SlackResponder) -> dict[str, Any]:
    """Payload fields every message of ``responder`` carries."""
    return {"response_url": responder.response_url} if responder.response_url else {}
