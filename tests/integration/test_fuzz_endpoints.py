"""Whatever a client sends to any endpoint, the bot answers below 500, logs no ERROR,
and a refused request changes nothing: no audit entry, outbox item, incident, alert,
confirmation or remembered request, and no Web API call at the Slack fake.

The real bot (with the Slack fake and the Alertmanager webhook enabled) runs in a
thread of its own with a real bound port; hypothesis writes raw HTTP/1.1 requests to
it over a socket, so methods, paths, header bytes, content types and bodies are all
free. Slack requests are signed correctly in a share of the examples, so the checks
after the signature are reached too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.app import Bot
from tests.fakes import alert_payloads
from tests.fakes.slack_api import ALICE, DEPLOYS, SlackFake
from tests.fakes.slack_signing import sign, stale_timestamp
from tests.harness import make_config

SECRET = "signing-secret-for-fuzzing"
BEARER = "alertmanager-token-for-fuzzing"
TABLES = ("audit", "outbox", "incidents", "alerts", "confirmations", "seen_requests", "runs")
SNAPSHOT = (*TABLES, "slack calls", "ephemerals", "response posts")
PATHS = ["/slack/events", "/hooks/alertmanager", "/healthz", "/readyz", "/metrics", "/"]


@dataclass
class RunningBot:
    """The bot on its own event loop in a thread, and what the test reads of it."""

    port: int
    db: Path
    slack: SlackFake
    bot: Bot = field(repr=False)
    loop: asyncio.AbstractEventLoop = field(repr=False)
    errors: list[logging.LogRecord] = field(default_factory=list, repr=False)

    def settle(self) -> None:
        """Wait (in the bot's loop) until everything an accepted request queued is sent."""
        done = asyncio.run_coroutine_threadsafe(
            self.bot.services.outbox.wait_delivered(timeout=20), self.loop
        )
        assert done.result(30), "the outbox did not drain"

    def snapshot(self) -> tuple[int, ...]:
        """Row counts of every table a request could change, and the count of Web API
        calls that act on the workspace (slack-bolt's read-only ``auth.test``, made once
        on the first signed request it handles, is left out)."""
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            counts = [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES]
        finally:
            conn.close()
        acting = [call for call in list(self.slack.requests) if call.method != "auth.test"]
        return (*counts, len(acting), len(self.slack.ephemerals), len(self.slack.response_posts))


class _ErrorCollector(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


@pytest.fixture(scope="module")
def running_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    tmp_path = tmp_path_factory.mktemp("fuzz")
    started = threading.Event()
    stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
    holder: list[RunningBot] = []
    failure: list[BaseException] = []

    async def serve() -> None:
        async with SlackFake() as slack:
            config = make_config(
                tmp_path,
                chat={
                    "slack": {
                        "bot_token": slack.bot_token,
                        "signing_secret": SECRET,
                        "api_url": slack.api_url,
                    }
                },
                alertmanager={"bearer_token": BEARER},
                networks={"alpha": {"namespace": "alpha", "image": "x"}},
            )
            async with Bot(config) as bot:
                assert bot.url is not None
                holder.append(
                    RunningBot(
                        int(bot.url.rsplit(":", 1)[1]),
                        tmp_path / "bot.db",
                        slack,
                        bot,
                        asyncio.get_running_loop(),
                    )
                )
                stop.append((asyncio.get_running_loop(), asyncio.Event()))
                started.set()
                await stop[0][1].wait()

    def thread_main() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by the fixture
            failure.append(exc)
            started.set()

    collector = _ErrorCollector([])
    logging.getLogger().addHandler(collector)
    thread = threading.Thread(target=thread_main, name="fuzzed-bot", daemon=True)
    thread.start()
    assert started.wait(30), "the bot did not start"
    if failure:
        raise failure[0]
    running = holder[0]
    running.errors = collector.sink
    loop, stopping = stop[0]
    try:
        yield running
    finally:
        loop.call_soon_threadsafe(stopping.set)
        thread.join(30)
        logging.getLogger().removeHandler(collector)


# ---------------------------------------------------------------- request strategies

header_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
"""Any bytes but CR and LF: aiohttp refuses control characters itself (400)."""
header_values = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40).map(
        lambda t: t.encode("latin-1")
    ),
    header_bytes,
)
token_chars = st.sampled_from(list(b"abcdefghijklmnopqrstuvwxyz-ABCXYZ0123456789"))
header_names = st.lists(token_chars, min_size=1, max_size=12).map(bytes)
content_types = st.sampled_from(
    [
        b"application/json",
        b"application/x-www-form-urlencoded",
        b"application/x-www-form-urlencoded; charset=utf-8",
        b"text/plain",
        b"multipart/form-data; boundary=x",
        b"application/json; charset=latin-1",
        b"",
        b"\xff\xfe",
    ]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
slack_keys = st.sampled_from(
    [
        "type",
        "user",
        "channel",
        "team",
        "enterprise",
        "actions",
        "event",
        "container",
        "message",
        "authorizations",
        "challenge",
        "trigger_id",
        "token",
        "api_app_id",
    ]
)


@st.composite
def slack_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """Interactivity-shaped objects: right keys, any values (never a response_url)."""
    payload = draw(st.dictionaries(slack_keys, json_values, max_size=6))
    if draw(st.booleans()):
        payload["type"] = draw(
            st.sampled_from(["block_actions", "url_verification", "view_submission"])
        )
    if draw(st.booleans()):
        payload["user"] = {"id": draw(st.sampled_from([ALICE, "", "U0NOBODY"]))}
    if draw(st.booleans()):
        payload["actions"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"action_id": st.sampled_from(["confirm_approve", "confirm_cancel", "x"])},
                    optional={"value": json_values, "block_id": json_values},
                )
                | json_values,
                max_size=2,
            )
        )
    return payload


