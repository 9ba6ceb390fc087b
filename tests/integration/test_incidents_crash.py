"""The bot process SIGKILLed in the middle of an alert storm and restarted: the real
Alertmanager's retries deliver the rest, every alert is stored once, and GitHub holds
exactly one issue per incident (a create cut off by the kill is found by its marker)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from tests.binaries import require_binary
from tests.fakes.github_api import GitHubFake, slow
from tests.fakes.promstack import free_port, make_alert, start_alertmanager
from tests.harness import wait_until

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "am-crash-token"
GH_TOKEN = "ghp_crash"
REPO = "aztec/testnet"
KINDS = [
    "BlockProductionStalled",
    "ProofGenerationFailing",
    "TxInclusionStalled",
    "BridgeContractFailures",
]
NETWORKS = ["alpha", "beta", "gamma"]


@contextlib.asynccontextmanager
async def bot_process(
    workdir: Path, config: Path, port: int
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``testnet-bot run`` in a subprocess, yielded once it listens; killed on exit."""
    log = (workdir / f"bot-{time.monotonic_ns()}.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--port",
        str(port),
        "--config",
        str(config),
        cwd=ROOT,
        env=dict(os.environ),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    try:

        async def listening() -> bool:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return True
            assert proc.returncode is None, "bot exited before listening"
            return False

        await wait_until(listening, timeout=20, what="the bot to listen")
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        log.close()


def db_count(path: Path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()


async def test_sigkill_mid_storm_loses_nothing_and_duplicates_no_issue(tmp_path: Path) -> None:
    binary = require_binary("prometheus-alertmanager")
    port = free_port()
    db = tmp_path / "bot.db"
    async with GitHubFake(token=GH_TOKEN, repo=REPO) as gh:
        # Creates are slow, so the kill lands while some are in flight; the fake finishes
        # them after the bot died, as GitHub would.
        gh.inject(slow(0.7), times=6, method="POST", path=f"/repos/{REPO}/issues")
        config = tmp_path / "bot.yaml"
        config.write_text(
            f"state: {{path: {db}}}\n"
            f"github: {{repo: {REPO}, token: {GH_TOKEN}, api_url: '{gh.url}'}}\n"
            f"alertmanager: {{bearer_token: {TOKEN}}}\n"
            "outbox: {base_backoff: 0.2s, max_backoff: 2s}\n"
            "logging: {format: json}\n"
        )
        hook = f"http://127.0.0.1:{port}/hooks/alertmanager"
        async with start_alertmanager(
            tmp_path,
            hook,
            binary=binary,
            bearer_token=TOKEN,
            group_by=["alertname", "network"],
            group_wait="0s",
            group_interval="1s",
        ) as am:
            posted = 0

            async def storm(wave: int, per_key: int) -> None:
                nonlocal posted
                alerts = [
                    make_alert({"alertname": kind, "network": net, "instance": f"w{wave}-{i}"})
                    for kind in KINDS
                    for net in NETWORKS
                    for i in range(per_key)
                ]
                await am.post_alerts(alerts)
                posted += len(alerts)

            async with bot_process(tmp_path, config, port) as proc:
                await storm(0, 10)
                await wait_until(
                    lambda: gh.count("POST", f"/repos/{REPO}/issues") >= 2,
                    timeout=20,
                    what="issue creates in flight",
                )
                await storm(1, 10)
                proc.send_signal(signal.SIGKILL)
            stored_before = db_count(db, "SELECT COUNT(*) FROM alerts")
            await storm(2, 10)  # while the bot is down: Alertmanager keeps retrying
            async with bot_process(tmp_path, config, port):
                await wait_until(
                    lambda: db_count(db, "SELECT COUNT(*) FROM alerts") == posted,
                    timeout=40,
                    what=f"all {posted} alerts stored",
                )
                incidents = len(KINDS) * len(NETWORKS)
                assert db_count(db, "SELECT COUNT(*) FROM incidents") == incidents

                def all_issues_recorded() -> bool:
                    return (
                        db_count(
                            db, "SELECT COUNT(*) FROM incidents WHERE issue_number IS NOT NULL"
                        )
                        == incidents
                    )

                await wait_until(all_issues_recorded, timeout=40, what="every incident's issue")
                await wait_until(
                    lambda: (
                        db_count(db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'") == 0
                    ),
                    timeout=40,
                    what="the outbox to drain",
                )
            assert stored_before < posted, "the kill happened mid-storm"
            issues = [i for i in gh.issues.values() if not i.is_pull_request]
            assert len(issues) == incidents, sorted(i.title for i in issues)
            markers = sorted(i.body.splitlines()[0] for i in issues if i.body)
            assert markers == sorted(
                f"<!-- testnet-bot:incident:{n} -->" for n in range(1, incidents + 1)
            )
            assert db_count(db, "SELECT COUNT(*) FROM outbox WHERE state = 'dead'") == 0
