"""What the bot does, platform-agnostic: one module per capability.

Importing this package registers every built-in command in the default registry.
"""

from __future__ import annotations

from commands import (
    audit,
    deploy,
    help,
    history,
    incidents,
    info,
    locks,
    matrix,
    rollback,
    sanity,
    schedules,
    status,
    validators,
)

__all__ = [
    "audit",
    "deploy",
    "help",
    "history",
    "incidents",
    "info",
    "locks",
    "matrix",
    "rollback",
    "sanity",
    "schedules",
    "status",
    "validators",
]
