"""A process killed between enqueue and delivery loses nothing; one killed after
GitHub acted on a write but before the bot recorded the answer writes nothing twice."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml

from bot.config import OutboxConfig
from bot.metrics import Metrics
from bot.outbox import Outbox, Route
from bot.tasks import TaskSupervisor
from state.store import Store
from tests.fakes.alert_payloads import alert, body
from tests.fakes.destinations import RecordingDestination
from tests.fakes.github_api import GitHubFake, hold
from tests.harness import wait_until
from tests.integration.botprocess import BotProcess, start_bot

ROOT = Path(__file__).resolve().parents[2]


async def test_killed_mid_delivery_the_messages_are_delivered_after_restart(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.outbox_child", str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # blocks until the child is mid-delivery
        assert line.startswith("delivering"), line
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    store = Store.open(db)
    supervisor = TaskSupervisor()
    outbox = Outbox(store, OutboxConfig(), Metrics(), supervisor, rng=random.Random(0))
    dest = RecordingDestination()
    outbox.add_route("test", Route(dest))
    outbox.start()
    try:
        assert await outbox.wait_delivered(timeout=10)
    finally:
        await outbox.stop()
        await supervisor.close()
    assert [i.payload["text"] for i in dest.delivered] == ["must survive", "and this"]
    assert store.outbox_counts() == {("test:a", "delivered"): 2}
    store.close()


# ------------------------------------------------ GitHub writes across a SIGKILL


GH_TOKEN = "ghp_outbox_crash"
REPO = "aztec/testnet"
AM_TOKEN = "am-outbox-crash"
ISSUE = f"/repos/{REPO}/issues/1"
WRITES = {  # op -> the request that performs it
    "comment": ("POST", f"{ISSUE}/comments"),
    "add_labels": ("POST", f"{ISSUE}/labels"),
    "close": ("PATCH", ISSUE),
}


def pending_items(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(
            conn.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
        )
    finally:
        conn.close()


async def post_alert(http: aiohttp.ClientSession, bot: BotProcess, *, resolved: bool) -> None:
    labels = {"alertname": "BlockProductionStalled", "network": "alpha"}
    async with http.post(
        f"{bot.url}/hooks/alertmanager",
        data=body([alert(labels, resolved=resolved)]),
        headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("op", sorted(WRITES))
async def test_killed_after_github_acted_but_before_recording_it_the_write_happens_once(
    tmp_path: Path, op: str
) -> None:
    db = tmp_path / "bot.db"
    config = tmp_path / "bot.yaml"
    async with GitHubFake(token=GH_TOKEN, repo=REPO) as gh, aiohttp.ClientSession() as http:
        config.write_text(
            yaml.safe_dump(
                {
                    "state": {"path": str(db)},
                    "github": {"repo": REPO, "token": GH_TOKEN, "api_url": gh.url},
                    "alertmanager": {"bearer_token": AM_TOKEN},
                    "incidents": {"auto_close": True},
                    "outbox": {"base_backoff": "0.2s", "max_backoff": "1s"},
                    "logging": {"format": "json"},
                }
            )
        )
        bot = await start_bot(tmp_path, config)
        try:
            await post_alert(http, bot, resolved=False)
            await wait_until(lambda: pending_items(db) == 0, timeout=15, what="the issue")
            method, path = WRITES[op]
            gh.inject(hold(), method=method, path=path)
            await post_alert(http, bot, resolved=True)  # comment, label, close
            await gh.wait_until(lambda: bool(gh.held), within=15)
        finally:
            await bot.kill()  # GitHub has acted; the bot never saw the answer
        assert gh.held == [(method, path)]

        bot = await start_bot(tmp_path, config)
        try:
            await wait_until(lambda: pending_items(db) == 0, timeout=20, what="the rest")
        finally:
            await bot.stop()

        issue = gh.issues[1]
        assert len(gh.issues) == 1
        assert len(issue.comments) == 1 and "resolved" in issue.comments[0].body.lower()
        assert issue.events == ["labeled:resolved", "closed"]
        sent = [r for r in gh.matching(method) if r.path == path]
        assert len(sent) == 0, "after the restart the bot looked, saw it done, and sent nothing"
        assert issue.state == "closed" and "resolved" in issue.labels