form_keys = st.sampled_from(
    ["command", "text", "channel_id", "team_id", "trigger_id", "payload", "token", "x"]
)


@st.composite
def slack_bodies(draw: st.DrawFn) -> bytes:
    """Bodies near what Slack sends: forms (never a complete slash command: no user_id),
    payload fields with JSON inside, JSON documents, and plain bytes."""
    kind = draw(st.sampled_from(["form", "payload", "json", "bytes"]))
    if kind == "form":
        fields = draw(st.dictionaries(form_keys, st.text(max_size=20), max_size=5))
        return urlencode(fields).encode()
    if kind == "payload":
        inner = draw(slack_payloads() | json_values)
        return urlencode({"payload": json.dumps(inner)}).encode()
    if kind == "json":
        return json.dumps(draw(slack_payloads() | json_values)).encode()
    return draw(st.binary(max_size=200))


@st.composite
def alertmanager_bodies(draw: st.DrawFn) -> bytes:
    """A real notification with one part broken, JSON of any shape, or bytes."""
    kind = draw(st.sampled_from(["broken", "json", "bytes"]))
    if kind == "broken":
        doc = alert_payloads.notification([alert_payloads.alert({"alertname": "Fuzz"})])
        key = draw(st.sampled_from(sorted(doc)))
        if draw(st.booleans()):
            del doc[key]
        else:
            doc[key] = draw(json_values.filter(lambda v: type(v) is not type(doc[key])))
        if draw(st.booleans()) and isinstance(doc.get("alerts"), list) and doc["alerts"]:
            first = doc["alerts"][0]
            part = draw(st.sampled_from(sorted(first)))
            first[part] = draw(json_values.filter(lambda v: type(v) is not type(first[part])))
        return json.dumps(doc).encode()
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    return draw(st.binary(max_size=200))


@dataclass(frozen=True)
class RawRequest:
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def encode(self, port: int) -> bytes:
        lines = [
            self.method + b" " + self.target + b" HTTP/1.1",
            f"Host: 127.0.0.1:{port}".encode(),
        ]
        lines += [name + b": " + value for name, value in self.headers]
        lines += [f"Content-Length: {len(self.body)}".encode(), b"Connection: close"]
        return b"\r\n".join(lines) + b"\r\n\r\n" + self.body


