"""Tushare Pro errors, classified by code and message text (NOTES.md: code 40203 covers several cases).

Each class says what the caller should do: stop the run, stop one dataset, wait for the quota window,
or retry with backoff. Messages never contain the token.
"""

from __future__ import annotations

import re

from neo.core.errors import NeoError


class TushareError(NeoError):
    """A call that did not return data. `api`, `code` and `msg` tell which call and why."""

    def __init__(self, api: str, message: str, code: int | None = None, msg: str = "") -> None:
        super().__init__(f"{api}: {message}")
        self.api = api
        self.code = code
        self.msg = msg


class CredentialError(TushareError):
    """Bad token or a token used from too many IPs: stop the whole run."""


class UnknownApiError(TushareError):
    """The server does not know this API name: the request fails, and retrying cannot help."""


class ApiPermissionError(TushareError):
    """The account lacks the points (or subscription) for this API: the request fails, and retrying
    cannot help until the account has them."""


class BadRequestError(TushareError):
    """The request itself is wrong (unknown field, malformed params): fix the request."""


class QuotaError(TushareError):
    """The server's per-minute quota answered: wait for the window and retry."""


class QuotaExhaustedError(TushareError):
    """A per-hour or per-day quota: retrying now cannot help; defer to a later run."""


class TransientError(TushareError):
    """Server errors, HTTP 5xx, timeouts, broken connections, malformed bodies: retry with backoff."""


class RetriesExhaustedError(TushareError):
    """A retryable failure that kept failing: fail loudly, never as 'no data'."""


class PagingError(TushareError):
    """The server ignored offset, so pages past the row cap cannot be fetched."""


_RULES: list[tuple[re.Pattern[str], type[TushareError], str]] = [
    (
        re.compile(r"token不对"),
        CredentialError,
        "the Tushare token was rejected (40101); check TUSHARE_TOKEN",
    ),
    (re.compile(r"IP数量超限"), CredentialError, "the token is in use from too many IP addresses"),
    (re.compile(r"正确的接口名"), UnknownApiError, "the server does not know this API name"),
    (re.compile(r"每分钟最多访问"), QuotaError, "per-minute quota reached"),
    (re.compile(r"每小时最多访问"), QuotaExhaustedError, "per-hour quota reached; try again next hour"),
    (re.compile(r"每天最多访问"), QuotaExhaustedError, "per-day quota reached; try again tomorrow"),
    (
        re.compile(r"没有.*(访问权限|的权限)"),
        ApiPermissionError,
        "the account has no permission for this API",
    ),
    (re.compile(r"不包含字段"), BadRequestError, "unknown field requested"),
    # A call without a parameter the API needs (e.g. index_daily without ts_code) is answered with
    # code 40101 and English text (waditu/tushare#1492): not a token problem.
    (re.compile(r"\brequired\b"), BadRequestError, "a required parameter is missing"),
    (re.compile(r"数据库异常"), TransientError, "server database error"),
    (re.compile(r"服务器错误"), TransientError, "server error"),
    (re.compile(r"系统内部错误"), BadRequestError, "the server rejected the request as malformed"),
]


def classify(api: str, code: int, msg: str) -> TushareError:
    """Map a business error reply (code != 0) to the class that says what to do about it."""
    for pattern, cls, text in _RULES:
        if pattern.search(msg):
            return cls(api, f"{text} (code {code}: {msg})", code, msg)
    if code == 40101:
        return CredentialError(api, f"authentication failed (code {code}: {msg})", code, msg)
    if code in (40203, -2002):
        return ApiPermissionError(api, f"access refused (code {code}: {msg})", code, msg)
    if code in (-2001, -1000):
        return BadRequestError(api, f"bad request (code {code}: {msg})", code, msg)
    # Unknown codes are treated as transient: retried a bounded number of times, then loud.
    return TransientError(api, f"server error (code {code}: {msg})", code, msg)
