"""Minute bars in the lake: their research views and macros, and the SQL that judges them by day.

Tushare labels a minute bar by its end, in Beijing wall time (MINUTES.md): 09:30 is the opening
auction, then 09:31..11:30 and 13:01..15:00; an N-minute bar ends every N minutes of each session,
with the 09:30 bar a row of its own. The datasets store the API's bars as they come (raw prices,
vol in shares, amount in CNY); everything derived is SQL over their views, as for daily data:

- `<dataset>_hfq`, `<dataset>_qfq` (stock minute datasets): prices times the day's adj_factor; qfq
  divided by the stock's latest factor in the lake, the anchor of `daily_qfq` (catalog.adjusted_view),
  so a minute series and its daily series adjust alike. vol and amount pass through.
- `minute_bar_end(t, n)`: the end of the N-minute bar a 1min bar ending at t belongs to.
- `stk_mins_bars(n)`, `idx_mins_bars(n)`: 1min bars aggregated to N-minute bars (first open, last
  close, max high, min low, sums of vol and amount), equal to the API's own 5/15/30/60min bars.
- `stk_mins_vwap(d)`: each stock's volume-weighted average price on day d, in CNY per share.

`window_rows`, `bad_days` and `daily_mismatches` are what the planner, `neo status` and `neo
verify` read: bars per call's window, the days short of the grid, and the days whose bars do not
add up to the day's daily bar (real minute data has known holes, duplicated and shifted days:
MINUTES.md, "Known quirks").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

import duckdb
import pyarrow as pa

from neo.core.config import Settings
from neo.datasets import DATASETS, MINUTE_BARS, DatasetSpec
from neo.lake import engine
from neo.lake.engine import q

# The daily dataset each minute API's bars add up to, in lots and thousand CNY.
DAILY_OF = {"stk_mins": "daily", "idx_mins": "index_daily"}
SHARES_PER_LOT, CNY_PER_UNIT = 100, 1000
# How far a day's bars may differ from its daily bar and still agree. Prices: half a tick (0.001
# for ETFs and funds). vol and amount: 0.5% plus one lot / one thousand CNY (daily's own
# rounding): minute bars leave out after-hours fixed-price trades (MINUTES.md), daily has them.
PRICE_TOLERANCE = 0.0005
SUM_TOLERANCE = 0.005

MORNING, AFTERNOON, SESSION = 570, 780, 120  # minutes after midnight of 09:30 and 13:00; minutes a session


def bar_end_macro() -> str:
    """minute_bar_end(t, n): bars up to 09:30 (the auction) stay as they are; minute i of a
    session (1..120) belongs to the bar ending at minute ceil(i / n) * n of it, the session's last
    bar ending at its close however n divides 120."""
    m = "(hour(t) * 60 + minute(t))"

    def end(start: int) -> str:
        offset = f"least((({m} - {start + 1}) // n + 1) * n, {SESSION})"
        return f"date_trunc('day', t) + ({start} + {offset}) * INTERVAL 1 MINUTE"

    return (
        f"CASE WHEN {m} <= {MORNING} THEN t WHEN {m} <= {MORNING + SESSION} THEN {end(MORNING)} "
        f"ELSE {end(AFTERNOON)} END"
    )


def bars_macro(source: str) -> str:
    """N-minute bars from `source`'s 1min bars, in the API's field order."""
    return (
        "SELECT ts_code, minute_bar_end(trade_time, n) AS trade_time, arg_min(open, trade_time) AS open, "
        "arg_max(close, trade_time) AS close, max(high) AS high, min(low) AS low, sum(vol) AS vol, "
        f"sum(amount) AS amount FROM {q(source)} GROUP BY ALL"
    )


def vwap_macro(source: str) -> str:
    """Each code's VWAP on day d (CNY per share; null without volume), with the day's sums. The
    bounds are on trade_time itself, so row-group statistics skip the other days."""
    day = "CAST(d AS DATE)"
    return (
        f"SELECT ts_code, {day} AS trade_date, sum(amount) / nullif(sum(vol), 0) AS vwap, "
        f"sum(vol) AS vol, sum(amount) AS amount FROM {q(source)} "
        f"WHERE trade_time >= {day} AND trade_time < {day} + INTERVAL 1 DAY GROUP BY ALL"
    )


def adjusted_view(spec: DatasetSpec, kind: str) -> str:
    """A stock minute dataset's prices times the day's adj_factor (hfq), divided by the stock's
    latest factor in the lake for qfq. A code without factors (an ETF) has null prices here."""
    scale = "a.adj_factor" if kind == "hfq" else "a.adj_factor / l.latest_factor"
    prices = ", ".join(f"m.{c} * {scale} AS {c}" for c in ("open", "close", "high", "low"))
    anchor = ""
    if kind == "qfq":
        anchor = (
            "LEFT JOIN (SELECT ts_code, arg_max(adj_factor, trade_date) AS latest_factor "
            "FROM adj_factor GROUP BY ts_code) l ON l.ts_code = m.ts_code "
        )
    return (
        f"SELECT m.ts_code, m.trade_time, {prices}, m.vol, m.amount, a.adj_factor FROM {q(spec.name)} m "
        "LEFT JOIN adj_factor a ON a.ts_code = m.ts_code AND a.trade_date = CAST(m.trade_time AS DATE) "
        f"{anchor}"
    )


def minute_specs() -> list[DatasetSpec]:
    return [s for s in DATASETS.values() if s.freq is not None]


def views() -> dict[str, str]:
    """The adjusted views of every stock minute dataset."""
    return {
        f"{spec.name}_{kind}": adjusted_view(spec, kind)
        for spec in minute_specs()
        if spec.api == "stk_mins"
        for kind in ("hfq", "qfq")
    }


def macros() -> dict[str, tuple[tuple[str, ...], str]]:
    """Table macros by name: (parameters, body)."""
    return {
        "stk_mins_bars": (("n",), bars_macro("stk_mins")),
        "idx_mins_bars": (("n",), bars_macro("idx_mins")),
        "stk_mins_vwap": (("d",), vwap_macro("stk_mins")),
    }


def scalar_macros() -> dict[str, tuple[tuple[str, ...], str]]:
    return {"minute_bar_end": (("t", "n"), bar_end_macro())}


# --- judging the lake's minute bars by day ------------------------------------------------------


class Views(Protocol):
    """What the minute functions read the lake through: the read model (lake/model.py)."""

    settings: Settings

    def view(self, spec: DatasetSpec) -> str: ...


def _connect(lake: Views, *specs: DatasetSpec) -> duckdb.DuckDBPyConnection:
    """A connection with the views of just these datasets, over the files the read model lists."""
    con = engine.connect(lake.settings)
    for spec in specs:
        con.execute(f"CREATE VIEW {q(spec.name)} AS SELECT * FROM {lake.view(spec)}")
    return con


def bars_per_day(spec: DatasetSpec) -> int:
    assert spec.freq is not None
    return MINUTE_BARS[spec.freq]


def _windows(windows: list[tuple[str, date, date]]) -> pa.Table:
    codes, los, his = zip(*windows, strict=True) if windows else ((), (), ())
    return pa.table(
        {
            "i": pa.array(range(len(windows)), pa.int64()),
            "ts_code": pa.array(codes, pa.string()),
            "lo": pa.array(los, pa.date32()),
            "hi": pa.array(his, pa.date32()),
        }
    )


def window_rows(lake: Views, spec: DatasetSpec, windows: list[tuple[str, date, date]]) -> list[int]:
    """The bars the dataset's view holds in each window (code, first day, last day), counted in
    DuckDB: a whole market's history is millions of code-days, too many to bring into Python."""
    if not windows:
        return []
    con = _connect(lake, spec)
    try:
        con.register("windows", _windows(windows))
        found = con.execute(
            f"""WITH bars AS (SELECT ts_code, CAST(trade_time AS DATE) AS day, count(*) AS n
                              FROM {q(spec.name)} GROUP BY ALL)
            SELECT w.i, coalesce(sum(b.n), 0) FROM windows w LEFT JOIN bars b
            ON b.ts_code = w.ts_code AND b.day BETWEEN w.lo AND w.hi GROUP BY w.i"""
        ).fetchall()
    finally:
        con.close()
    out = [0] * len(windows)
    for i, n in found:
        out[i] = int(n)
    return out


