"""Logging: JSON lines off a terminal, readable text on one, secrets never shown.

Fields that follow a command through the code (trace id, command, actor,
network) live in context variables set with :func:`log_context`, so every line
logged while handling a command carries them.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "testnet_bot_log_context", default=None
)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add ``fields`` to every log line emitted inside the block (and its tasks)."""
    merged = {**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class Redactor(logging.Filter):
    """Replaces every known secret value in a record's text with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Start hiding more values (values shorter than 4 characters are ignored)."""
        for s in secrets:
            if len(s) >= 4 and s not in self._secrets:
                self._secrets.append(s)
        self._secrets.sort(key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for s in self._secrets:
            if s in text:
                text = text.replace(s, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg = self.scrub(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = dict(_context.get() or {})
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("_"):
            out[key] = value
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, message and context fields."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = _fields(record)
        data["event"] = fields.pop("event", None) or record.getMessage()
        data["message"] = record.getMessage()
        data.update(fields)
        if record.exc_info:
            data["exc"] = record.exc_text or self.formatException(record.exc_info)
        scrub = self._redactor.scrub
        # Scrub each value before encoding too: JSON escapes quotes and backslashes,
        # so a secret containing them would no longer match in the encoded text.
        text = json.dumps(
            {k: scrub(v) if isinstance(v, str) else v for k, v in data.items()},
            default=lambda o: scrub(str(o)),
        )
        return scrub(text)


class TextFormatter(logging.Formatter):
    """``12:00:01 INFO  message  key=value ...`` for people at a terminal."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = _fields(record)
        fields.pop("event", None)
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        line = f"{ts} {record.levelname:<7} {record.getMessage()}"
        if extra:
            line += f"  {extra}"
        if record.exc_info:
            line += "\n" + (record.exc_text or self.formatException(record.exc_info))
        return self._redactor.scrub(line)


def configure_logging(
    *,
    level: str = "INFO",
    fmt: str = "auto",
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
    file: Path | None = None,
) -> Redactor:
    """Send the bot's logs (and its libraries') to ``stream`` (default stderr).

    With ``file`` (used while a terminal chat is attached, so log lines do not break
    up its replies) every line at ``level`` goes to that file as JSON and only
    warnings and errors to ``stream``. Returns the redactor so later-known secrets
    can be added to it.
    """
    stream = stream or sys.stderr
    redactor = Redactor(secrets)
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler: logging.Handler = logging.StreamHandler(stream)
    handler.addFilter(redactor)
    handler.setFormatter(JsonFormatter(redactor) if use_json else TextFormatter(redactor))
    handlers = [handler]
    if file is not None:
        handler.setLevel(max(logging.WARNING, logging.getLevelName(level)))
        file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(file, encoding="utf-8")
        to_file.addFilter(redactor)
        to_file.setFormatter(JsonFormatter(redactor))
        handlers.append(to_file)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_testnet_bot", False):
            root.removeHandler(old)
            old.close()
    for h in handlers:
        h._testnet_bot = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(level)
    for noisy in ("aiohttp.access", "apscheduler", "slack_bolt", "slack_sdk", "discord"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return redactor
