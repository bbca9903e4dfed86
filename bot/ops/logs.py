"""Logging: one line per event, as text or JSON, and never the bot token.

The token is part of every Bot API URL, so any library that logs a URL or an exception
message could leak it. A filter on the handler replaces it (and ``bot<digits>:<secret>``
shapes in general) before a line is written; ``httpx`` stays at WARNING so it does not
log request URLs at all.

What people type never reaches the log: PTB's own DEBUG lines print whole updates and
request parameters (a tipster's phone number, a worker's note) and aiosqlite's print
every SQL statement with its parameters, so those loggers stay at INFO even when
gridbot runs at DEBUG. gridbot logs ids, command names and timings.

Structured fields go in ``extra={"fields": {...}}``: the text format appends them as
``key=value``, the JSON format as keys of the line's object.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_TOKEN_SHAPE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
REDACTED = "[REDACTED]"


class RedactTokenFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN_SHAPE.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {
                key: self.redact(value) if isinstance(value, str) else value
                for key, value in fields.items()
            }
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.exc_info = None if record.exc_text else record.exc_info
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


class TextFormatter(logging.Formatter):
    """``2026-11-23T10:00:00 INFO gridbot.updates update id=7 chat=42 … ms=3.1``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        pairs = " ".join(f"{key}={_text(value)}" for key, value in _fields(record).items())
        return f"{line} {pairs}" if pairs else line


def _text(value: object) -> str:
    text = "-" if value is None else str(value)
    return json.dumps(text, ensure_ascii=False) if (" " in text or not text) else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, the fields, and the
    (already redacted) traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(_fields(record))
        if record.exc_text:
            line["exc"] = record.exc_text
        elif record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


FORMATS = ("text", "json")

# Loggers whose DEBUG lines carry message contents: PTB prints updates and request
# parameters, aiosqlite every statement with its parameters (a tipster's phone number).
_CONTENT_LOGGERS = (
    "telegram.Bot",
    "telegram.ext.ExtBot",
    "telegram.ext.Application",
    "aiosqlite",
)


def configure_logging(
    level: str = "INFO", *, secrets: list[str] | None = None, format: str = "text"
) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    handler.addFilter(RedactTokenFilter(secrets or []))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    for name in _CONTENT_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
