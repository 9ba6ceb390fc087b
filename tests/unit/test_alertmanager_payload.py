"""The Alertmanager webhook payload model: what it accepts and how it refuses the rest."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.alertmanager import WebhookError, parse_webhook

# The shape Alertmanager 0.25 sends (see NOTES.md), with a nanosecond timestamp.
PAYLOAD: dict[str, Any] = {
    "receiver": "testnet-bot",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "BlockProductionStalled",
                "network": "alpha",
                "severity": "critical",
            },
            "annotations": {"summary": "No new blocks on alpha for 5m"},
            "startsAt": "2026-11-22T09:52:26.739266876+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=increase%28block_height%29",
            "fingerprint": "1a30ba71cca2921f",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "BlockProductionStalled", "network": "beta"},
            "annotations": {},
            "startsAt": "2026-11-22T07:00:00Z",
            "endsAt": "2026-11-22T07:05:00.5Z",
            "generatorURL": "",
            "fingerprint": "bc97ff14869b13e3",
        },
    ],
    "groupLabels": {"alertname": "BlockProductionStalled"},
    "commonLabels": {"alertname": "BlockProductionStalled"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "version": "4",
    "groupKey": '{}:{alertname="BlockProductionStalled"}',
    "truncatedAlerts": 0,
}


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def reason_for(raw: bytes) -> str:
    with pytest.raises(WebhookError) as caught:
        parse_webhook(raw)
    assert "\n" not in caught.value.reason
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


def without(path: list[str | int]) -> bytes:
    payload = copy.deepcopy(PAYLOAD)
    node: Any = payload
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return body(payload)


def replaced(path: list[str | int], value: object) -> bytes:
    payload = copy.deepcopy(PAYLOAD)
    node: Any = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body(payload)


# ---------------------------------------------------------------- accepted


def test_parses_a_version_4_payload() -> None:
    payload = parse_webhook(body(PAYLOAD))
    assert payload.version == "4"
    assert payload.group_key == '{}:{alertname="BlockProductionStalled"}'
    assert payload.status == "firing"
    assert payload.receiver == "testnet-bot"
    assert payload.group_labels == {"alertname": "BlockProductionStalled"}
    assert payload.external_url == "http://alertmanager:9093"
    assert payload.truncated_alerts == 0

    firing, resolved = payload.alerts
    assert firing.is_firing and not resolved.is_firing
    assert firing.labels["network"] == "alpha"
    assert firing.annotations == {"summary": "No new blocks on alpha for 5m"}
    assert firing.fingerprint == "1a30ba71cca2921f"
    assert firing.starts_at == datetime(
        2026, 11, 22, 9, 52, 26, 739266, tzinfo=timezone(timedelta(hours=2))
    )
    assert firing.ends_at is None  # Go's zero time means "unset"
    assert resolved.ends_at == datetime(2026, 11, 22, 7, 5, 0, 500000, tzinfo=UTC)
    assert payload.firing() == [firing]
    assert payload.resolved() == [resolved]


def test_accepts_str_and_ignores_unknown_fields() -> None:
    raw = replaced(["alerts", 0, "silenceURL"], "http://am/silence")
    assert parse_webhook(raw.decode()).alerts[0].fingerprint == "1a30ba71cca2921f"


def test_truncated_alerts_defaults_to_zero() -> None:
    assert parse_webhook(without(["truncatedAlerts"])).truncated_alerts == 0
    assert parse_webhook(replaced(["truncatedAlerts"], 7)).truncated_alerts == 7


def test_models_are_frozen() -> None:
    payload = parse_webhook(body(PAYLOAD))
    with pytest.raises(ValueError, match="frozen"):
        payload.alerts[0].status = "resolved"


# ---------------------------------------------------------------- refused


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("3", "unsupported webhook version '3', expected '4'"),
        ("", "unsupported webhook version '', expected '4'"),
        (4, "unsupported webhook version 4, expected '4'"),
        (None, "unsupported webhook version null, expected '4'"),
    ],
)
def test_wrong_version_is_named(version: object, reason: str) -> None:
    assert reason_for(replaced(["version"], version)) == reason


def test_wrong_version_wins_over_other_errors() -> None:
    raw = body({"version": "3", "alerts": "nope"})
    assert reason_for(raw) == "unsupported webhook version '3', expected '4'"


def test_missing_version() -> None:
    assert reason_for(without(["version"])) == "version: Field required"


@pytest.mark.parametrize(
    ("path", "named"),
    [
        (["groupKey"], "groupKey: Field required"),
        (["receiver"], "receiver: Field required"),
        (["alerts"], "alerts: Field required"),
        (["alerts", 0, "fingerprint"], "alerts[0].fingerprint: Field required"),
        (["alerts", 1, "labels"], "alerts[1].labels: Field required"),
        (["alerts", 0, "startsAt"], "alerts[0].startsAt: Field required"),
        (["alerts", 1, "endsAt"], "alerts[1].endsAt: Field required"),
    ],
)
def test_missing_field_is_named_by_path(path: list[str | int], named: str) -> None:
    assert reason_for(without(path)) == named


@pytest.mark.parametrize(
    ("path", "value", "starts"),
    [
        (["status"], "pending", "status: Input should be 'firing' or 'resolved'"),
        (["alerts", 0, "status"], "ok", "alerts[0].status: Input should be 'firing'"),
        (["alerts", 0, "labels", "severity"], 3, "alerts[0].labels.severity: Input should be"),
        (["alerts", 0, "startsAt"], "yesterday", "alerts[0].startsAt: Input should be"),
        (["alerts", 0, "fingerprint"], "", "alerts[0].fingerprint: String should have"),
        (["alerts"], [], "alerts: List should have at least 1 item"),
        (["truncatedAlerts"], -1, "truncatedAlerts: Input should be greater than"),
        (["commonLabels"], ["a"], "commonLabels: Input should be an object"),
    ],
)
def test_invalid_field_is_named_by_path(path: list[str | int], value: object, starts: str) -> None:
    assert reason_for(replaced(path, value)).startswith(starts)


def test_several_errors_are_counted() -> None:
    payload = copy.deepcopy(PAYLOAD)
    del payload["receiver"], payload["groupKey"]
    assert reason_for(body(payload)) == "groupKey: Field required (and 1 more)"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "malformed JSON: EOF while parsing a value at line 1 column 0"),
        (b'{"version": "4",', "malformed JSON: EOF while parsing a value at line 1 column 16"),
        (b"\xff\xfe", "malformed JSON: expected value at line 1 column 1"),
        (b"[1, 2]", "payload must be a JSON object, got an array"),
        (b'"hello"', "payload must be a JSON object, got a string"),
        (b"42", "payload must be a JSON object, got a number"),
        (b"null", "payload must be a JSON object, got null"),
    ],
)
def test_not_a_json_object(raw: bytes, reason: str) -> None:
    assert reason_for(raw) == reason


def test_reason_is_one_line_even_for_odd_versions() -> None:
    reason = reason_for(replaced(["version"], "3\n" + "x" * 500))
    assert reason.startswith("unsupported webhook version '3 xxx")
    assert len(reason) < 100


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=10,
    )
)
def test_arbitrary_json_is_refused_with_a_webhook_error(value: object) -> None:
    with pytest.raises(WebhookError):
        parse_webhook(json.dumps(value).encode())
