"""The bot's two kinds of error: expected ones with a message for the user, and
everything else (logged with a trace id; the user gets a short apology)."""

from __future__ import annotations


class CommandError(Exception):
    """An expected failure; ``message`` is shown to the user as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AlreadyReported(CommandError):
    """The command failed and has told the user why itself: nothing more is posted,
    but the outcome (audit log, exit code of ``exec``) is a failure."""


class UsageError(CommandError):
    """The command's arguments are wrong; the user is shown the usage."""


class PermissionDenied(CommandError):
    """The actor lacks a permission; the message names it."""

    def __init__(self, message: str, permission: str) -> None:
        super().__init__(message)
        self.permission = permission


class StartupError(RuntimeError):
    """The bot cannot start; the message says what to fix (printed without a traceback)."""