@st.composite
def requests(draw: st.DrawFn) -> RawRequest:
    method = draw(
        st.sampled_from([b"POST"] * 12 + [b"GET", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH"])
    )
    main = ["/slack/events"] * 5 + ["/hooks/alertmanager"] * 4
    path = draw(st.sampled_from([*main, *PATHS, "random"]))
    if path == "random":
        target = b"/" + draw(st.binary(max_size=20)).replace(b" ", b"").replace(b"\r", b"").replace(
            b"\n", b""
        )
    else:
        target = path.encode() + draw(st.sampled_from([b"", b"?a=1", b"?%ff=%fe", b"?x"]))
    headers = [(b"Content-Type", draw(content_types))]
    headers += draw(st.lists(st.tuples(header_names, header_values), max_size=2))
    if path == "/hooks/alertmanager":
        body = draw(alertmanager_bodies())
        auth = draw(
            st.sampled_from([b"Bearer " + BEARER.encode(), b"Bearer wrong", b"Basic !!", b"", b"x"])
            | header_values.map(lambda b: b"Bearer " + b)
        )
        headers.append((b"Authorization", auth))
    else:
        body = draw(slack_bodies())
        signing = draw(st.sampled_from(["valid", "valid", "forged", "stale", "bad-ts", "none"]))
        if signing != "none":
            ts: bytes = str(stale_timestamp() if signing == "stale" else _now()).encode()
            if signing == "bad-ts":
                ts = draw(
                    st.sampled_from([b"soon", b"1e9", b"-5", b"\xff", b"99999999999999999999"])
                )
            secret = SECRET + ("-forged" if signing == "forged" else "")
            signature = sign(body, secret, ts.decode(errors="replace")).encode()
            headers += [(b"X-Slack-Request-Timestamp", ts), (b"X-Slack-Signature", signature)]
    return RawRequest(method, target, headers, body)


def _now() -> int:
    return int(time.time())


def send(port: int, request: RawRequest) -> int:
    """Write ``request`` to the bot and return the status code of its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request.encode(port))
        answer = b""
        while b"\r\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1."), f"no HTTP answer: {answer[:100]!r}"
    return int(status_line.split()[1])


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(request=requests())
def test_no_request_gets_a_5xx_or_changes_anything_when_refused(
    running_bot: RunningBot, request: RawRequest
) -> None:
    before = running_bot.snapshot()
    status = send(running_bot.port, request)
    event(f"{request.target.split(b'?')[0][:20]!r} -> {status}")
    assert status < 500, request
    assert not running_bot.errors, [r.getMessage() for r in running_bot.errors]
    if status < 300:
        running_bot.settle()  # an accepted webhook's messages go out before the next request
    if status >= 300 or request.target.startswith(b"/slack/events"):
        after = running_bot.snapshot()
        changed = {
            what: (was, now)
            for what, was, now in zip(SNAPSHOT, before, after, strict=True)
            if was != now
        }
        assert not changed, (status, request, changed)


def test_the_fuzzed_bot_still_serves_a_good_request(running_bot: RunningBot) -> None:
    """The bad case's neighbour: a correctly signed slash command is accepted and runs."""
    body = urlencode(
        running_bot.slack.slash_command("help", user_id=ALICE, channel_id=DEPLOYS)
    ).encode()
    ts = str(_now())
    request = RawRequest(
        b"POST",
        b"/slack/events",
        [
            (b"Content-Type", b"application/x-www-form-urlencoded"),
            (b"X-Slack-Request-Timestamp", ts.encode()),
            (b"X-Slack-Signature", sign(body, SECRET, ts).encode()),
        ],
        body,
    )
    before = running_bot.snapshot()
    assert send(running_bot.port, request) == 200
    deadline = time.monotonic() + 10
    while running_bot.snapshot() == before:
        assert time.monotonic() < deadline, "the command never ran"
        time.sleep(0.05)
