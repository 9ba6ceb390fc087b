"""Sanity checks: pods, log spot checks, Prometheus queries and HTTP endpoints, the
pass/fail report, and schedules. Importing the package registers its commands."""

from __future__ import annotations

from commands.sanity import commands, schedules

__all__ = ["commands", "schedules"]
