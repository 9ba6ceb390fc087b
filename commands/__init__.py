"""What the bot does, platform-agnostic: one module per capability.

Importing this package registers every built-in command in the default registry.
"""

from __future__ import annotations

from commands import audit, help, incidents, locks, matrix, status

__all__ = ["audit", "help", "incidents", "locks", "matrix", "status"]