@dataclass(frozen=True)
class BadDay:
    code: str
    day: date
    bars: int  # 0: none, where the day's daily bar (or an answered call) says it traded


def bad_days(
    lake: Views, spec: DatasetSpec, calendar: list[date], answered: list[tuple[str, date, date]]
) -> tuple[list[tuple[str, date, int]], list[BadDay]]:
    """What a minute dataset should hold, by code and month, and the days it does not hold whole.

    A code is expected to have bars on every open day between its first and last bar (its listed
    life), except the days the daily dataset (`daily`, `index_daily`) says it did not trade, where
    that dataset holds the day and the code: suspensions are not gaps. Elsewhere (an ETF, days
    `daily` lacks) a day without bars is a gap unless a call in `answered` (code, first day, last
    day: done, its rows still in the lake) covered it and so found none. A day is whole with
    exactly the grid's bars (241 at 1min): fewer is a hole, more a duplicated or shifted day.

    Returns (code, first day of a month, expected days) for every month of every code, and the
    days that are not whole, by code then day.
    """
    grid = bars_per_day(spec)
    daily = DATASETS[DAILY_OF[spec.api]]
    con = _connect(lake, spec, daily)
    try:
        con.register("cal", pa.table({"day": pa.array(calendar, pa.date32())}))
        con.register("answered", _windows(answered))
        con.execute(
            f"""CREATE TEMP TABLE judged AS
            WITH bars AS (SELECT ts_code, CAST(trade_time AS DATE) AS day, count(*) AS n
                          FROM {q(spec.name)} GROUP BY ALL),
            span AS (SELECT ts_code, min(day) AS lo, max(day) AS hi FROM bars GROUP BY ALL),
            ref AS (SELECT DISTINCT ts_code, trade_date AS day FROM {q(daily.name)}
                    WHERE ts_code IN (SELECT ts_code FROM span)),
            ref_days AS (SELECT DISTINCT trade_date AS day FROM {q(daily.name)}),
            ref_codes AS (SELECT DISTINCT ts_code FROM ref),
            expected AS (SELECT s.ts_code, c.day FROM span s JOIN cal c ON c.day BETWEEN s.lo AND s.hi)
            SELECT e.ts_code, e.day, coalesce(b.n, 0) AS n, r.ts_code IS NOT NULL AS traded,
                   e.ts_code IN (SELECT ts_code FROM ref_codes)
                   AND e.day IN (SELECT day FROM ref_days) AS by_ref
            FROM expected e LEFT JOIN bars b USING (ts_code, day) LEFT JOIN ref r USING (ts_code, day)"""
        )
        months = con.execute(
            "SELECT ts_code, CAST(date_trunc('month', day) AS DATE) AS month, "
            "count(*) FILTER (WHERE n > 0 OR NOT by_ref OR traded) FROM judged GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        bad = con.execute(
            f"""SELECT ts_code, day, n FROM judged j
            WHERE (n > 0 AND n <> {grid})
               OR (n = 0 AND by_ref AND traded)
               OR (n = 0 AND NOT by_ref AND NOT EXISTS (
                   SELECT 1 FROM answered a WHERE a.ts_code = j.ts_code AND j.day BETWEEN a.lo AND a.hi))
            ORDER BY ts_code, day"""
        ).fetchall()
    finally:
        con.close()
    return [(c, m, n) for c, m, n in months], [BadDay(c, d, n) for c, d, n in bad]


