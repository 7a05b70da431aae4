"""Tushare Pro HTTP client: the real protocol, paging past row caps, classified errors, retries
with backoff and jitter, and per-API quotas shared across threads and processes.

An HTTP failure is never mistaken for "no data": only a well-formed reply with code 0 returns rows.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import orjson
import pyarrow as pa

from neo.core import logs
from neo.core.config import Settings
from neo.core.dates import fmt_day, parse_day
from neo.core.errors import UsageError
from neo.datasets import row_cap, spec_for_api
from neo.datasets.spec import rows_to_table
from neo.sources.errors import (
    BadRequestError,
    PagingError,
    QuotaError,
    RetriesExhaustedError,
    TransientError,
    TushareError,
    classify,
)
from neo.sources.quota import QuotaGate

log = logging.getLogger("neo.tushare")


@dataclass(frozen=True)
class Page:
    fields: list[str]
    items: list[list[Any]]
    has_more: bool


class TushareClient:
    """One client per process is enough: it is thread-safe and pools connections."""

    def __init__(
        self,
        settings: Settings,
        *,
        quota: QuotaGate | None = None,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._token = settings.token_value()
        logs.register_secret(self._token)
        self._url = settings.tushare_url
        self._quota = quota
        self._http = http or httpx.Client(
            timeout=settings.timeout, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
        )
        self._sleep = sleep
        self._lock = threading.Lock()
        self.stats: Counter[str] = Counter()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TushareClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TushareClient(url={self._url!r}, token=***)"

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n

    def row_cap(self, api: str) -> int:
        """Rows per page of `api` (see neo.datasets.row_cap)."""
        return row_cap(api, self.settings.row_caps)

    # -- one call ----------------------------------------------------------------------------------

    def call(self, api: str, params: dict[str, Any] | None = None, fields: Iterable[str] | str = "") -> Page:
        """One API call, retried until it returns a well-formed reply or fails loudly."""
        body = {
            "api_name": api,
            "token": self._token,
            "params": params or {},
            "fields": fields if isinstance(fields, str) else ",".join(fields),
        }
        attempt = quota_waits = 0
        while True:
            if self._quota is not None:
                self._quota.acquire(api)
            try:
                return self._post(api, body)
            except QuotaError as exc:
                if quota_waits >= self.settings.quota_waits:
                    raise RetriesExhaustedError(
                        api, f"still over quota after {quota_waits} waits ({exc.msg})", exc.code, exc.msg
                    ) from None
                quota_waits += 1
                delay = self.settings.quota_window * random.uniform(1.0, 1.1)
                self._count("quota_waits")
                log.warning("%s: server quota reached; waiting %.1fs for the window", api, delay)
                self._sleep(delay)
            except TransientError as exc:
                if attempt >= self.settings.retries:
                    raise RetriesExhaustedError(
                        api,
                        f"failed after {attempt + 1} attempts, last: {exc.args[0].split(': ', 1)[1]}",
                        exc.code,
                        exc.msg,
                    ) from None
                delay = min(self.settings.backoff_max, self.settings.backoff_base * 2**attempt)
                delay *= random.uniform(0.5, 1.0)  # jitter spreads retries of concurrent workers
                attempt += 1
                self._count("retries")
                log.warning("%s; retry %d/%d in %.2fs", exc, attempt, self.settings.retries, delay)
                self._sleep(delay)

    def _post(self, api: str, body: dict[str, Any]) -> Page:
        started = time.perf_counter()
        self._count("requests")
        try:
            resp = self._http.post(
                self._url, content=orjson.dumps(body), headers={"Content-Type": "application/json"}
            )
        except httpx.TimeoutException:
            raise TransientError(api, f"no reply within {self.settings.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise TransientError(api, f"connection failed ({type(exc).__name__}: {exc})") from None
        if resp.status_code != 200:
            if resp.status_code >= 500 or resp.status_code in (408, 429):
                raise TransientError(api, f"HTTP {resp.status_code} from the server")
            raise BadRequestError(api, f"HTTP {resp.status_code} from {self._url}; check NEO_TUSHARE_URL")
        page = self._parse(api, resp.content)
        log.debug(
            "%s %s -> %d rows in %.0f ms",
            api,
            body["params"],
            len(page.items),
            (time.perf_counter() - started) * 1000,
        )
        return page

    @staticmethod
    def _parse(api: str, content: bytes) -> Page:
        try:
            reply = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise TransientError(api, f"malformed reply body ({len(content)} bytes, not JSON)") from None
        if not isinstance(reply, dict) or "code" not in reply:
            raise TransientError(api, "malformed reply (no code)")
        code = reply["code"]
        if code != 0:
            raise classify(api, int(code) if isinstance(code, int | float) else -1, str(reply.get("msg", "")))
        data = reply.get("data")
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("fields"), list)
            or not isinstance(data.get("items"), list)
        ):
            raise TransientError(api, "malformed reply (code 0 without data.fields/items)")
        fields, items = data["fields"], data["items"]
        # map() walks the rows in C: this check runs on every row of every reply.
        if set(map(type, items)) - {list} or set(map(len, items)) - {len(fields)}:
            raise TransientError(api, "malformed reply (a row does not match the fields)")
        return Page(fields, items, bool(data.get("has_more")))

    # -- a whole query -----------------------------------------------------------------------------

    def query(
        self,
        api: str,
        params: dict[str, Any] | None = None,
        fields: Iterable[str] | str = "",
        *,
        strict: bool = True,
    ) -> pa.Table:
        """All rows of a query as an Arrow table cast to the dataset's declared types.

        Pages with limit/offset whenever a page is full. When the user passes limit or offset,
        exactly that one page is fetched. A value that does not fit its declared type is a
        SchemaError, or with strict=False stays as it came (see `rows_to_table`).
        """
        params = {k: v for k, v in (params or {}).items() if v is not None}
        spec = spec_for_api(api)
        if "limit" in params or "offset" in params:
            page = self.call(api, params, fields)
            names, items = page.fields, page.items
        elif spec is not None and spec.split_at_cap:
            names, items = self._halves(api, params, fields, self.row_cap(api))
        else:
            names, items = self._all_pages(api, params, fields)
        return rows_to_table(names, items, spec, strict=strict)

    def _all_pages(
        self, api: str, params: dict[str, Any], fields: Iterable[str] | str
    ) -> tuple[list[str], list]:
        size = self.row_cap(api)
        first = self.call(api, {**params, "limit": size, "offset": 0}, fields)
        names, items = first.fields, list(first.items)
        last = first
        while items and (len(last.items) >= size or last.has_more):
            last = self.call(api, {**params, "limit": size, "offset": len(items)}, fields)
            if not last.items:
                break
            if last.items[0] == first.items[0]:  # rows are keyed, so an equal row means offset was ignored
                return self._split(api, params, fields, size)
            if last.fields != names:
                raise TransientError(api, "pages of one query came back with different fields")
            items.extend(last.items)
            self._count("pages")
        return names, items

    def _split(
        self, api: str, params: dict[str, Any], fields: Iterable[str] | str, size: int
    ) -> tuple[list, list]:
        """The server ignores offset: halve the date range until every part fits in one page."""
        start, end = params.get("start_date"), params.get("end_date")
        try:
            lo, hi = parse_day(str(start)), parse_day(str(end))
        except UsageError:
            lo = hi = None
        if lo is None or hi is None or hi <= lo:
            raise PagingError(
                api,
                f"the reply reached the row cap ({size}) and the server ignores offset; "
                "narrow the query (e.g. start_date/end_date) so each call returns fewer rows",
            )
        mid = lo + (hi - lo) // 2
        self._count("splits")
        log.info("%s: server ignores offset; splitting %s-%s", api, start, end)
        names_a, a = self._all_pages(api, {**params, "end_date": fmt_day(mid)}, fields)
        names_b, b = self._all_pages(api, {**params, "start_date": fmt_day(mid + timedelta(days=1))}, fields)
        return (names_a if a else names_b), a + b

    def _halves(
        self, api: str, params: dict[str, Any], fields: Iterable[str] | str, size: int
    ) -> tuple[list, list]:
        """Without offset (minute bars, where Tushare's support of it is unverified): one call,
        and a reply that reaches the cap is asked again as two halves of its range of days
        ('YYYY-MM-DD HH:MM:SS' bounds), down to a single day; never a truncated result."""
        page = self.call(api, params, fields)
        if len(page.items) < size and not page.has_more:
            return page.fields, page.items
        start, end = str(params.get("start_date", "")), str(params.get("end_date", ""))
        try:
            lo, hi = date.fromisoformat(start[:10]), date.fromisoformat(end[:10])
        except ValueError:
            lo = hi = None
        if lo is None or hi is None or hi <= lo:
            raise PagingError(
                api,
                f"one day's reply reached the row cap ({size}) and offset is not used for {api}; "
                "raise row_caps if the cap is larger, or narrow the query",
            )
        mid = lo + (hi - lo) // 2
        self._count("splits")
        log.info("%s: %d rows reach the cap; splitting %s..%s", api, len(page.items), start, end)
        names_a, a = self._halves(api, {**params, "end_date": f"{mid.isoformat()} 23:59:59"}, fields, size)
        after = f"{(mid + timedelta(days=1)).isoformat()} 00:00:00"
        names_b, b = self._halves(api, {**params, "start_date": after}, fields, size)
        return (names_a if a else names_b), a + b


__all__ = ["Page", "TushareClient", "TushareError"]
