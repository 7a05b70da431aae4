"""One call per stock for its whole history, for APIs whose date filters lose rows (dividend: a
filter on ann_date or ex_date drops the rows where that date is null, NOTES.md). Every stock in
stock_basic is pulled once; a listed stock is pulled again once its last pull is older than
`stock_refresh_days` (a delisted stock's history no longer changes). A full refresh costs one call
per stock (about 5,500: 11 minutes at 500 calls a minute), so it is due every few days, not hours.
A stock whose rows the lake lost is pulled again; a stock with no dividends answers no rows, which
the ledger remembers.
"""

from __future__ import annotations

from datetime import date

from neo.datasets import DatasetSpec
from neo.lake.ledger import request_key
from neo.strategies.base import SHOWN, Context, DownloadStrategy, Gap, Request, Scope, Unit


class StockHistory(DownloadStrategy):
    def plan(
        self, ctx: Context, spec: DatasetSpec, start: date, end: date, codes: list[str] | None
    ) -> list[Request]:
        entries = ctx.entries(spec)
        in_lake = ctx.present_by(spec, "ts_code")  # a stock whose rows were lost is pulled again
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
            due = not ctx.covered(entry, code in in_lake) or (
                not finished_after_delisting and ctx.stale(entry, hours)
            )
            if due:
                out.append(Request(spec.name, params))
        return out

    def coverage(self, ctx: Context, spec: DatasetSpec, calendar: list[date]) -> list[Unit]:
        """Every stock, pulled or not, once any has been (a fresh lake is not "missing" thousands)."""
        done = {e.params.get("ts_code") for e in ctx.entries(spec).values() if e.status == "done"}
        if not done:
            return []
        return [Unit(code, None, code in done) for code, _, _ in ctx.stock_codes()]

    def gap(self, ctx: Context, spec: DatasetSpec, scope: Scope) -> Gap | None:
        """The stocks in scope (all of stock_basic when none is named) never pulled."""
        done = {e.params.get("ts_code") for e in ctx.entries(spec).values() if e.status == "done"}
        codes = list(scope.codes) if scope.codes is not None else [c for c, _, _ in ctx.stock_codes()]
        missing = [c for c in codes if c not in done]
        if not missing:
            return None
        shown = f" --codes {','.join(missing)}" if len(missing) <= SHOWN else ""
        return Gap(spec.name, "stocks", missing, f"neo download {spec.name}{shown}")
