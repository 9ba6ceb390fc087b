"""The bot's SQLite database: opening it in WAL mode and migrating it forward.

Every table the bot keeps lives in one file. The schema is versioned with
``PRAGMA user_version``; :data:`MIGRATIONS` lists the forward steps, and
:func:`open_database` runs the missing ones inside one transaction each, so a
crash mid-migration leaves the previous version intact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

Migration = Callable[[sqlite3.Connection], None]


def _v1(conn: sqlite3.Connection) -> None:
    """Audit log, durable workflow runs, network locks and the outbox."""
    _run_script(
        conn,
        """
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            trace_id TEXT NOT NULL,
            platform TEXT NOT NULL,
            actor TEXT NOT NULL,
            command TEXT NOT NULL,
            args TEXT NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX audit_ts ON audit(ts);

        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            network TEXT,
            args TEXT NOT NULL,
            state TEXT NOT NULL,
            step TEXT NOT NULL DEFAULT '',
            owner TEXT NOT NULL,
            exclusive INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            finished_at REAL,
            result TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX runs_state ON runs(state);
        CREATE UNIQUE INDEX runs_one_exclusive_per_network ON runs(network)
            WHERE exclusive = 1 AND state IN ('pending', 'running');

        CREATE TABLE locks (
            network TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            reason TEXT NOT NULL,
            since REAL NOT NULL
        );

        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            destination TEXT NOT NULL,
            op TEXT NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            created_at REAL NOT NULL,
            delivered_at REAL,
            last_error TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX outbox_pending ON outbox(state, destination, id);
        """,
    )


def _v2(conn: sqlite3.Connection) -> None:
    """Messages the bot posted, so later edits find them; idempotent outbox items;
    where a run reports its progress."""
    _run_script(
        conn,
        """
        ALTER TABLE outbox ADD COLUMN message_key TEXT;
        ALTER TABLE outbox ADD COLUMN dedupe_key TEXT;
        CREATE UNIQUE INDEX outbox_dedupe ON outbox(dedupe_key) WHERE dedupe_key IS NOT NULL;

        CREATE TABLE messages (
            key TEXT PRIMARY KEY,
            destination TEXT NOT NULL,
            ref TEXT,
            created_at REAL NOT NULL
        );

        ALTER TABLE runs ADD COLUMN reply_to TEXT NOT NULL DEFAULT '{}';
        """,
    )


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated statements one by one, inside the caller's transaction
    (``executescript`` would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v3(conn: sqlite3.Connection) -> None:
    """Confirmations waiting for approvers."""
    _run_script(
        conn,
        """
        CREATE TABLE confirmations (
            id TEXT PRIMARY KEY,
            command TEXT NOT NULL,
            plan TEXT NOT NULL,
            permission TEXT,
            requester TEXT NOT NULL,
            approvals INTEGER NOT NULL,
            approvers TEXT NOT NULL DEFAULT '[]',
            state TEXT NOT NULL DEFAULT 'pending',
            decided_by TEXT NOT NULL DEFAULT '',
            destination TEXT NOT NULL,
            message_key TEXT,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        """,
    )


def _v4(conn: sqlite3.Connection) -> None:
    """Incidents (one per network and matrix event) and the alerts that make them up."""
    _run_script(
        conn,
        """
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            network TEXT NOT NULL,
            event TEXT NOT NULL,
            criticality TEXT NOT NULL,
            owner TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            opened_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            resolved_at REAL,
            closed_at REAL,
            acked_by TEXT NOT NULL DEFAULT '',
            acked_at REAL,
            note TEXT NOT NULL DEFAULT '',
            issue_number INTEGER,
            issue_url TEXT NOT NULL DEFAULT '',
            issue_create_started REAL,
            slack_destination TEXT,
            slack_root_key TEXT,
            last_comment_at REAL NOT NULL,
            last_reminder_at REAL NOT NULL,
            unreported INTEGER NOT NULL DEFAULT 0,
            fired_count INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX incidents_key ON incidents(network, event, id);
        CREATE INDEX incidents_state ON incidents(state);

        CREATE TABLE alerts (
            fingerprint TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            alertname TEXT NOT NULL,
            labels TEXT NOT NULL,
            annotations TEXT NOT NULL,
            generator_url TEXT NOT NULL,
            status TEXT NOT NULL,
            received_at REAL NOT NULL,
            resolved_at REAL,
            reported INTEGER NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX alerts_key ON alerts(fingerprint, starts_at);
        CREATE INDEX alerts_incident ON alerts(incident_id, status);
        CREATE INDEX alerts_unreported ON alerts(incident_id) WHERE reported = 0;
        """,
    )


def _v5(conn: sqlite3.Connection) -> None:
    """Sanity results, scheduled sanity checks and the posted connection-info messages."""
    _run_script(
        conn,
        """
        CREATE TABLE sanity_results (
            id INTEGER PRIMARY KEY,
            network TEXT NOT NULL,
            source TEXT NOT NULL,
            verdict TEXT NOT NULL,
            started_at REAL NOT NULL,
            seconds REAL NOT NULL,
            results TEXT NOT NULL
        );
        CREATE INDEX sanity_results_network ON sanity_results(network, id);
        CREATE INDEX sanity_results_source ON sanity_results(source, id);

        CREATE TABLE sanity_schedules (
            id INTEGER PRIMARY KEY,
            network TEXT NOT NULL,
            interval REAL NOT NULL,
            destination TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            digest INTEGER NOT NULL DEFAULT 0,
            last_verdict TEXT,
            last_run_at REAL,
            last_digest_at REAL NOT NULL
        );

        CREATE TABLE info_posts (
            network TEXT NOT NULL,
            destination TEXT NOT NULL,
            message_key TEXT NOT NULL,
            text TEXT NOT NULL,
            posted_at REAL NOT NULL,
            PRIMARY KEY (network, destination)
        )
        """,
    )


def _v6(conn: sqlite3.Connection) -> None:
    """One index of alerts by incident instead of two: (incident_id, reported, status)
    serves the counts, the listing and the unreported alerts, and an intake that joins
    alerts to many incidents rewrites half as many index pages per commit."""
    _run_script(
        conn,
        """
        CREATE INDEX alerts_by_incident ON alerts(incident_id, reported, status);
        DROP INDEX alerts_incident;
        DROP INDEX alerts_unreported
        """,
    )


def _v7_seen_requests(conn: sqlite3.Connection) -> None:
    """Keys of inbound chat requests already handled, so a retry or replay is
    recognised across restarts."""
    _run_script(
        conn,
        """
        CREATE TABLE seen_requests (
            source TEXT NOT NULL,
            key TEXT NOT NULL,
            seen_at REAL NOT NULL,
            PRIMARY KEY (source, key)
        ) WITHOUT ROWID;
        CREATE INDEX seen_requests_at ON seen_requests(seen_at)
        """,
    )


def _v8_outbox_lanes(conn: sqlite3.Connection) -> None:
    """Outbox items get a priority (prompts and roots before replies before edits), a
    lane (the scope within which they are delivered in order; lanes proceed
    independently) and a flag saying an attempt may have reached the destination.
    Pacing of rate-limited destinations and their pauses are kept across restarts."""
    _run_script(
        conn,
        """
        ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE outbox ADD COLUMN lane TEXT NOT NULL DEFAULT '';
        ALTER TABLE outbox ADD COLUMN maybe_sent INTEGER NOT NULL DEFAULT 0;
        UPDATE outbox SET lane = destination;
        UPDATE outbox SET priority = 2 WHERE op = 'update';
        CREATE INDEX outbox_lanes ON outbox(state, lane, priority, id);

        CREATE TABLE outbox_pacing (
            scope TEXT NOT NULL,
            at REAL NOT NULL
        );
        CREATE INDEX outbox_pacing_scope ON outbox_pacing(scope, at);

        CREATE TABLE outbox_pauses (
            scope TEXT PRIMARY KEY,
            until REAL NOT NULL
        )
        """,
    )


def _v9_command_syncs(conn: sqlite3.Connection) -> None:
    """The digest of the command schema last synced to each chat scope (a Discord
    guild), so an unchanged schema is not synced again."""
    _run_script(
        conn,
        """
        CREATE TABLE command_syncs (
            platform TEXT NOT NULL,
            scope TEXT NOT NULL,
            digest TEXT NOT NULL,
            synced_at REAL NOT NULL,
            PRIMARY KEY (platform, scope)
        ) WITHOUT ROWID
        """,
    )


MIGRATIONS: tuple[Migration, ...] = (
    _v1,
    _v2,
    _v3,
    _v4,
    _v5,
    _v6,
    _v7_seen_requests,
    _v8_outbox_lanes,
    _v9_command_syncs,
)
"""Forward migrations; entry ``i`` takes the schema from version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer bot than this one."""


def schema_version(conn: sqlite3.Connection) -> int:
    """Return the schema version stored in the database file."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> list[int]:
    """Bring the schema up to ``target``; return the versions applied, in order.

    Each step runs in its own transaction together with the version bump.
    """
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database schema is version {current}, this bot knows up to {SCHEMA_VERSION}"
        )
    applied: list[int] = []
    for version in range(current, target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(version + 1)
    return applied


def connect(path: str | Path) -> sqlite3.Connection:
    """Open a connection in autocommit mode with WAL, NORMAL sync and a busy timeout."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=10.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-32768")  # 32 MiB: the alert key index stays cached
    # Checkpoint every 8192 pages (32 MiB of WAL) rather than 1000: pages that many
    # commits rewrite (index leaves, incidents) are copied back once, not each time.
    # Durability is unchanged: a commit is in the WAL either way.
    conn.execute("PRAGMA wal_autocheckpoint=8192")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def open_database(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) and migrate the database at ``path``."""
    conn = connect(path)
    migrate(conn)
    return sqlite_utils.Database(conn)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one ``BEGIN IMMEDIATE`` transaction: all of it commits or none."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
