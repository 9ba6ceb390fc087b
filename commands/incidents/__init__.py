"""Incidents: Alertmanager notifications classified by the resolution matrix, each
with one GitHub issue and one chat thread. Importing the package registers its
commands."""

from __future__ import annotations

from commands.incidents import commands

__all__ = ["commands"]
