"""Small text helpers shared by command handlers."""

from __future__ import annotations

from datetime import UTC, datetime


def ago(ts: float, now: float) -> str:
    """``3m ago``-style age of a timestamp."""
    return f"{duration(max(0.0, now - ts))} ago"


def duration(seconds: float) -> str:
    """``45s``, ``12m``, ``3h 5m``, ``2d 4h``."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def timestamp(ts: float) -> str:
    """``2026-11-23 07:16 UTC``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
