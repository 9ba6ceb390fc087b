"""The real Alertmanager binary delivers webhooks that parse_webhook accepts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integrations.alertmanager import WebhookPayload, parse_webhook
from tests.binaries import require_binary
from tests.fakes.promstack import (
    BinaryFailed,
    Delivery,
    MetricsEndpoint,
    RunningAlertmanager,
    WebhookRecorder,
    make_alert,
    now,
    start_alertmanager,
    start_prometheus,
)

TOKEN = "s3cret-token"
DELIVERY_TIMEOUT = 15.0  # a delivery takes ~1.1 s here (group_wait 1s)
STALLED = {"alertname": "BlockProductionStalled", "network": "alpha", "severity": "critical"}


@pytest.fixture
async def hooks() -> AsyncIterator[WebhookRecorder]:
    async with WebhookRecorder() as recorder:
        yield recorder


@pytest.fixture
async def alertmanager(
    tmp_path: Path, hooks: WebhookRecorder
) -> AsyncIterator[RunningAlertmanager]:
    binary = require_binary("prometheus-alertmanager")
    async with start_alertmanager(
        tmp_path, hooks.url, binary=binary, bearer_token=TOKEN, group_interval="1s"
    ) as am:
        yield am


async def next_payload(hooks: WebhookRecorder) -> tuple[Delivery, WebhookPayload]:
    delivery = await hooks.next(timeout=DELIVERY_TIMEOUT)
    return delivery, parse_webhook(delivery.body)


async def test_posted_alert_arrives_as_version_4_webhook_with_bearer_token(
    alertmanager: RunningAlertmanager, hooks: WebhookRecorder
) -> None:
    summary = {"summary": "no new blocks on alpha"}
    await alertmanager.post_alerts([make_alert(STALLED, annotations=summary)])

    delivery, payload = await next_payload(hooks)
    assert delivery.path == "/hooks/alertmanager"
    assert delivery.headers["Authorization"] == f"Bearer {TOKEN}"
    assert delivery.headers["User-Agent"].startswith("Alertmanager/")
    assert delivery.headers["Content-Type"].startswith("application/json")

    assert payload.version == "4"
    assert payload.status == "firing"
    assert payload.receiver == "testnet-bot"
    assert payload.group_labels == {"alertname": "BlockProductionStalled"}
    assert payload.common_labels == STALLED
    assert payload.external_url == alertmanager.url
    assert payload.truncated_alerts == 0
    assert "BlockProductionStalled" in payload.group_key
    [alert] = payload.alerts
    assert alert.status == "firing"
    assert alert.labels == STALLED
    assert alert.annotations == summary
    assert alert.ends_at is None
    assert len(alert.fingerprint) == 16
    assert alert.starts_at <= now()


async def test_resolve_arrives_with_status_resolved(
    alertmanager: RunningAlertmanager, hooks: WebhookRecorder
) -> None:
    await alertmanager.post_alerts([make_alert(STALLED)])
    _, firing = await next_payload(hooks)
    assert firing.status == "firing"

    resolved_at = now()
    await alertmanager.post_alerts([make_alert(STALLED, ends_at=resolved_at)])
    _, resolved = await next_payload(hooks)
    assert resolved.status == "resolved"
    assert resolved.group_key == firing.group_key
    [alert] = resolved.alerts
    assert alert.status == "resolved"
    assert alert.fingerprint == firing.alerts[0].fingerprint
    assert alert.ends_at is not None
    assert abs((alert.ends_at - resolved_at).total_seconds()) < 1


async def test_alerts_of_one_group_share_a_webhook(
    alertmanager: RunningAlertmanager, hooks: WebhookRecorder
) -> None:
    beta = {**STALLED, "network": "beta", "severity": "warning"}
    await alertmanager.post_alerts([make_alert(STALLED), make_alert(beta)])

    _, payload = await next_payload(hooks)
    assert sorted(a.labels["network"] for a in payload.alerts) == ["alpha", "beta"]
    assert payload.common_labels == {"alertname": "BlockProductionStalled"}
    assert len({a.fingerprint for a in payload.alerts}) == 2
    assert payload.firing() == list(payload.alerts)


async def test_without_a_token_no_authorization_header_is_sent(
    tmp_path: Path, hooks: WebhookRecorder
) -> None:
    binary = require_binary("prometheus-alertmanager")
    async with start_alertmanager(tmp_path, hooks.url, binary=binary) as am:
        await am.post_alerts([make_alert(STALLED)])
        delivery, payload = await next_payload(hooks)
    assert "Authorization" not in delivery.headers
    assert payload.alerts[0].labels == STALLED


async def test_alertmanager_refuses_alerts_without_labels(
    alertmanager: RunningAlertmanager, hooks: WebhookRecorder
) -> None:
    with pytest.raises(AssertionError, match=r"^400"):
        await alertmanager.post_alerts([{"labels": {}}])
    await alertmanager.post_alerts([make_alert(STALLED)])
    _, payload = await next_payload(hooks)
    assert [a.labels for a in payload.alerts] == [STALLED]


async def test_prometheus_rule_fires_through_alertmanager(
    tmp_path: Path, alertmanager: RunningAlertmanager, hooks: WebhookRecorder
) -> None:
    binary = require_binary("prometheus")
    rules = tmp_path / "rules.yml"
    rule = {
        "alert": "BlockProductionStalled",
        "expr": "increase(block_height[5s]) == 0",
        "labels": {"severity": "critical"},
        "annotations": {"summary": "no new blocks on {{ $labels.network }}"},
    }
    rules.write_text(json.dumps({"groups": [{"name": "chain", "rules": [rule]}]}))
    async with MetricsEndpoint() as chain:
        chain.set("block_height", 7, labels={"network": "alpha"})  # never advances
        async with start_prometheus(
            tmp_path,
            binary=binary,
            scrape_targets=[chain.target],
            rule_files=[rules],
            alertmanager_url=alertmanager.url,
        ) as prometheus:
            _, payload = await next_payload(hooks)  # ~8 s: discovery, 2 scrapes, group_wait

    [alert] = payload.alerts
    assert alert.labels["alertname"] == "BlockProductionStalled"
    assert alert.labels["network"] == "alpha"
    assert alert.labels["severity"] == "critical"
    assert alert.annotations == {"summary": "no new blocks on alpha"}
    assert alert.generator_url.startswith(prometheus.url)
    assert alert.ends_at is None


async def test_a_binary_that_cannot_start_reports_its_log(
    tmp_path: Path, hooks: WebhookRecorder
) -> None:
    binary = require_binary("prometheus-alertmanager")
    with pytest.raises(BinaryFailed, match="alertmanager exited with") as caught:
        async with start_alertmanager(tmp_path, hooks.url, binary=binary, group_wait="soon"):
            pytest.fail("a config with group_wait 'soon' must not start")
    assert "soon" in str(caught.value)  # the log tail names the bad value
