"""Alertmanager webhooks become incidents with one GitHub issue and one Slack thread each
(real bot over HTTP, gidgethub against the GitHub fake, slack-sdk against the Slack fake)."""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.app import Bot
from tests.fakes.alert_payloads import T0, alert, body, notification
from tests.fakes.github_api import secondary_rate_limit, server_error
from tests.harness import make_config, wait_until
from tests.integration.incident_harness import TOKEN, incident_bot

STALLED = {"alertname": "BlockProductionStalled", "network": "alpha", "severity": "critical"}
TITLE = "[Blocker] Network instability: block production stalls (alpha)"
RUNBOOK = "https://runbooks.example/block-production"


def stalled(instance: str, **kw: object) -> dict[str, object]:
    labels = {**STALLED, "instance": instance}
    return alert(
        labels, annotations={"summary": f"no blocks on {instance}", "runbook_url": RUNBOOK}, **kw
    )  # type: ignore[arg-type]


async def test_firing_opens_one_issue_and_one_thread_and_repeats_change_nothing(
    tmp_path: Path,
) -> None:
    async with incident_bot(tmp_path) as ib:
        answer = await ib.fire([stalled("validator-0")])
        assert answer["new"] == 1 and answer["incidents"] == [1]
        await ib.delivered()
        [issue] = ib.issues()
        assert issue.title == TITLE
        assert {"criticality:blocker", "owner:alpha-team", "network:alpha"} <= set(issue.labels)
        assert "<!-- testnet-bot:incident:1 -->" in (issue.body or "")
        assert "file the report for the Alpha Team" in (issue.body or "")
        assert "Alpha Team" in (issue.body or "")
        assert RUNBOOK in (issue.body or "") and "http://prometheus:9090/graph" in (
            issue.body or ""
        )
        [root] = ib.roots()
        assert root.text.startswith("🔴") and "1 of 1 alert" in root.text
        await ib.sb.slack.wait_until(lambda: f"issue #{issue.number}" in root.text, within=10)
        assert "validator-0" in "\n".join(ib.thread(root))

        size = ib.outbox_size()
        again = await ib.fire([stalled("validator-0")])
        assert again["new"] == 0 and again["repeats"] == 1
        assert ib.outbox_size() == size, "a repeat enqueues nothing"
        assert ib.store.incidents.count_alerts() == 1 and ib.store.incidents.count() == 1
        assert len(ib.issues()) == 1 and len(ib.roots()) == 1


async def test_joins_are_batched_then_resolution_comments_and_labels_then_refire_reopens(
    tmp_path: Path,
) -> None:
    async with incident_bot(tmp_path, incidents={"comment_interval": "2s"}) as ib:
        await ib.fire([stalled("validator-0")])
        await ib.fire([stalled("validator-1")])
        await ib.fire([stalled("validator-2"), stalled("validator-1")])
        await ib.gh.wait_until(
            lambda: bool(ib.issues()) and bool(ib.issues()[0].comments), within=15
        )
        await ib.delivered()
        [issue] = ib.issues()
        [joined] = issue.comments
        assert "2 more alert(s) joined" in joined.body
        assert "validator-1" in joined.body and "validator-2" in joined.body

        await ib.fire([stalled(f"validator-{i}", resolved=True) for i in range(3)])
        await ib.delivered()
        assert issue.state == "open", "closed only with auto_close or by hand"
        assert "resolved" in issue.labels
        assert "All 3 alert(s) resolved" in issue.comments[-1].body
        [root] = ib.roots()
        assert root.text.startswith("✅") and "resolved after" in root.text
        assert any("All 3 alert(s) resolved" in t for t in ib.thread(root))

        later = alert({**STALLED, "instance": "validator-0"}, starts_at=_later())
        answer = await ib.fire([later])
        assert answer["incidents"] == [1], "a re-fire within reopen_window joins the same incident"
        await ib.delivered()
        assert len(ib.issues()) == 1 and issue.state == "open"
        assert "resolved" not in issue.labels
        assert "Fired again" in issue.comments[-1].body
        assert root.text.startswith("🔴") and len(ib.roots()) == 1
        assert (
            ib.gh.count("POST", "/repos/aztec/testnet/issues")
            - ib.gh.count("POST", "/repos/aztec/testnet/issues/")
            == 1
        )


def _later() -> datetime:
    return T0 + timedelta(hours=1)


async def test_auto_close_closes_the_issue_when_everything_resolved(tmp_path: Path) -> None:
    async with incident_bot(tmp_path, incidents={"auto_close": True}) as ib:
        await ib.fire([stalled("validator-0")])
        await ib.fire([stalled("validator-0", resolved=True)])
        await ib.delivered()
        [issue] = ib.issues()
        assert issue.state == "closed" and "resolved" in issue.labels
        assert ib.store.incidents.get(1).state == "closed"


async def test_unmatched_alert_goes_to_the_default_row(tmp_path: Path) -> None:
    async with incident_bot(tmp_path) as ib:
        await ib.fire([alert({"alertname": "DiskAlmostFull", "network": "beta"})])
        await ib.delivered()
        [issue] = ib.issues()
        assert issue.title == "[Minor] Minor operational issues (beta)"
        assert "owner:delta-team" in issue.labels