@dataclass(frozen=True)
class Mismatch:
    code: str
    day: date
    what: str  # e.g. "vol 1234500 vs daily 1234600", "bars but no daily bar"


# Each compared value: the minute side, the daily side in the minutes' units, and how far apart
# the two may be.
_COMPARED = {
    "open": ("arg_min(open, trade_time)", "d.open", f"{PRICE_TOLERANCE}"),
    "close": ("arg_max(close, trade_time)", "d.close", f"{PRICE_TOLERANCE}"),
    "high": ("max(high)", "d.high", f"{PRICE_TOLERANCE}"),
    "low": ("min(low)", "d.low", f"{PRICE_TOLERANCE}"),
    "vol": (
        "sum(vol)",
        f"d.vol * {SHARES_PER_LOT}",
        f"{SUM_TOLERANCE} * d.vol * {SHARES_PER_LOT} + {SHARES_PER_LOT}",
    ),
    "amount": (
        "sum(amount)",
        f"d.amount * {CNY_PER_UNIT}",
        f"{SUM_TOLERANCE} * d.amount * {CNY_PER_UNIT} + {CNY_PER_UNIT}",
    ),
}


def daily_mismatches(lake: Views, spec: DatasetSpec) -> list[Mismatch]:
    """The days whose bars do not add up to that day's daily bar: first open, last close, highest
    high and lowest low against daily's (within PRICE_TOLERANCE), sums of vol (shares) and amount
    (CNY) against daily's lots x 100 and thousand CNY x 1000 (within SUM_TOLERANCE); and days with
    bars but no daily bar, for a code daily knows on a day daily holds. Codes and days the daily
    dataset does not hold (an ETF, days not downloaded) are not checked."""
    daily = DATASETS[DAILY_OF[spec.api]]
    per_day = ", ".join(f"{mine} AS {name}" for name, (mine, _, _) in _COMPARED.items())
    # A text per value that differs, '' where it agrees: concat_ws skips the NULLs.
    differs = ", ".join(
        f"CASE WHEN abs(m.{n} - {theirs}) > {room} THEN '{n} ' || m.{n} || ' vs daily ' || {theirs} END"
        for n, (_, theirs, room) in _COMPARED.items()
    )
    con = _connect(lake, spec, daily)
    try:
        rows = con.execute(
            f"""WITH m AS (SELECT ts_code, CAST(trade_time AS DATE) AS day, {per_day}
                           FROM {q(spec.name)} GROUP BY ALL),
            d AS (SELECT * FROM {q(daily.name)} WHERE ts_code IN (SELECT ts_code FROM m)),
            checked AS (
                SELECT m.ts_code, m.day, CASE WHEN d.ts_code IS NULL THEN 'bars but no daily bar'
                                              ELSE concat_ws(', ', {differs}) END AS what
                FROM m LEFT JOIN d ON d.ts_code = m.ts_code AND d.trade_date = m.day
                WHERE m.ts_code IN (SELECT ts_code FROM d)
                  AND m.day IN (SELECT DISTINCT trade_date FROM {q(daily.name)}))
            SELECT * FROM checked WHERE what <> '' ORDER BY ts_code, day"""
        ).fetchall()
    finally:
        con.close()
    return [Mismatch(code, day, what) for code, day, what in rows]
