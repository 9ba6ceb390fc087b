"""Alertmanager webhook bodies (version 4) built the way Alertmanager builds them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"
T0 = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable 16-hex-digit hash of a label set (like Alertmanager's)."""
    text = "\xff".join(f"{k}\xff{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alert(
    labels: Mapping[str, str],
    *,
    resolved: bool = False,
    starts_at: datetime = T0,
    annotations: Mapping[str, str] | None = None,
    generator_url: str = "http://prometheus:9090/graph?g0.expr=up",
) -> dict[str, Any]:
    """One alert of a notification."""
    return {
        "status": "resolved" if resolved else "firing",
        "labels": dict(labels),
        "annotations": dict(annotations or {"summary": f"{labels.get('alertname')} fired"}),
        "startsAt": starts_at.isoformat().replace("+00:00", "Z"),
        "endsAt": (starts_at + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
        if resolved
        else ZERO_TIME,
        "generatorURL": generator_url,
        "fingerprint": fingerprint(labels),
    }


def notification(alerts: Sequence[Mapping[str, Any]], *, group: str = "{}:{}") -> dict[str, Any]:
    """A version-4 notification carrying ``alerts``."""
    firing = any(a["status"] == "firing" for a in alerts)
    common = dict(alerts[0]["labels"]) if alerts else {}
    for a in alerts[1:]:
        common = {k: v for k, v in common.items() if a["labels"].get(k) == v}
    return {
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "testnet-bot",
        "groupLabels": {},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [dict(a) for a in alerts],
    }


def body(alerts: Sequence[Mapping[str, Any]]) -> bytes:
    """A notification as the bytes Alertmanager POSTs."""
    return json.dumps(notification(alerts)).encode()
