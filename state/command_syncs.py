"""What command schema each chat scope (a Discord guild) was last given, so start-up
syncs only a schema that changed (Discord rate-limits command creation)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


class CommandSyncs:
    """Digests of synced command schemas, per platform and scope."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float]) -> None:
        self.conn = conn
        self.clock = clock

    def digest(self, platform: str, scope: str) -> str | None:
        """The digest last saved for ``scope``, if any."""
        row = self.conn.execute(
            "SELECT digest FROM command_syncs WHERE platform = ? AND scope = ?", (platform, scope)
        ).fetchone()
        return str(row[0]) if row else None

    def save(self, platform: str, scope: str, digest: str) -> None:
        """Record that ``scope`` now has the schema with ``digest``."""
        self.conn.execute(
            "INSERT INTO command_syncs (platform, scope, digest, synced_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (platform, scope) DO UPDATE SET digest = excluded.digest,"
            " synced_at = excluded.synced_at",
            (platform, scope, digest, self.clock()),
        )
