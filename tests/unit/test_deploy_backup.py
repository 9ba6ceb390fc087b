"""The README's backup and restore, done on a running bot: `sqlite3 DB ".backup FILE"`
and `VACUUM INTO` each give a consistent copy while the bot writes, and a bot started
on the restored copy has the incidents and audit entries the backup held."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import yaml

from state.db import SCHEMA_VERSION
from tests.binaries import require_binary
from tests.fakes.alert_payloads import alert, body
from tests.integration.botprocess import start_bot

TOKEN = "am-backup-test"
STALLED = {"alertname": "BlockProductionStalled", "network": "alpha", "instance": "v0"}


def write_config(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "state": {"path": str(directory / "testnet-bot.db")},
        "http": {"host": "127.0.0.1", "port": 0},
        "alertmanager": {"bearer_token": "${ALERTMANAGER_TOKEN}"},
        "logging": {"format": "json"},
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_both_backups_of_a_running_bot_restore_into_a_working_bot(tmp_path: Path) -> None:
    sqlite = require_binary("sqlite3")
    live = write_config(tmp_path / "live")
    db = tmp_path / "live" / "testnet-bot.db"
    env = {"ALERTMANAGER_TOKEN": TOKEN}
    bot = await start_bot(tmp_path, live, env=env)
    try:
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            url = f"{bot.url}/hooks/alertmanager"
            async with http.post(url, data=body([alert(STALLED)]), headers=headers) as resp:
                assert resp.status == 200, await resp.text()
        dot_backup = tmp_path / "dot-backup.db"
        done = subprocess.run(
            [sqlite, str(db), f".backup {dot_backup}"], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        vacuumed = tmp_path / "vacuum-into.db"
        conn = sqlite3.connect(db)
        try:
            conn.execute("VACUUM INTO ?", (str(vacuumed),))
            again = conn.execute("VACUUM INTO ?", (str(vacuumed),))
        except sqlite3.OperationalError as exc:
            again = exc
        finally:
            conn.close()
        assert isinstance(again, sqlite3.OperationalError), "VACUUM INTO overwrote a file"
    finally:
        assert await bot.stop() == 0

    expected = rows(db, "SELECT id, state FROM incidents")
    assert expected, "the alert made an incident"
    for backup in (dot_backup, vacuumed):
        assert rows(backup, "PRAGMA integrity_check") == [("ok",)]
        assert rows(backup, "SELECT id, state FROM incidents") == expected
        assert rows(backup, "PRAGMA user_version") == [(SCHEMA_VERSION,)]

        restored_dir = tmp_path / f"restored-{backup.stem}"
        restored = write_config(restored_dir)
        (restored_dir / "testnet-bot.db").write_bytes(backup.read_bytes())
        done = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "bot.cli",
                "exec",
                "--config",
                str(restored),
                "/testnet incidents all",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={"ALERTMANAGER_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        assert "1 incident(s)" in done.stdout, done.stdout
        assert "block production stalls" in done.stdout
        assert "No incidents" not in done.stdout
