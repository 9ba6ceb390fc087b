"""Log lines: JSON off a terminal with the command's context, secrets scrubbed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import configure_logging, log_context


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_testnet_bot", False):
            root.removeHandler(handler)


def test_json_lines_carry_the_command_context(stream: io.StringIO) -> None:
    configure_logging(fmt="auto", stream=stream)  # a StringIO is not a terminal: JSON
    log = logging.getLogger("testnet_bot.test")
    with log_context(trace_id="abc123", command="deploy", actor="alice", network="alpha"):
        log.info("rolled %d pods", 48, extra={"event": "rolled"})
    log.info("outside")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "rolled" and first["message"] == "rolled 48 pods"
    assert (first["trace_id"], first["command"], first["actor"], first["network"]) == (
        "abc123",
        "deploy",
        "alice",
        "alpha",
    )
    assert first["level"] == "info" and "ts" in first
    assert "trace_id" not in second


def test_secrets_are_scrubbed_from_messages_arguments_and_tracebacks(stream: io.StringIO) -> None:
    configure_logging(fmt="json", stream=stream, secrets=["xoxb-very-secret", "ab"])
    log = logging.getLogger("testnet_bot.test")
    log.warning("token is %s", "xoxb-very-secret")
    try:
        raise RuntimeError("failed with xoxb-very-secret")
    except RuntimeError:
        log.exception("boom")
    text = stream.getvalue()
    assert "xoxb-very-secret" not in text
    assert text.count("***") >= 2


def test_text_format_on_request(stream: io.StringIO) -> None:
    configure_logging(fmt="text", stream=stream)
    with log_context(trace_id="t1"):
        logging.getLogger("testnet_bot.test").warning("hello")
    line = stream.getvalue().strip()
    assert "WARNING" in line and "hello" in line and "trace_id=t1" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_a_secret_with_quotes_is_scrubbed_from_json_fields(stream: io.StringIO) -> None:
    secret = 'pa"ss\\word-1234'
    configure_logging(fmt="json", stream=stream, secrets=[secret])
    logging.getLogger("testnet_bot.test").info("login", extra={"password": secret})
    line = json.loads(stream.getvalue())
    assert line["password"] == "***"
    assert "pa\\\"ss" not in stream.getvalue()
