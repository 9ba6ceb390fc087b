"""The Slack fake is faithful: the real slack_sdk and slack-bolt clients run against it unchanged.

Covers the Web API through ``AsyncWebClient``, rate limits and faults as ``SlackApiError``,
a bolt ``AsyncApp`` mounted on a plain aiohttp server (signed requests, ack within the
request, 401 on a bad or stale signature, ``respond`` through the fake's response URLs),
and Socket Mode through slack_sdk's aiohttp ``SocketModeClient`` and bolt's handler.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack_api import ALICE, BOB, DEPLOYS, INCIDENTS, SlackFake
from tests.fakes.slack_signing import (
    bad_signature,
    sign,
    signed_block_actions,
    signed_slash_command,
    slash_command_body,
    stale_timestamp,
)

BOT_TOKEN = "xoxb-1111-2222-testnetbot"
APP_TOKEN = "xapp-1-A0TESTBOT-3333-socket"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
APPROVE_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Deploy *v0.62.0* to alpha?"}},
    {
        "type": "actions",
        "block_id": "confirm",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "text": {"type": "plain_text", "text": "Approve"},
                "style": "primary",
                "value": "run-42",
            },
            {
                "type": "button",
                "action_id": "cancel",
                "text": {"type": "plain_text", "text": "Cancel"},
                "value": "run-42",
            },
        ],
    },
]


@pytest.fixture
async def slack() -> AsyncIterator[SlackFake]:
    async with SlackFake(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        yield fake


@pytest.fixture
def client(slack: SlackFake) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)


# ---------------------------------------------------------------- Web API


async def test_post_then_update_in_place_keeps_history(
    client: AsyncWebClient, slack: SlackFake
) -> None:
    posted = await client.chat_postMessage(
        channel=DEPLOYS, text="Deploy v0.62.0 to alpha?", blocks=APPROVE_BLOCKS
    )
    assert posted["channel"] == DEPLOYS
    assert posted["message"]["blocks"] == APPROVE_BLOCKS

    updated = await client.chat_update(
        channel=DEPLOYS, ts=posted["ts"], text="Deploying v0.62.0…", blocks=[]
    )

    assert updated["ts"] == posted["ts"]
    [message] = slack.messages(DEPLOYS)
    assert message.ts == posted["ts"]
    assert [r.text for r in message.revisions] == ["Deploy v0.62.0 to alpha?", "Deploying v0.62.0…"]
    assert [r.via for r in message.revisions] == ["chat.postMessage", "chat.update"]
    assert message.edits == 1 and message.blocks == []
    # slack_sdk sends chat.* as JSON with the token in the Authorization header.
    [post_call] = slack.calls("chat.postMessage")
    assert post_call.encoding == "json" and post_call.token == BOT_TOKEN
    assert "token" not in post_call.params
    assert slack.calls("chat.update")[0].received_at >= post_call.received_at


async def test_thread_replies_and_permalinks(client: AsyncWebClient, slack: SlackFake) -> None:
    parent = await client.chat_postMessage(channel=INCIDENTS, text="Incident #7: blocks stalled")
    first = await client.chat_postMessage(
        channel=INCIDENTS, thread_ts=parent["ts"], text="Alert resolved"
    )
    # Replying to a reply lands in the same thread, as in Slack.
    second = await client.chat_postMessage(
        channel=INCIDENTS, thread_ts=first["ts"], text="Closing the issue"
    )

    replies = slack.messages(INCIDENTS, thread_ts=parent["ts"])
    assert [m.ts for m in replies] == [first["ts"], second["ts"]]
    assert second["message"]["thread_ts"] == parent["ts"]
    link = await client.chat_getPermalink(channel=INCIDENTS, message_ts=first["ts"])
    assert link["permalink"].startswith("https://testnet.slack.com/archives/C0INCIDNT/p")
    assert f"thread_ts={parent['ts']}" in link["permalink"]

    with pytest.raises(SlackApiError) as missing_parent:
        await client.chat_postMessage(channel=INCIDENTS, thread_ts="1.000001", text="lost")
    assert missing_parent.value.response["error"] == "thread_not_found"


async def test_ephemeral_and_read_methods(client: AsyncWebClient, slack: SlackFake) -> None:
    slack.set_usergroup("S0RELEASE", {ALICE, BOB})
    slack.set_usergroup("S0ONCALL", {BOB})

    await client.chat_postEphemeral(channel=DEPLOYS, user=ALICE, text="Only you can see this")
    info = await client.conversations_info(channel=DEPLOYS)
    user = await client.users_info(user=ALICE)
    release = await client.usergroups_users_list(usergroup="S0RELEASE")
    oncall = await client.usergroups_users_list(usergroup="S0ONCALL")
    auth = await client.auth_test()

    [ephemeral] = slack.ephemerals
    assert (ephemeral.channel, ephemeral.user, ephemeral.text) == (
        DEPLOYS,
        ALICE,
        "Only you can see this",
    )
    assert slack.messages(DEPLOYS) == []  # ephemerals are not stored in the channel
    assert info["channel"]["name"] == "deploys" and info["channel"]["is_member"] is True
    assert user["user"]["name"] == "alice"
    assert release["users"] == sorted([ALICE, BOB]) and oncall["users"] == [BOB]
    assert auth["user_id"] == slack.bot_user_id and auth["team_id"] == slack.team_id
    # Read methods go as GET with the arguments in the query string.
    assert slack.calls("usergroups.users.list")[0].encoding == "query"
    assert release.headers["x-oauth-scopes"].split(",") == sorted(slack.scopes)


async def test_form_encoded_and_json_bodies_are_read_as_slack_reads_them(
    client: AsyncWebClient, slack: SlackFake
) -> None:
    # Form-encoded: blocks travel as a JSON string in one field.
    await client.api_call(
        "chat.postMessage",
        data={"channel": DEPLOYS, "text": "form", "blocks": json.dumps(APPROVE_BLOCKS)},
    )
    [message] = slack.messages(DEPLOYS)
    assert message.blocks == APPROVE_BLOCKS
    assert slack.calls("chat.postMessage")[0].encoding == "form"

    # A JSON body is only read by write methods: a read method ignores it, as Slack does.
    with pytest.raises(SlackApiError) as ignored:
        await client.api_call("conversations.info", json={"channel": DEPLOYS})
    assert ignored.value.response["error"] == "channel_not_found"

    # The legacy token-in-body form is accepted too.
    anonymous = AsyncWebClient(base_url=slack.api_url)
    await anonymous.api_call("auth.test", data={"token": BOT_TOKEN})
    assert slack.calls("auth.test")[-1].token == BOT_TOKEN


@pytest.mark.parametrize(
    ("token", "method", "kwargs", "error"),
    [
        ("xoxb-wrong", "chat_postMessage", {"channel": DEPLOYS, "text": "x"}, "invalid_auth"),
        (None, "auth_test", {}, "not_authed"),
        (
            APP_TOKEN,
            "chat_postMessage",
            {"channel": DEPLOYS, "text": "x"},
            "not_allowed_token_type",
        ),
        (BOT_TOKEN, "chat_postMessage", {"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
        (BOT_TOKEN, "chat_postMessage", {"channel": DEPLOYS}, "no_text"),
        (
            BOT_TOKEN,
            "chat_update",
            {"channel": DEPLOYS, "ts": "1.1", "text": "x"},
            "message_not_found",
        ),
        (BOT_TOKEN, "usergroups_users_list", {"usergroup": "S0NOPE"}, "no_such_subteam"),
        (BOT_TOKEN, "users_info", {"user": "U0NOPE"}, "user_not_found"),
    ],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_errors_are_slack_api_errors(
    slack: SlackFake, token: str | None, method: str, kwargs: dict[str, Any], error: str
) -> None:
    web_client = AsyncWebClient(token=token, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as raised:
        await getattr(web_client, method)(**kwargs)
    assert raised.value.response.status_code == 200
    assert raised.value.response["ok"] is False
    assert raised.value.response["error"] == error
    assert slack.calls()[-1].error == error


async def test_revoked_token_and_missing_scope(client: AsyncWebClient, slack: SlackFake) -> None:
    slack.scopes.discard("usergroups:read")
    with pytest.raises(SlackApiError) as scope:
        await client.usergroups_users_list(usergroup="S0RELEASE")
    assert scope.value.response["error"] == "missing_scope"
    assert scope.value.response["needed"] == "usergroups:read"
    assert "usergroups:read" not in scope.value.response["provided"].split(",")
    assert "chat:write" in scope.value.response["provided"].split(",")

    slack.revoke(BOT_TOKEN)
    with pytest.raises(SlackApiError) as revoked:
        await client.chat_postMessage(channel=DEPLOYS, text="still here?")
    assert revoked.value.response["error"] == "token_revoked"
    assert slack.messages(DEPLOYS) == []


async def test_rate_limit_surfaces_with_retry_after_and_is_not_retried_by_default(
    client: AsyncWebClient, slack: SlackFake
) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=2)

    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel=DEPLOYS, text="first try")

    response = limited.value.response
    assert response.status_code == 429
    assert response["error"] == "ratelimited"
    assert response.headers["Retry-After"] == "2"
    assert int(response.headers["retry-after"]) == 2  # aiohttp's headers are case-insensitive
    # slack_sdk's default retry handlers only retry connection errors: one call, no retry.
    assert slack.count("chat.postMessage") == 1
    assert slack.messages(DEPLOYS) == []
    # The fault is used up: the caller's own retry goes through.
    await client.chat_postMessage(channel=DEPLOYS, text="second try")
    assert [m.text for m in slack.messages(DEPLOYS)] == ["second try"]
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 200]


async def test_rate_limit_retry_handler_is_opt_in(slack: SlackFake) -> None:
    retrying = AsyncWebClient(
        token=BOT_TOKEN,
        base_url=slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    slack.fail_next("chat.postMessage", status=429, retry_after=0)

    await retrying.chat_postMessage(channel=DEPLOYS, text="eventually")

    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 200]
    assert [m.text for m in slack.messages(DEPLOYS)] == ["eventually"]


async def test_server_errors_and_ok_false_faults(client: AsyncWebClient, slack: SlackFake) -> None:
    posted = await client.chat_postMessage(channel=DEPLOYS, text="v1")
    slack.fail_next("chat.update", status=503)
    slack.fail_next("chat.update", error="edit_window_closed")

    with pytest.raises(SlackApiError) as unavailable:
        await client.chat_update(channel=DEPLOYS, ts=posted["ts"], text="v2")
    with pytest.raises(SlackApiError) as closed:
        await client.chat_update(channel=DEPLOYS, ts=posted["ts"], text="v2")

    assert unavailable.value.response.status_code == 503
    assert closed.value.response.status_code == 200
    assert closed.value.response["error"] == "edit_window_closed"
    assert [c.fault for c in slack.calls("chat.update")] == [True, True]
    assert slack.message(DEPLOYS, posted["ts"]).edits == 0


async def test_slow_fault_times_the_client_out(slack: SlackFake) -> None:
    impatient = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url, timeout=0.2)  # type: ignore[arg-type]
    slack.fail_next("chat.postMessage", delay=30)

    with pytest.raises(asyncio.TimeoutError):
        await impatient.chat_postMessage(channel=DEPLOYS, text="too slow")

    # The fake is still answering the abandoned call; leaving the fixture must not wait 30 s.
    assert slack.count("chat.postMessage") == 0


# ---------------------------------------------------------------- bolt over HTTP


@dataclass
class BoltServer:
    """A bolt AsyncApp mounted at /slack/events on a plain aiohttp server, and what it saw."""

    app: AsyncApp
    url: str
    session: aiohttp.ClientSession
    commands: list[dict[str, Any]] = field(default_factory=list)
    retry_headers: list[str | None] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str, str]:
        """POST to /slack/events; (status, content type, body)."""
        async with self.session.post(self.url, data=body, headers=headers) as response:
            return response.status, response.content_type, await response.text()


def mount_bolt(app: AsyncApp, web_app: web.Application, path: str = "/slack/events") -> None:
    """Serve ``app`` at ``path`` of an existing aiohttp application (bolt 1.30 adapter helpers)."""

    async def slack_events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        bolt_response = await app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    web_app.router.add_post(path, slack_events)


@pytest.fixture
async def bolt(client: AsyncWebClient) -> AsyncIterator[BoltServer]:
    app = AsyncApp(client=client, signing_secret=SECRET)
    web_app = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    web_app.router.add_get("/healthz", healthz)
    mount_bolt(app, web_app)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    async with aiohttp.ClientSession() as session:
        server = BoltServer(app, f"http://{host}:{port}/slack/events", session)
        yield server
    await runner.cleanup()


def register_testnet_command(server: BoltServer) -> None:
    """/testnet acks at once, then waits for the test before doing its slow work."""

    @server.app.command("/testnet")
    async def testnet(
        ack: Any, command: dict[str, Any], respond: Any, client: Any, request: Any
    ) -> None:
        await ack()
        server.commands.append(command)
        server.retry_headers.append(request.headers.get("x-slack-retry-num", [None])[0])
        await server.release.wait()
        await respond(f"Deploying {command['text'].split()[-1]}…")
        await client.chat_postMessage(channel=command["channel_id"], text="Deploy started")
        server.done.set()


async def test_signed_slash_command_is_acked_before_the_work_runs(
    bolt: BoltServer, slack: SlackFake
) -> None:
    register_testnet_command(bolt)
    fields = slack.slash_command("deploy v0.62.0", user_id=ALICE, channel_id=DEPLOYS)
    request = signed_slash_command(fields, SECRET)
    assert slack.count("auth.test") == 0  # bolt has not called Slack yet

    status, _, body = await bolt.post(request.body, request.headers)

    # The HTTP answer came while the listener was still blocked: the ack is in the request.
    assert (status, body) == (200, "")
    assert not bolt.done.is_set()
    assert slack.responses() == []
    bolt.release.set()
    await asyncio.wait_for(bolt.done.wait(), 5)
    [reply] = slack.responses(fields["response_url"])
    assert (reply.status, reply.outcome) == (200, "ephemeral")
    assert slack.ephemerals[-1].text == "Deploying v0.62.0…"
    assert slack.ephemerals[-1].user == ALICE and slack.ephemerals[-1].via == "response_url"
    assert [m.text for m in slack.messages(DEPLOYS)] == ["Deploy started"]
    assert bolt.commands[0]["user_id"] == ALICE and bolt.retry_headers == [None]
    assert slack.count("auth.test") == 1  # lazily, on the first request

    # A retried delivery is signed the same way and carries X-Slack-Retry-Num.
    bolt.done.clear()
    retry = signed_slash_command(slack.slash_command("deploy v0.62.1"), SECRET, retry_num=1)
    assert (await bolt.post(retry.body, retry.headers))[0] == 200
    await asyncio.wait_for(bolt.done.wait(), 5)
    assert bolt.retry_headers == [None, "1"]
    assert slack.count("auth.test") == 1  # cached after the first request


async def test_ack_with_content_answers_in_the_http_response(
    bolt: BoltServer, slack: SlackFake
) -> None:
    @bolt.app.command("/testnet")
    async def testnet(ack: Any, command: dict[str, Any]) -> None:
        if command["text"] == "help":
            await ack("Usage: /testnet deploy <version>")
        else:
            await ack(text="Deploying…", response_type="in_channel")

    help_request = signed_slash_command(slack.slash_command("help"), SECRET)
    deploy_request = signed_slash_command(slack.slash_command("deploy v0.62.0"), SECRET)
    help_answer = await bolt.post(help_request.body, help_request.headers)
    deploy_answer = await bolt.post(deploy_request.body, deploy_request.headers)

    # Text alone comes back as a text/plain body; anything more as JSON.
    assert help_answer == (200, "text/plain", "Usage: /testnet deploy <version>")
    assert deploy_answer[:2] == (200, "application/json")
    assert json.loads(deploy_answer[2]) == {"text": "Deploying…", "response_type": "in_channel"}
    assert slack.responses() == []  # nothing went through the response URL


@pytest.mark.parametrize(
    "forgery", ["bad_signature", "stale_timestamp", "future_timestamp", "unsigned"]
)
async def test_bad_signature_or_stale_timestamp_is_401(
    bolt: BoltServer, slack: SlackFake, forgery: str
) -> None:
    register_testnet_command(bolt)
    fields = slack.slash_command("rollback")
    body = slash_command_body(fields)
    if forgery == "bad_signature":
        ts = int(time.time())
        forged = bad_signature(body, SECRET, ts)
        request = signed_slash_command(fields, SECRET, timestamp=ts, signature=forged)
    elif forgery == "stale_timestamp":
        ts = stale_timestamp()
        request = signed_slash_command(fields, SECRET, timestamp=ts)
        assert request.headers["X-Slack-Signature"] == sign(body, SECRET, ts)  # valid but old
    elif forgery == "future_timestamp":
        request = signed_slash_command(fields, SECRET, timestamp=stale_timestamp(age=-400))
    else:
        request = signed_slash_command(fields, SECRET)
        del request.headers["X-Slack-Signature"]

    status, _, _ = await bolt.post(request.body, request.headers)

    assert status == 401
    assert bolt.commands == []
    assert slack.count() == 0  # rejected before bolt's lazy auth.test


async def test_block_action_respond_replaces_the_original_message(
    bolt: BoltServer, client: AsyncWebClient, slack: SlackFake
) -> None:
    clicked: list[tuple[str, str]] = []

    @bolt.app.action("approve")
    async def approve(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        clicked.append((body["user"]["id"], action["value"]))
        await respond(replace_original=True, text=f"Approved by <@{body['user']['id']}>")
        bolt.done.set()

    posted = await client.chat_postMessage(channel=DEPLOYS, text="Deploy?", blocks=APPROVE_BLOCKS)
    payload = slack.block_action("approve", value="run-42", user_id=BOB, message_ts=posted["ts"])
    assert payload["message"]["blocks"] == APPROVE_BLOCKS  # the payload carries the real message
    request = signed_block_actions(payload, SECRET)

    status, _, body = await bolt.post(request.body, request.headers)
    await asyncio.wait_for(bolt.done.wait(), 5)

    assert (status, body) == (200, "")
    assert clicked == [(BOB, "run-42")]
    message = slack.message(DEPLOYS, posted["ts"])
    assert [r.via for r in message.revisions] == ["chat.postMessage", "response_url"]
    assert message.text == f"Approved by <@{BOB}>" and message.blocks is None
    assert slack.count("chat.postMessage") == 1  # updated in place, nothing new posted


async def test_response_urls_expire_and_allow_five_uses(slack: SlackFake) -> None:
    url = slack.response_url(channel_id=DEPLOYS, user_id=ALICE)
    expired = slack.response_url()
    slack.expire_response_url(expired)

    # bolt's respond() is slack_sdk's AsyncWebhookClient: it reports failures, never raises.
    answers = [await AsyncWebhookClient(url).send(text=f"step {n}") for n in range(6)]
    late = await AsyncWebhookClient(expired).send(text="late")
    empty = await AsyncWebhookClient(slack.response_url()).send_dict({"response_type": "ephemeral"})
    garbage = await AsyncWebhookClient(slack.response_url()).send_dict({})  # sends "null"
    shown = await AsyncWebhookClient(slack.response_url()).send(
        text="Deploy finished", response_type="in_channel"
    )

    assert [(a.status_code, a.body) for a in answers] == [(200, "ok")] * 5 + [(404, "used_url")]
    assert (late.status_code, late.body) == (404, "expired_url")
    assert (empty.status_code, empty.body) == (400, "no_text")
    assert (garbage.status_code, garbage.body) == (400, "invalid_payload")
    assert shown.status_code == 200
    assert [e.text for e in slack.ephemerals] == [f"step {n}" for n in range(5)]
    assert [m.text for m in slack.messages(DEPLOYS)] == ["Deploy finished"]
    assert [p.outcome for p in slack.responses(url)][-1] == "used_url"


async def test_text_mentioning_payload_is_lost_by_bolt_130_parser(
    bolt: BoltServer, slack: SlackFake
) -> None:
    """Pins an upstream bolt 1.30 bug the Slack adapter must work around (see the dev notes).

    ``parse_body`` treats any form body containing the substring "payload" as an
    interactivity payload, finds no ``payload`` field, and dispatches an empty body.
    """
    register_testnet_command(bolt)
    bolt.release.set()
    request = signed_slash_command(slack.slash_command("sanity --show payload"), SECRET)

    status, _, body = await bolt.post(request.body, request.headers)

    assert status == 404 and "unhandled request" in body
    assert bolt.commands == []


# ---------------------------------------------------------------- Socket Mode


@dataclass
class SocketClientRun:
    """A real slack_sdk SocketModeClient that acks every envelope, and what it received."""

    client: SocketModeClient
    requests: list[SocketModeRequest] = field(default_factory=list)


def ack_with_text(run: SocketClientRun) -> Callable[..., Awaitable[None]]:
    """A request listener that records each envelope and acks it (with text for commands)."""

    async def listener(client: SocketModeClient, request: SocketModeRequest) -> None:
        run.requests.append(request)
        payload = {"text": "on it"} if request.type == "slash_commands" else None
        await client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload=payload)
        )

    return listener


@pytest.fixture
async def socket_client(slack: SlackFake, client: AsyncWebClient) -> AsyncIterator[SocketClientRun]:
    run = SocketClientRun(SocketModeClient(app_token=APP_TOKEN, web_client=client))
    run.client.socket_mode_request_listeners.append(ack_with_text(run))
    try:
        yield run
    finally:
        await run.client.close()


async def test_socket_mode_client_connects_and_acks_a_slash_command(
    slack: SlackFake, socket_client: SocketClientRun
) -> None:
    await socket_client.client.connect()
    await slack.wait_for_socket()

    envelope_id = await slack.socket_send_slash_command("status", user_id=BOB)
    ack = await slack.wait_for_ack(envelope_id)

    assert ack.payload == {"text": "on it"} and ack.connection == 1
    [request] = socket_client.requests
    assert request.type == "slash_commands" and request.accepts_response_payload is True
    assert request.payload["text"] == "status" and request.payload["user_id"] == BOB
    [opened] = slack.calls("apps.connections.open")
    assert opened.token == APP_TOKEN and opened.error is None


async def test_socket_mode_client_reconnects_when_asked_or_dropped(
    slack: SlackFake, socket_client: SocketClientRun
) -> None:
    await socket_client.client.connect()
    await slack.wait_for_socket()

    await slack.socket_disconnect("refresh_requested")
    await slack.wait_for_socket(opened=2)
    await slack.wait_until(lambda: slack.socket_connections == 1)  # the client closed the old one
    first = await slack.wait_for_ack(await slack.socket_send_slash_command("after refresh"))

    await slack.socket_drop()
    await slack.wait_for_socket(opened=3)
    second = await slack.wait_for_ack(await slack.socket_send_block_action("approve"))

    assert (first.connection, second.connection) == (2, 3)
    assert second.payload is None  # block actions are acked without a payload
    assert slack.count("apps.connections.open") == 3  # a fresh URL for each connection


async def test_bolt_socket_mode_handler_acks_commands_and_actions(
    slack: SlackFake, client: AsyncWebClient
) -> None:
    app = AsyncApp(client=client)  # no signing secret is needed in Socket Mode
    actions: list[str] = []

    @app.command("/testnet")
    async def testnet(ack: Any, command: dict[str, Any]) -> None:
        await ack(f"Running `{command['text']}`")

    @app.action("cancel")
    async def cancel(ack: Any, action: dict[str, Any]) -> None:
        await ack()
        actions.append(action["value"])

    handler = AsyncSocketModeHandler(app, app_token=APP_TOKEN)
    try:
        await handler.connect_async()
        await slack.wait_for_socket()
        command_ack = await slack.wait_for_ack(await slack.socket_send_slash_command("sanity"))
        action_ack = await slack.wait_for_ack(
            await slack.socket_send_block_action("cancel", value="run-42")
        )
    finally:
        await handler.close_async()

    assert command_ack.payload == {"text": "Running `sanity`"}
    assert action_ack.payload is None and actions == ["run-42"]
    assert slack.count("auth.test") == 1  # bolt authorizes lazily here too


async def test_fake_refuses_socket_urls_without_a_fresh_ticket(slack: SlackFake) -> None:
    opened = await AsyncWebClient(base_url=slack.api_url).apps_connections_open(app_token=APP_TOKEN)
    with pytest.raises(SlackApiError) as wrong_token:
        await AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url).apps_connections_open(
            app_token=BOT_TOKEN
        )
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(opened["url"]) as ws:
            hello = await ws.receive_json()
        with pytest.raises(aiohttp.WSServerHandshakeError) as reused:
            await session.ws_connect(opened["url"])

    assert wrong_token.value.response["error"] == "not_allowed_token_type"
    assert hello["type"] == "hello" and hello["connection_info"]["app_id"] == slack.app_id
    assert reused.value.status == 401
    await slack.wait_until(lambda: slack.socket_connections == 0)
