"""Logging set-up with a redaction filter: registered secrets (the token) never reach a log line."""

from __future__ import annotations

import copy
import logging
import os
import threading

_secrets: set[str] = set()
_lock = threading.Lock()
REDACTED = "***"


def register_secret(value: str) -> None:
    """Redact `value` from every log record from now on (short values are ignored as too generic)."""
    if len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    for s in _secrets:
        if s in text:
            text = text.replace(s, REDACTED)
    return text


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = redact(record.getMessage())
            record.msg, record.args = message, None
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
        return True


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the filter to the handlers of `logger` (root by default) and to the logger itself."""
    target = logger or logging.getLogger()
    for flt_owner in [target, *target.handlers]:
        if not any(isinstance(f, RedactFilter) for f in flt_owner.filters):
            flt_owner.addFilter(RedactFilter())


class OneLineFormatter(logging.Formatter):
    """Every record on one line: an exception adds its type and first line, not a traceback (that
    needs NEO_DEBUG=1), and the token is redacted from all of it, the exception's text included."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and not os.environ.get("NEO_DEBUG"):
            exc = record.exc_info[1]
            record = copy.copy(record)
            lines = str(exc).strip().splitlines()
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {lines[0] if lines else ''}"
            record.args, record.exc_info, record.exc_text = None, None, None
        text = super().format(record)
        return redact(text if os.environ.get("NEO_DEBUG") else " ".join(text.splitlines()))


def setup(level: int = logging.WARNING) -> None:
    logging.basicConfig(level=level)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    install_redaction()
