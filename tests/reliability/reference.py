"""The lake a correct download must produce, computed from the simulator's own data.

Each dataset's requests are listed from the simulator's calendar (the way Tushare users cover a
range: one call per trading day, week end, month end or report period; snapshots whole), and each
request's rows are taken from `Simulator.expected`: every row and field, in the revision the
simulator last served. Nothing here reads neo's lake, ledger or client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pyarrow as pa

from neo.core.config import DEFAULT_INDICES
from neo.datasets import DATASETS, DatasetSpec, Strategy
from neo.datasets.spec import rows_to_table
from neo.sim.server import Simulator


def _calendar(sim: Simulator) -> list[date]:
    _, rows = sim.expected("trade_cal", {"exchange": "SSE"})
    return sorted(date(int(d[:4]), int(d[4:6]), int(d[6:])) for _, d, is_open, _ in rows if is_open == "1")


def _months(start: date, end: date) -> list[tuple[date, date]]:
    out = []
    for y in range(start.year, end.year + 1):
        for m in range(1, 13):
            first = date(y, m, 1)
            last = date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)
            if last >= date(start.year, start.month, 1) and first <= end:
                out.append((first, last))
    return out


def requests(sim: Simulator, spec: DatasetSpec, start: date, end: date) -> list[dict[str, str]]:
    if spec.strategy is Strategy.SNAPSHOT:
        return [{}]
    if spec.strategy is Strategy.PERIOD:
        ends = [
            date(y, m, d)
            for y in range(start.year, end.year + 1)
            for m, d in ((3, 31), (6, 30), (9, 30), (12, 31))
        ]
        param = spec.request_param or "period"
        return [{param: q.strftime("%Y%m%d")} for q in ends if start <= q <= end]
    if spec.strategy is Strategy.CODE_WINDOWS:  # per index of the default setting and window
        if spec.window == "year":
            windows = [(date(y, 1, 1), date(y, 12, 31)) for y in range(start.year, end.year + 1)]
        else:
            windows = _months(start, end)
        return [
            {spec.request_param or "ts_code": code, "start_date": f"{lo:%Y%m%d}", "end_date": f"{hi:%Y%m%d}"}
            for code in DEFAULT_INDICES
            for lo, hi in windows
        ]
    if spec.strategy is Strategy.MINUTE_BARS:
        return _minute_windows(sim, spec, start, end)
    if spec.strategy is Strategy.STOCK_HISTORY:  # per stock ever listed by `end`
        codes = set()
        for status in ("L", "D", "P", "G"):
            names, rows = sim.expected("stock_basic", {"list_status": status})
            at = names.index("list_date")
            codes |= {r[0] for r in rows if r[at] is not None and r[at] <= f"{end:%Y%m%d}"}
        return [{"ts_code": c} for c in sorted(codes)]
    calendar = _calendar(sim)
    if spec.strategy is Strategy.WEEK_END:
        last = {d.isocalendar()[:2]: d for d in calendar}
        days = [d for d in calendar if last[d.isocalendar()[:2]] == d]
    elif spec.strategy is Strategy.MONTH_END:
        last = {(d.year, d.month): d for d in calendar}
        days = [d for d in calendar if last[(d.year, d.month)] == d]
    else:
        days = calendar
    return [{"trade_date": d.strftime("%Y%m%d")} for d in days if start <= d <= end]


# The codes whose minute bars a scenario downloads: every stock (the reliability runs set
# minute_stocks = ["all"]) and two indices (minute_indices).
MINUTE_INDICES = ("000300.SH", "000905.SH")
MINUTE_BARS_A_DAY = {"1min": 241, "5min": 49, "15min": 17, "30min": 9, "60min": 5}  # MINUTES.md


def _minute_windows(sim: Simulator, spec: DatasetSpec, start: date, end: date) -> list[dict[str, str]]:
    """Per code, its open days within its listed life, in consecutive windows of as many days as
    8,000 rows hold: how a user covers a range with minute calls (and what `neo download --refetch`
    asks for, so that a revision the simulator served is the one read here)."""
    assert spec.freq is not None
    calendar = _calendar(sim)
    lives: dict[str, tuple[date | None, date | None]] = {}
    if spec.api == "stk_mins":
        for status in ("L", "D", "P", "G"):
            names, rows = sim.expected("stock_basic", {"list_status": status})
            lo, hi = names.index("list_date"), names.index("delist_date")
            for r in rows:
                lives[r[0]] = tuple(
                    date(int(v[:4]), int(v[4:6]), int(v[6:])) if v else None for v in (r[lo], r[hi])
                )
    else:
        lives = {code: (None, None) for code in MINUTE_INDICES}
    size = 8000 // MINUTE_BARS_A_DAY[spec.freq]
    out = []
    for code, (listed, delisted) in sorted(lives.items()):
        if listed is None and spec.api == "stk_mins":
            continue
        days = [
            d
            for d in calendar
            if start <= d <= end and (listed is None or d >= listed) and (delisted is None or d < delisted)
        ]
        for k in range(0, len(days), size):
            part = days[k : k + size]
            out.append(
                {
                    "ts_code": code,
                    "freq": spec.freq,
                    "start_date": f"{part[0]:%Y-%m-%d} 00:00:00",
                    "end_date": f"{part[-1]:%Y-%m-%d} 23:59:59",
                }
            )
    return out


def expected_table(sim: Simulator, spec: DatasetSpec, start: date, end: date) -> pa.Table:
    tables = []
    for params in requests(sim, spec, start, end):
        for call in spec.snapshot_calls:
            names, items = sim.expected(spec.api, {**call, **params})
            tables.append(spec.drop_null_twins(spec.conform(rows_to_table(names, items, spec))))
    return pa.concat_tables(tables) if tables else spec.schema.empty_table()


@dataclass
class Diff:
    missing: list[tuple]  # reference rows the lake lacks or holds with other values
    extra: list[tuple]  # lake rows the reference does not have (wrong values, duplicates)

    def __repr__(self) -> str:
        return (
            f"{len(self.missing)} reference rows missing or different (e.g. {self.missing[:1]}), "
            f"{len(self.extra)} lake rows not in the reference (e.g. {self.extra[:1]})"
        )


def compare(
    con: duckdb.DuckDBPyConnection,
    sim: Simulator,
    start: date,
    end: date,
    datasets: list[str] | None = None,
) -> dict[str, Diff]:
    """Differences between the lake's views and the reference, per dataset ({} when equal)."""
    problems = {}
    for name in datasets or DATASETS:
        spec = DATASETS[name]
        con.register("ref", expected_table(sim, spec, start, end))
        cols = ", ".join(f'"{c}"' for c in spec.field_names)
        key = ", ".join(spec.key)
        dup = con.sql(f"SELECT count(*) - count(DISTINCT ({key})) FROM ref").fetchall()[0][0]
        assert dup == 0, f"{name}: the reference itself repeats {dup} keys"
        missing = con.sql(f"SELECT {cols} FROM ref EXCEPT ALL SELECT {cols} FROM {name}").fetchall()
        extra = con.sql(f"SELECT {cols} FROM {name} EXCEPT ALL SELECT {cols} FROM ref").fetchall()
        con.unregister("ref")
        if missing or extra:
            problems[name] = Diff(missing, extra)
    return problems
