"""Build Slack's HTTP requests to the bot's ``/slack/events`` exactly as Slack signs them.

Slack signs the raw body: ``X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret,
"v0:{timestamp}:{body}")>`` with the Unix time in ``X-Slack-Request-Timestamp``. A receiver
rejects a wrong signature and a timestamp more than five minutes from its clock::

    request = signed_slash_command(slack.slash_command("deploy v0.62.0"), SECRET)
    async with session.post(url, data=request.body, headers=request.headers) as resp:
        assert resp.status == 200

    stale = signed_slash_command(fields, SECRET, timestamp=stale_timestamp())   # → 401
    forged = signed_slash_command(fields, SECRET, signature=bad_signature(...))  # → 401

Slash commands are form-encoded fields; interactivity (``block_actions``) is one form field
``payload`` holding the JSON payload. Retries carry ``X-Slack-Retry-Num`` and
``X-Slack-Retry-Reason``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
MAX_AGE_SECONDS = 5 * 60


@dataclass(frozen=True)
class SignedRequest:
    """A body and the headers Slack would send with it."""

    body: bytes
    headers: dict[str, str]


def sign(body: bytes | str, secret: str, timestamp: int | str) -> str:
    """Slack's ``X-Slack-Signature`` value for ``body`` sent at ``timestamp``."""
    raw = body.encode() if isinstance(body, str) else body
    base = b"v0:" + str(timestamp).encode() + b":" + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def bad_signature(body: bytes | str, secret: str, timestamp: int | str) -> str:
    """A well-formed signature that does not verify: the same body signed with another secret."""
    return sign(body, secret + "-but-wrong", timestamp)


def stale_timestamp(*, now: float | None = None, age: int = MAX_AGE_SECONDS + 60) -> int:
    """A timestamp ``age`` seconds in the past (default: one minute past Slack's 5-min window)."""
    return int(time.time() if now is None else now) - age


def signed_headers(
    body: bytes | str,
    secret: str,
    *,
    timestamp: int | None = None,
    signature: str | None = None,
    content_type: str = FORM_CONTENT_TYPE,
    retry_num: int | None = None,
    retry_reason: str | None = None,
) -> dict[str, str]:
    """The headers Slack sends with ``body``: content type, timestamp, signature, retries.

    ``timestamp`` defaults to now; ``signature`` overrides the computed one (see
    :func:`bad_signature`).
    """
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": content_type,
        "User-Agent": SLACK_USER_AGENT,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature if signature is not None else sign(body, secret, ts),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
    return headers


def slash_command_body(fields: Mapping[str, str]) -> bytes:
    """Form-encode slash-command fields the way Slack posts them."""
    return urlencode(dict(fields)).encode()


def block_actions_body(payload: Mapping[str, Any]) -> bytes:
    """Form-encode an interactivity payload: one ``payload`` field holding compact JSON."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def signed_slash_command(
    fields: Mapping[str, str],
    secret: str,
    *,
    timestamp: int | None = None,
    signature: str | None = None,
    retry_num: int | None = None,
    retry_reason: str | None = None,
) -> SignedRequest:
    """A slash-command request as Slack sends it to the app's request URL."""
    body = slash_command_body(fields)
    headers = signed_headers(
        body,
        secret,
        timestamp=timestamp,
        signature=signature,
        retry_num=retry_num,
        retry_reason=retry_reason,
    )
    return SignedRequest(body, headers)


def signed_block_actions(
    payload: Mapping[str, Any],
    secret: str,
    *,
    timestamp: int | None = None,
    signature: str | None = None,
    retry_num: int | None = None,
    retry_reason: str | None = None,
) -> SignedRequest:
    """A ``block_actions`` interactivity request as Slack sends it to the app's request URL."""
    body = block_actions_body(payload)
    headers = signed_headers(
        body,
        secret,
        timestamp=timestamp,
        signature=signature,
        retry_num=retry_num,
        retry_reason=retry_reason,
    )
    return SignedRequest(body, headers)
