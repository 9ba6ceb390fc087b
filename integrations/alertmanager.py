"""Alertmanager's webhook payload (version "4") as strict, typed, frozen pydantic models.

Alertmanager's ``webhook_config`` receiver POSTs one JSON object per notification of an
alert group::

    {"version": "4", "groupKey": "...", "truncatedAlerts": 0, "status": "firing",
     "receiver": "bot", "groupLabels": {...}, "commonLabels": {...},
     "commonAnnotations": {...}, "externalURL": "http://am:9093",
     "alerts": [{"status": "firing", "labels": {...}, "annotations": {...},
                 "startsAt": "...", "endsAt": "0001-01-01T00:00:00Z",
                 "generatorURL": "...", "fingerprint": "1a30ba71cca2921f"}]}

:func:`parse_webhook` turns the raw request body into a :class:`WebhookPayload` or
raises :class:`WebhookError` whose ``reason`` is one line fit for a 400 response body.
Every field Alertmanager always sends is required; ``truncatedAlerts`` (added in
Alertmanager 0.23) defaults to 0. Fields this model does not know are ignored, so a
newer Alertmanager that adds a field is still accepted. Parsing goes straight from
bytes through pydantic-core (:meth:`~pydantic.BaseModel.model_validate_json`), so it
is cheap enough for tens of thousands of alerts a second.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SUPPORTED_VERSION = "4"
"""The only webhook payload version this module accepts."""
UNSET_TIME_YEAR = 1
"""Alertmanager writes Go's zero time (``0001-01-01T00:00:00Z``) for an unset ``endsAt``."""

AlertStatus = Literal["firing", "resolved"]


class WebhookError(ValueError):
    """The webhook body is not a valid version-4 Alertmanager payload.

    ``reason`` is a single human-readable line, safe to send back as a 400 body.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")


class Alert(_Model):
    """One alert of a notification, as Alertmanager reports it."""

    status: AlertStatus = Field(description="firing, or resolved once endsAt has passed")
    labels: dict[str, str] = Field(description="the alert's identifying label set")
    annotations: dict[str, str] = Field(description="summary, description, runbook_url, ...")
    starts_at: datetime = Field(alias="startsAt", description="when the alert began firing")
    ends_at: datetime | None = Field(
        alias="endsAt", description="when it resolved (or will); None while unset"
    )
    generator_url: str = Field(alias="generatorURL", description="link to the rule's source")
    fingerprint: str = Field(min_length=1, description="stable hash of the label set")

    @field_validator("ends_at", mode="after")
    @classmethod
    def _zero_time_is_unset(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.year == UNSET_TIME_YEAR:
            return None
        return value

    @property
    def is_firing(self) -> bool:
        """True when Alertmanager reports this alert as firing."""
        return self.status == "firing"


class WebhookPayload(_Model):
    """One notification of an alert group (webhook payload version "4")."""

    version: Literal["4"] = Field(description='payload format version; always "4"')
    group_key: str = Field(alias="groupKey", description="identifies the alert group")
    truncated_alerts: int = Field(
        default=0, ge=0, alias="truncatedAlerts", description="alerts left out by max_alerts"
    )
    status: AlertStatus = Field(description="firing if any alert of the group fires")
    receiver: str = Field(description="name of the receiver in Alertmanager's config")
    group_labels: dict[str, str] = Field(alias="groupLabels", description="the group_by labels")
    common_labels: dict[str, str] = Field(
        alias="commonLabels", description="labels every alert of the payload shares"
    )
    common_annotations: dict[str, str] = Field(
        alias="commonAnnotations", description="annotations every alert of the payload shares"
    )
    external_url: str = Field(alias="externalURL", description="Alertmanager's own URL")
    alerts: list[Alert] = Field(min_length=1, description="the alerts of this notification")

    def firing(self) -> list[Alert]:
        """Return the alerts of this payload that are firing, in payload order."""
        return [alert for alert in self.alerts if alert.status == "firing"]

    def resolved(self) -> list[Alert]:
        """Return the alerts of this payload that have resolved, in payload order."""
        return [alert for alert in self.alerts if alert.status == "resolved"]


def parse_webhook(raw: bytes | str) -> WebhookPayload:
    """Parse an Alertmanager webhook body into a :class:`WebhookPayload`.

    Raises :class:`WebhookError` with a one-line reason when the body is not JSON, not
    a JSON object, of another payload version (``unsupported webhook version '3',
    expected '4'``), or when a field is missing or invalid (the reason names the
    field's path, e.g. ``alerts[0].fingerprint: Field required``).
    """
    try:
        return WebhookPayload.model_validate_json(raw)
    except ValidationError as exc:
        reason = _reason(exc.errors(include_url=False))
        raise WebhookError(" ".join(reason.split())) from None


def _reason(errors: Sequence[Mapping[str, Any]]) -> str:
    """Choose the one error worth reporting first and phrase it on one line."""
    for error in errors:
        if tuple(error["loc"]) == ("version",) and error["type"] != "missing":
            found = error["input"]
            shown = f"'{found[:40]}'" if isinstance(found, str) else json.dumps(found)[:40]
            return f"unsupported webhook version {shown}, expected '{SUPPORTED_VERSION}'"
    first = errors[0]
    kind = first["type"]
    if kind == "json_invalid":
        detail = first.get("ctx", {}).get("error", "not valid JSON")
        return f"malformed JSON: {detail}"
    if kind == "model_type" and not first["loc"]:
        return f"payload must be a JSON object, got {_json_type(first['input'])}"
    message = f"{_path(first['loc'])}: {first['msg']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return message


def _path(loc: Sequence[str | int]) -> str:
    """Render a pydantic location such as ('alerts', 0, 'labels') as alerts[0].labels."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(f".{item}" if parts else item)
    return "".join(parts) or "payload"


def _json_type(value: object) -> str:
    """Name the JSON type of a decoded value the way a sender would say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
