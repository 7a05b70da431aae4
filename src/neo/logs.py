"""Logging set-up with a redaction filter: registered secrets (the token) never reach a log line."""

from __future__ import annotations

import logging
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


def setup(level: int = logging.WARNING) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_redaction()
