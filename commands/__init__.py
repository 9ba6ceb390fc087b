"""What the bot does, platform-agnostic: one package per capability, small commands
as modules.

Importing this package registers every built-in command in the default registry.
"""

from __future__ import annotations

from commands import audit, deploy, help, incidents, info, sanity, status

__all__ = ["audit", "deploy", "help", "incidents", "info", "sanity", "status"]
