"""One call per stock for its whole history, for APIs whose date filters lose rows (dividend: a
filter on ann_date or ex_date drops the rows where that date is null, NOTES.md). Every stock in
stock_basic is pulled once; a listed stock is pulled again once its last pull is older than
`stock_refresh_days` (a delisted stock's history no longer changes). A full refresh costs one call
per stock (about 5,500), so it is spread over days, not hours.
"""

from __future__ import annotations

from datetime import date

from neo.datasets import DatasetSpec
from neo.pipeline.ledger import request_key
from neo.strategies.base import Context, DownloadStrategy, Request


class StockHistory(DownloadStrategy):
    def plan(
        self, ctx: Context, spec: DatasetSpec, start: date, end: date, codes: list[str] | None
    ) -> list[Request]:
        entries = ctx.entries(spec)
        hours = ctx.settings.stock_refresh_days * 24
        wanted = set(codes) if codes else None
        out = []
        for code, listed, delisted in ctx.stock_codes():
            if (wanted is not None and code not in wanted) or (listed is not None and listed > end):
                continue
            params = {"ts_code": code}
            entry = entries.get(request_key(params))
            finished_after_delisting = (
                delisted is not None
                and entry is not None
                and entry.finished_at is not None
                and date.fromtimestamp(entry.finished_at) > delisted
            )
            due = not ctx.covered(entry, True) or (not finished_after_delisting and ctx.stale(entry, hours))
            if due:
                out.append(Request(spec.name, params))
        return out

    def missing(self, ctx: Context, spec: DatasetSpec, calendar: list[date]) -> list[str]:
        """Stocks never pulled, once any has been (a fresh lake is not "missing" thousands)."""
        done = {e.params.get("ts_code") for e in ctx.entries(spec).values() if e.status == "done"}
        if not done:
            return []
        return [code for code, _, _ in ctx.stock_codes() if code not in done]