@pytest.mark.parametrize(
    ("data", "token", "status", "reason"),
    [
        (b"{not json", TOKEN, 400, "malformed JSON"),
        (
            json.dumps({**notification([alert(STALLED)]), "version": "3"}).encode(),
            TOKEN,
            400,
            "unsupported webhook version '3'",
        ),
        (
            json.dumps(
                {k: v for k, v in notification([alert(STALLED)]).items() if k != "groupKey"}
            ).encode(),
            TOKEN,
            400,
            "groupKey: Field required",
        ),
        (
            json.dumps(notification([{**alert(STALLED), "fingerprint": ""}])).encode(),
            TOKEN,
            400,
            "alerts[0].fingerprint",
        ),
        (b"{" + b" " * (2 << 20) + b"}", TOKEN, 413, "body larger than"),
        (body([alert(STALLED)]), None, 401, "credentials"),
        (body([alert(STALLED)]), "wrong-token", 401, "credentials"),
    ],
    ids=[
        "malformed",
        "version",
        "missing-field",
        "empty-fingerprint",
        "2MB",
        "no-token",
        "wrong-token",
    ],
)
async def test_bad_webhooks_are_rejected_and_change_nothing(
    tmp_path: Path, data: bytes, token: str | None, status: int, reason: str
) -> None:
    async with incident_bot(tmp_path) as ib:
        got, answer = await ib.post(data, token=token)
        assert (got, reason in answer["error"]) == (status, True), answer
        assert ib.store.incidents.count_alerts() == 0 and ib.store.incidents.count() == 0
        assert ib.outbox_size() == 0
        good, _ = await ib.post(body([alert(STALLED)]))  # the same bot takes a good one
        assert good == 200 and ib.store.incidents.count_alerts() == 1


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_basic_auth_is_accepted_when_configured(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, alertmanager={"basic_user": "am", "basic_password": "pw"})
    async with Bot(cfg) as bot, aiohttp.ClientSession() as http:
        url = f"{bot.url}/hooks/alertmanager"
        async with http.post(url, data=body([alert(STALLED)]), headers=_basic("am", "pw")) as r:
            assert r.status == 200
        async with http.post(url, data=body([alert(STALLED)]), headers=_basic("am", "no")) as r:
            assert r.status == 401
        assert bot.services.store.incidents.count_alerts() == 1


async def test_without_credentials_the_endpoint_is_disabled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with Bot(make_config(tmp_path)) as bot, aiohttp.ClientSession() as http:
        async with http.post(f"{bot.url}/hooks/alertmanager", data=body([alert(STALLED)])) as r:
            assert r.status == 404
            assert "disabled" in (await r.json())["error"]
        assert bot.services.store.incidents.count_alerts() == 0
    assert any("webhook /hooks/alertmanager is disabled" in r.getMessage() for r in caplog.records)


async def test_rate_limits_and_5xx_are_retried_no_earlier_than_retry_after(tmp_path: Path) -> None:
    async with incident_bot(tmp_path) as ib:
        issues = "/repos/aztec/testnet/issues"
        ib.gh.inject(secondary_rate_limit(retry_after=2), times=1, method="POST", path=issues)
        ib.gh.inject(server_error(502), times=1, method="POST", path=issues)
        await ib.fire([stalled("validator-0")])
        await ib.fire([alert({"alertname": "BridgeContractReverts", "network": "alpha"})])
        await ib.gh.wait_until(lambda: len(ib.issues()) == 2, within=30)
        await ib.delivered(timeout=30)
        assert sorted(i.title for i in ib.issues()) == [
            "[Blocker] Network instability: block production stalls (alpha)",
            "[Blocker] Network instability: bridge contract failures (alpha)",
        ]
        creates = [r for r in ib.gh.matching("POST", issues) if r.path == issues]
        assert [r.fault for r in creates[:2]] == ["secondary_rate_limit", "server_error_502"]
        assert creates[1].received_at - creates[0].received_at >= 2.0, "Retry-After honoured"
        assert len([r for r in creates if r.status == 201]) == 2, "each issue created once"


async def test_a_create_that_may_have_landed_is_found_by_its_marker(tmp_path: Path) -> None:
    """Crash between "create issue" and "record its number": the restart searches first."""
    from tests.fakes.github_api import GitHubFake
    from tests.integration.incident_harness import GH_TOKEN, REPO

    async with GitHubFake(token=GH_TOKEN, repo=REPO) as gh:
        down = "http://127.0.0.1:9"  # nothing listens: the create attempt fails to connect
        settings = {"alertmanager": {"bearer_token": TOKEN}, "outbox": {"base_backoff": "60s"}}
        cfg = make_config(
            tmp_path, github={"repo": REPO, "token": GH_TOKEN, "api_url": down}, **settings
        )
        async with Bot(cfg) as bot, aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with http.post(
                f"{bot.url}/hooks/alertmanager", data=body([alert(STALLED)]), headers=headers
            ) as r:
                assert r.status == 200
            store = bot.services.store
            await wait_until(lambda: store.incidents.get(1).issue_create_started is not None)
        # ...as if that attempt had reached GitHub before the bot died:
        landed = gh.add_issue(TITLE, "<!-- testnet-bot:incident:1 -->\nbody", ["testnet-bot"])
        cfg = make_config(
            tmp_path, github={"repo": REPO, "token": GH_TOKEN, "api_url": gh.url}, **settings
        )
        async with Bot(cfg) as bot:
            store = bot.services.store
            # the retry is due in base_backoff; make it due now (a restart long after the crash)
            store.conn.execute("UPDATE outbox SET next_attempt_at = 0 WHERE state = 'pending'")
            bot.services.outbox.wake()
            assert await bot.services.outbox.wait_delivered(timeout=15)
            assert store.incidents.get(1).issue_number == landed.number
        assert len(gh.issues) == 1
        assert gh.count("POST", f"/repos/{REPO}/issues") == 0
