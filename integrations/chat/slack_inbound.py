"""Checks on what reaches ``/slack/events`` before slack-bolt sees it.

A request is answered 401 unless it carries Slack's signature over its raw bytes and
a timestamp within five minutes of the bot's clock (``X-Slack-Signature: v0=<hex
HMAC-SHA256(secret, "v0:{ts}:{body}")>``, ``X-Slack-Request-Timestamp: {ts}``); a
signed request whose body is not a payload the bot understands is answered 400. The
reason is returned for the caller to log; nothing here raises on client input except
:class:`MalformedRequest`.

Pure standard library: the signature and shape checks do not need the SDK.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

MAX_AGE = 5 * 60
"""Slack's replay window: a timestamp further than this from our clock is refused."""
MAX_FORM_FIELDS = 100
"""A slash command has about 15 fields; far more is not a request from Slack."""


class MalformedRequest(ValueError):
    """A correctly signed request whose body the bot cannot use; the message says why
    and ``status`` is the answer (400; 404 for a kind of request the bot has no
    handler for)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


HANDLED_TYPES = frozenset({"block_actions", "url_verification"})
"""Payload types the bot answers: button clicks, and Slack's check of the request URL.
Slash commands are forms without a type."""


def is_ssl_check(raw: bytes) -> bool:
    """Whether ``raw`` is Slack's unsigned certificate check (``ssl_check=1``), which
    is answered 200 and nothing else."""
    if len(raw) > 200 or b"ssl_check=1" not in raw:
        return False
    fields = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return fields.get("ssl_check") == "1" and "command" not in fields and "payload" not in fields


@dataclass(frozen=True)
class SlackRequest:
    """A verified request: its text and the payload slack-bolt will see."""

    text: str
    payload: dict[str, Any]


def signature_problem(
    raw: bytes, headers: Mapping[str, str], secret: bytes, now: float
) -> str | None:
    """Why ``raw`` with ``headers`` is not a genuine, fresh Slack request (None: it is).

    Header values that are not ASCII, a timestamp that is not a whole number, one
    outside the five-minute window and a signature that does not match all give a
    reason; the comparison takes the same time whatever the signature.
    """
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not timestamp or not signature:
        return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return "X-Slack-Request-Timestamp is not a Unix time"
    if abs(now - int(timestamp)) > MAX_AGE:
        return "X-Slack-Request-Timestamp is more than 5 minutes from the bot's clock"
    base = b"v0:" + timestamp.encode() + b":" + raw
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    if not signature.isascii() or not hmac.compare_digest(signature.encode(), expected.encode()):
        return "the signature does not match (check chat.slack.signing_secret)"
    return None


def parse_request(raw: bytes, content_type: str) -> SlackRequest:
    """Decode a verified body the way slack-bolt will, and check the fields the bot
    reads; raise :class:`MalformedRequest` naming the first problem."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest(f"the body is not UTF-8 (byte {exc.start})") from None
    if not text:
        raise MalformedRequest("the body is empty")
    # slack-bolt treats a body as JSON when so labelled or when it starts with "{";
    # otherwise as a form, whose "payload" field (interactivity) holds JSON.
    if content_type == "application/json" or text.startswith("{"):
        payload = _json_object(text, "the body")
        _check_payload(payload, "body")
        return SlackRequest(text, payload)
    try:
        fields = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise MalformedRequest(f"the form has more than {MAX_FORM_FIELDS} fields") from None
    form = dict(fields)
    if "payload" in form:
        payload = _json_object(form["payload"], "the payload field")
        _check_payload(payload, "payload")
        return SlackRequest(text, payload)
    if "payload" in text and "command" not in form:
        raise MalformedRequest("the body mentions a payload but has no payload field")
    _check_slash_command(form)
    return SlackRequest(text, dict(form))


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedRequest(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise MalformedRequest(f"{what} is JSON {type(value).__name__}, not an object")
    return value


def _check_slash_command(form: Mapping[str, str]) -> None:
    if "command" not in form:
        raise MalformedRequest("a form without a command or payload field")
    for name in ("user_id", "channel_id"):
        if not form.get(name):
            raise MalformedRequest(f"the slash command has no {name}")


# Fields slack-bolt reads while building its context, with the JSON types Slack sends.
_CONTEXT_FIELDS: dict[str, tuple[type, ...]] = {
    "authorizations": (list,),
    "enterprise": (dict, str, type(None)),
    "team": (dict, str, type(None)),
    "user": (dict, str, type(None)),
    "channel": (dict, str, type(None)),
    "container": (dict,),
    "message": (dict,),
    "event": (dict,),
    "function_data": (dict,),
    "bot_access_token": (str,),
    "response_url": (str,),
    "response_urls": (list,),
    "type": (str,),
    "team_id": (str, type(None)),
    "enterprise_id": (str, type(None)),
    "user_id": (str, type(None)),
    "channel_id": (str, type(None)),
    "api_app_id": (str, type(None)),
}


def _check_types(payload: Mapping[str, Any], where: str) -> None:
    for name, types in _CONTEXT_FIELDS.items():
        if name in payload and not isinstance(payload[name], types):
            raise MalformedRequest(f"{where}.{name} has the wrong type")
    for name in ("authorizations", "response_urls"):
        items = payload.get(name) or []
        if not all(isinstance(item, dict) for item in items):
            raise MalformedRequest(f"{where}.{name} must hold objects")
    for name in ("enterprise", "team", "user", "channel", "container", "message", "event"):
        nested = payload.get(name)
        if isinstance(nested, dict):
            for key in ("id", "team_id", "enterprise_id", "ts", "thread_ts", "channel_id"):
                value = nested.get(key)
                if value is not None and not isinstance(value, str):
                    raise MalformedRequest(f"{where}.{name}.{key} must be a string")
            for key in ("team", "user", "channel", "enterprise"):
                if key in nested and not isinstance(nested[key], dict | str | type(None)):
                    raise MalformedRequest(f"{where}.{name}.{key} has the wrong type")


def _check_payload(payload: dict[str, Any], where: str) -> None:
    _check_types(payload, where)
    kind = payload.get("type")
    if not isinstance(kind, str) or not kind:
        raise MalformedRequest(f"the {where} has no type")
    if kind not in HANDLED_TYPES:
        raise MalformedRequest(f"the bot does not handle {kind[:40]!r} requests", status=404)
    if kind == "url_verification":
        if not isinstance(payload.get("challenge"), str):
            raise MalformedRequest("url_verification without a challenge")
        return
    user = payload.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not user["id"]:
        raise MalformedRequest("the block action has no user.id")
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions:
        raise MalformedRequest("the block action has no actions")
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            raise MalformedRequest("every action needs an action_id")
        if not isinstance(action.get("block_id", ""), str):
            raise MalformedRequest("an action's block_id must be a string")
