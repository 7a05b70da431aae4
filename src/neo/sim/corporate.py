"""Corporate actions and disclosures of the simulated market, derived from its bars and statements.

``build(market, api)`` makes the whole table of ``dividend``, ``disclosure_date``, ``forecast`` or
``express`` (the ``_vip`` variants serve the same tables per period) from the public API of
:class:`neo.sim.market.Market` only: ``frame('stock_basic' | 'daily' | 'daily_basic' |
'adj_factor')``, ``statement(api, period)``, ``periods()`` and its ``seed``/``start``/``end``. The
frames follow market.py's conventions (every fields.json field, float64 with NaN, object arrays of
``str``/``None``; the two 'int' fields, notice_times and is_audit, are int64) and
the same rng convention: every draw from ``np.random.default_rng((seed, salt, ...))`` keyed by what
it describes (crc32 of a name, a report period), never by call order. ``Market.frame`` caches each
built table once.

What ties the tables to the rest of the market (NOTES.md "Research datasets"):

- ``dividend``: every step up of ``adj_factor`` (the bar model's cash dividend) is an event with
  three stage rows 预案 -> 股东大会通过 -> 实施 sharing the 预案 ann_date (the annual report's
  ann_date when that comes early enough). Only 实施 rows carry imp_ann_date, record_date (the open
  day before ex_date), ex_date (the step day) and pay_date. cash_div_tax (pre-tax, CNY per share)
  is chosen so that ``round(previous close - cash_div_tax, 2)`` is exactly the ``daily`` pre_close
  of the first bar on or after ex_date, and close to what the factor step implies; cash_div (after
  tax) is 90% of it; the bar model has no stock dividends, so stk_div = stk_bo_rate = stk_co_rate
  = 0. About 6% of stock-years carry a plan that never reaches 实施 (no factor step), and ~5% of
  实施 rows are duplicated with update_flag '1' (Tushare's "revised" twins); other rows have '0'.
  A stage whose date is after ``end`` has no row.
- ``disclosure_date``: one row per (stock, quarter end) whose schedule was announced by ``end``;
  actual_date is the earliest ann_date of income/balancesheet/cashflow for that period (null when
  no statement is out); ~15% of reported rows were rescheduled: pre_date is the original plan (not
  the actual date), modify_date the new date, ann_date the day of the change.
- ``forecast``: for a subset of (stock, period) with a statement for the period and for the same
  period a year before (likelier for annual and H1 reports and for big changes), first_ann_date <=
  ann_date <= the statement's ann_date, the net profit range (万元) brackets the statement's
  n_income_attr_p (元) / 1e4 up to a few %, p_change_* follow from it and last_parent_net (万元),
  and the type follows the signs and size of the change. ~12% get a revision (update_flag '1', the
  first version '0', notice_times 2).
- ``express``: for a subset of (stock, period), ann_date < the statement's ann_date and the six
  headline figures within 1.5% of the first income/balancesheet version; the growth and last-year
  fields come from the statements a year before (NaN when there are none). ~5% revised.
"""

from __future__ import annotations

import datetime as dt
import zlib

import numpy as np

from neo.sim import calendar as cal
from neo.sim.state import Dataset, Frame, MarketView, api_fields

__all__ = ["CORPORATE_APIS", "build"]

CORPORATE_APIS: tuple[str, ...] = ("dividend", "disclosure_date", "forecast", "express")

_NEVER = 10**9  # ordinal standing for "not delisted" / "no date"
_TAX = 0.9  # cash_div = cash_div_tax less the 10% withholding on individual holders


def build(market: MarketView, api: str) -> Frame:
    """The whole read-only table of ``api`` (one of CORPORATE_APIS) for ``market``."""
    builders = {
        "dividend": _dividend,
        "disclosure_date": _disclosure_date,
        "forecast": _forecast,
        "express": _express,
    }
    frame = builders[api](market)
    for arr in frame.values():
        arr.flags.writeable = False
    return frame


# --------------------------------------------------------------------------------------------------
# plumbing
# --------------------------------------------------------------------------------------------------


def _salt(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _rng(market: MarketView, *salt: int) -> np.random.Generator:
    # Market's own convention: the seed reduced to non-negative 64 bits, then integer salts.
    return np.random.default_rng((market.seed % (1 << 64), *salt))


def _obj(values: list | np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values) if not isinstance(values, np.ndarray) else values
    return out


def _ords(values: np.ndarray) -> np.ndarray:
    """'YYYYMMDD' strings (None -> _NEVER) to day ordinals."""
    uniq, inv = np.unique(np.asarray([v or "" for v in values], dtype="U8"), return_inverse=True)
    conv = np.array(
        [dt.date(int(s[:4]), int(s[4:6]), int(s[6:])).toordinal() if s else _NEVER for s in uniq.tolist()],
        dtype=np.int64,
    )
    return conv[inv] if len(values) else np.empty(0, dtype=np.int64)


def _dates(ords: np.ndarray) -> np.ndarray:
    """Day ordinals to 'YYYYMMDD' object array; negative or _NEVER becomes None."""
    ords = np.asarray(ords, dtype=np.int64)
    if len(ords) == 0:
        return np.empty(0, dtype=object)
    uniq, inv = np.unique(ords, return_inverse=True)
    text = [cal.ymd(dt.date.fromordinal(int(o))) if 0 < o < _NEVER else None for o in uniq.tolist()]
    return _obj(text)[inv]


class _Days:
    """Open days from two years before ``start`` to two years after ``end``, as ordinals."""

    def __init__(self, market: MarketView) -> None:
        lo = dt.date(market.start.year - 2, 1, 1)
        hi = dt.date(market.end.year + 2, 12, 31)
        self.ords = np.array([d.toordinal() for d in cal.open_days(lo, hi)], dtype=np.int64)

    def snap(self, ords: np.ndarray) -> np.ndarray:
        """The open day on or after each ordinal."""
        i = np.clip(np.searchsorted(self.ords, ords), 0, len(self.ords) - 1)
        return self.ords[i]

    def before(self, ords: np.ndarray, k: np.ndarray | int = 1) -> np.ndarray:
        """The k-th open day strictly before each ordinal."""
        i = np.clip(np.searchsorted(self.ords, ords) - k, 0, len(self.ords) - 1)
        return self.ords[i]


def _quarter_ends(first_year: int, last: dt.date) -> list[dt.date]:
    out = []
    for year in range(first_year, last.year + 1):
        for m, d in ((3, 31), (6, 30), (9, 30), (12, 31)):
            if dt.date(year, m, d) <= last:
                out.append(dt.date(year, m, d))
    return out


def _pkey(pe: dt.date) -> int:
    return pe.year * 10 + (pe.month - 1) // 3 + 1


def _groups(codes: np.ndarray) -> dict[str, tuple[int, int]]:
    """Row span of each ts_code in a frame whose rows are grouped by ts_code."""
    n = len(codes)
    if n == 0:
        return {}
    starts = np.concatenate([[0], np.flatnonzero(codes[1:] != codes[:-1]) + 1])
    stops = np.append(starts[1:], n)
    return {str(codes[a]): (int(a), int(b)) for a, b in zip(starts, stops, strict=True)}


def _by_stock_and_date(frame: Frame) -> Frame:
    """``frame`` with rows grouped by ts_code, dates ascending (market.py's usual order, checked)."""
    codes, dates = frame["ts_code"], frame["trade_date"]
    if len(codes) < 2:
        return frame
    same = codes[1:] == codes[:-1]
    ordered = bool(np.all(~same | (dates[1:] > dates[:-1])))
    heads = codes[np.append(True, ~same)].tolist()
    if ordered and len(heads) == len(set(heads)):  # each stock in one run, dates ascending
        return frame
    order = np.lexsort((dates.astype("U8"), codes.astype("U")))
    return {k: v[order] for k, v in frame.items()}


class _Report:
    """Report-type-1 rows of one statement API for one period, reduced to one row per ts_code:
    the first version (earliest f_ann_date) and the latest."""

    def __init__(self, market: MarketView, api: str, period: str) -> None:
        f = market.statement(api, period)
        keep = np.flatnonzero(f["report_type"] == "1") if len(f["ts_code"]) else np.empty(0, np.int64)
        codes = f["ts_code"][keep].astype("U")
        fann = np.asarray([x or "" for x in f["f_ann_date"][keep]], dtype="U8")
        order = np.lexsort((fann, codes))
        codes, rows = codes[order], keep[order]
        first = np.append(True, codes[1:] != codes[:-1]) if len(codes) else np.empty(0, bool)
        last = np.append(codes[1:] != codes[:-1], True) if len(codes) else np.empty(0, bool)
        self.codes = codes[first]
        self.first = {k: v[rows[first]] for k, v in f.items()}
        self.latest = {k: v[rows[last]] for k, v in f.items()}
        self.pos = {c: i for i, c in enumerate(self.codes.tolist())}

    def take(self, codes: list[str], col: str, latest_by: np.ndarray | None = None) -> np.ndarray:
        """``col`` of the first version per code (NaN/None where absent); with ``latest_by`` (ann
        ordinals per code), the latest version whose f_ann_date is on or before that day."""
        idx = np.array([self.pos.get(c, -1) for c in codes], dtype=np.int64)
        src = self.first[col]
        missing: object = None if src.dtype == object else np.nan
        if len(src) == 0:
            return np.full(len(codes), missing, dtype=src.dtype)
        at = np.maximum(idx, 0)
        out = src[at]
        if latest_by is not None:
            known = _ords(self.latest["f_ann_date"][at]) <= latest_by
            out = np.where(known, self.latest[col][at], out)
        return np.where(idx >= 0, out, missing)


def _growth(cur: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Year-on-year change in percent; over |last| so that a smaller loss counts as growth."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.round((cur - last) / np.abs(last) * 100.0, 4)


def _float(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _assemble(api: str, cols: dict[str, np.ndarray], n: int) -> Frame:
    """Every field of ``api`` in fields.json order; absent ones all NaN / None."""
    out: Frame = {}
    for name, typ in api_fields(api):
        if name in cols:
            col = cols[name]
            out[name] = _float(col) if typ == "float" else col.astype(np.int64) if typ == "int" else _obj(col)
        else:
            out[name] = (
                np.full(n, np.nan)
                if typ == "float"
                else np.empty(0, np.int64)
                if typ == "int" and n == 0
                else np.full(n, None, dtype=object)
            )
    return out


# --------------------------------------------------------------------------------------------------
# dividend
# --------------------------------------------------------------------------------------------------


def _dividend(market: MarketView) -> Frame:
    days = _Days(market)
    end_ord = market.end.toordinal()
    adj = _by_stock_and_date(market.frame("adj_factor"))
    daily = _by_stock_and_date(market.frame("daily"))
    basic_d = _by_stock_and_date(market.frame("daily_basic"))
    sb = market.frame("stock_basic")
    list_ord = dict(zip(sb["ts_code"].tolist(), _ords(sb["list_date"]).tolist(), strict=True))
    delist_ord = dict(zip(sb["ts_code"].tolist(), _ords(sb["delist_date"]).tolist(), strict=True))

    # Factor steps: a row whose factor exceeds the previous row's of the same stock.
    codes, f = adj["ts_code"], adj["adj_factor"]
    step = np.flatnonzero((codes[1:] == codes[:-1]) & (f[1:] > f[:-1])) + 1
    ev_code = codes[step].astype("U")
    ev_ex = _ords(adj["trade_date"][step])
    adj_prev, adj_ex = f[step - 1], f[step]

    # Previous close and the pre_close `daily` shows on the first bar on or after the ex-date.
    dgroups, bgroups = _groups(daily["ts_code"]), _groups(basic_d["ts_code"])
    prev_close = np.full(len(step), np.nan)
    bar_pre = np.full(len(step), np.nan)
    base_share = np.full(len(step), np.nan)
    for code in np.unique(ev_code).tolist():
        which = np.flatnonzero(ev_code == code)
        lo, hi = dgroups.get(code, (0, 0))
        ddates = daily["trade_date"][lo:hi].astype("U8")
        exs = _dates(ev_ex[which]).astype("U8")
        pos = np.searchsorted(ddates, exs)
        has_prev = pos > 0
        prev_close[which[has_prev]] = daily["close"][lo + pos[has_prev] - 1]
        has_bar = pos < hi - lo
        bar_pre[which[has_bar]] = daily["pre_close"][lo + pos[has_bar]]
        blo, bhi = bgroups.get(code, (0, 0))
        bpos = np.searchsorted(basic_d["trade_date"][blo:bhi].astype("U8"), exs)
        ok = bpos > 0
        base_share[which[ok]] = basic_d["total_share"][blo + bpos[ok] - 1]
    # No bar after the step (delisted or paused): the bar model's ex-rights price.
    implied = np.round(prev_close * adj_prev / adj_ex, 2)
    bar_pre = np.where(np.isnan(bar_pre), implied, bar_pre)

    # Pre-tax cash per share: per-10-share amounts have 2 decimals, so 3 per share; it must give
    # exactly the shown pre_close, strictly inside the rounding interval (no half-way ties).
    dps = prev_close * (1.0 - adj_prev / adj_ex)
    cands = [np.round(dps, 3), np.round(prev_close - bar_pre, 2), np.clip(np.round(dps, 3), 0.001, 0.004)]
    cash_tax = np.full(len(step), np.nan)
    for c in cands:
        good = np.isnan(cash_tax) & (c > 0) & (np.abs(prev_close - c - bar_pre) < 0.005 - 1e-9)
        cash_tax = np.where(good, c, cash_tax)
    keep = ~np.isnan(cash_tax)  # a step with no consistent dividend stays a rights-issue-like step
    ev_code, ev_ex, cash_tax, base_share = ev_code[keep], ev_ex[keep], cash_tax[keep], base_share[keep]
    m = len(ev_code)

    ev_year = np.array([dt.date.fromordinal(int(o)).year for o in ev_ex], dtype=np.int64)
    rng = _rng(market, _salt("corp-dividend"))
    record = days.before(ev_ex, 1)
    imp_ann = days.before(record, rng.integers(1, 5, size=m))
    agm = days.snap(imp_ann - rng.integers(5, 26, size=m))
    agm = np.minimum(agm, imp_ann)
    fallback = days.snap(agm - rng.integers(20, 46, size=m))
    # The plan comes with the annual report when that report is out early enough.
    ann = fallback.copy()
    for year in np.unique(ev_year).tolist():
        rep = _Report(market, "income", f"{year - 1}1231")
        which = np.flatnonzero(ev_year == year)
        stmt = _ords(rep.take(ev_code[which].tolist(), "ann_date"))
        use = stmt <= agm[which] - 14
        ann[which] = np.where(use, stmt, fallback[which])
    lst = np.array([list_ord.get(c, 0) for c in ev_code.tolist()], dtype=np.int64)
    ann = np.maximum(ann, days.snap(lst))
    agm = np.maximum(agm, ann)
    twin = rng.random(m) < 0.05

    # Plans that never reach 实施: ~6% of listed stock-years without a step.
    paid = set(zip(ev_code.tolist(), ev_year.tolist(), strict=True))
    f_code: list[str] = []
    f_year: list[int] = []
    for year in range(market.start.year, market.end.year + 1):
        yr = _rng(market, _salt("corp-dividend-failed"), year)
        draw = yr.random(len(sb["ts_code"]))
        for c, u in zip(sb["ts_code"].tolist(), draw.tolist(), strict=True):
            if u < 0.06 and (c, year) not in paid:
                f_code.append(c)
                f_year.append(year)
    k = len(f_code)
    frng = _rng(market, _salt("corp-dividend-failed-dates"))
    f_ann = days.snap(
        np.array([dt.date(y, 3, 15).toordinal() for y in f_year], dtype=np.int64)
        + frng.integers(0, 50, size=k)
    )
    f_agm = np.where(frng.random(k) < 0.5, days.snap(f_ann + frng.integers(20, 50, size=k)), _NEVER)
    f_cash = np.round(frng.uniform(0.02, 0.5, size=k), 3)
    f_lst = np.array([list_ord.get(c, 0) for c in f_code], dtype=np.int64)
    f_del = np.array([delist_ord.get(c, _NEVER) for c in f_code], dtype=np.int64)
    f_ok = (f_lst <= f_ann) & (f_ann < f_del)
    f_agm = np.where(f_agm < f_del, f_agm, _NEVER)

    # Rows: (event, stage). Stage dates decide which rows exist by `end`.
    code_all = np.concatenate([ev_code.astype(object), _obj(f_code)])
    year_all = np.concatenate([ev_year, np.array(f_year, dtype=np.int64)])
    ann_all = np.concatenate([ann, f_ann])
    cash_all = np.concatenate([cash_tax, f_cash])
    share_all = np.concatenate([base_share, np.full(k, np.nan)])
    ok_all = np.concatenate([np.ones(m, dtype=bool), f_ok])
    stage_dates = [
        ("预案", ann_all, None),
        ("股东大会通过", np.concatenate([agm, f_agm]), None),
        ("实施", np.concatenate([imp_ann, np.full(k, _NEVER)]), "imp"),
    ]
    impl_cols = {
        "record_date": np.concatenate([record, np.full(k, _NEVER)]),
        "ex_date": np.concatenate([ev_ex, np.full(k, _NEVER)]),
        "pay_date": np.concatenate([ev_ex, np.full(k, _NEVER)]),
        "imp_ann_date": np.concatenate([imp_ann, np.full(k, _NEVER)]),
    }
    parts: list[dict[str, np.ndarray]] = []
    for proc, when, kind in stage_dates:
        rows = np.flatnonzero(ok_all & (when <= end_ord))
        n_first = len(rows)
        if kind == "imp":  # revised twins: the same 实施 row again, told apart by update_flag
            implemented = rows[rows < m]
            rows = np.concatenate([rows, implemented[twin[implemented]]])
        flags = np.full(len(rows), "0", dtype=object)
        flags[n_first:] = "1"
        part = {
            "ts_code": code_all[rows],
            "end_date": _obj([f"{y - 1}1231" for y in year_all[rows].tolist()]),
            "ann_date": _dates(ann_all[rows]),
            "div_proc": np.full(len(rows), proc, dtype=object),
            "stk_div": np.zeros(len(rows)),
            "stk_bo_rate": np.zeros(len(rows)),
            "stk_co_rate": np.zeros(len(rows)),
            "cash_div_tax": cash_all[rows],
            "cash_div": np.round(cash_all[rows] * _TAX, 4),
            "base_date": _obj([f"{y - 1}1231" for y in year_all[rows].tolist()]),
            "base_share": share_all[rows],
            "update_flag": flags,
        }
        for col, vals in impl_cols.items():
            part[col] = _dates(vals[rows]) if kind == "imp" else np.full(len(rows), None, dtype=object)
        parts.append(part)
    cols = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return _assemble("dividend", cols, len(cols["ts_code"]))


# --------------------------------------------------------------------------------------------------
# disclosure_date
# --------------------------------------------------------------------------------------------------

_LAG = {1: (20, 30), 2: (30, 60), 3: (20, 30), 4: (60, 110)}


def _first_ann(market: MarketView, period: str) -> dict[str, int]:
    """Per ts_code, the earliest ann_date (ordinal) of any income/balancesheet/cashflow row."""
    out: dict[str, int] = {}
    for api in ("income", "balancesheet", "cashflow"):
        f = market.statement(api, period)
        for c, o in zip(f["ts_code"].tolist(), _ords(f["ann_date"]).tolist(), strict=True):
            if o < out.get(c, _NEVER):
                out[c] = o
    return out


def _disclosure_date(market: MarketView) -> Frame:
    days = _Days(market)
    end_ord = market.end.toordinal()
    after_end = int(days.snap(np.array([end_ord + 1]))[0])
    sb = market.frame("stock_basic")
    codes = sb["ts_code"].astype("U")
    n = len(codes)
    lst = _ords(sb["list_date"])
    dl = _ords(sb["delist_date"])
    parts: list[dict[str, np.ndarray]] = []
    for pe in _quarter_ends(market.start.year, market.end + dt.timedelta(days=31)):
        q = (pe.month - 1) // 3 + 1
        rng = _rng(market, _salt("corp-disclosure"), _pkey(pe))
        first = _first_ann(market, cal.ymd(pe))
        actual = np.array([first.get(c, _NEVER) for c in codes.tolist()], dtype=np.int64)
        out = actual < _NEVER
        sched = days.snap(pe.toordinal() + rng.integers(-25, 11, size=n))
        sched = np.minimum(sched, actual)
        lo, hi = _LAG[q]
        plan = days.snap(pe.toordinal() + rng.integers(lo, hi + 1, size=n))
        moved = out & (rng.random(n) < 0.15)
        shift = rng.integers(2, 16, size=n) * np.where(rng.random(n) < 0.5, -1, 1)
        old_plan = days.snap(np.where(out, actual, 0) + shift)
        old_plan = np.maximum(old_plan, sched)
        moved &= old_plan != actual  # a reschedule that changes nothing is no reschedule
        changed = days.snap(np.minimum(actual, old_plan) - rng.integers(1, 8, size=n))
        changed = np.clip(changed, sched, actual)
        pre = np.where(out, np.where(moved, old_plan, actual), np.maximum(plan, after_end))
        ann = np.where(moved, changed, sched)
        listed = (lst <= sched) & (sched < dl) & (sched <= end_ord)
        rows = np.flatnonzero(out | listed)
        parts.append(
            {
                "ts_code": codes[rows].astype(object),
                "ann_date": _dates(ann[rows]),
                "end_date": np.full(len(rows), cal.ymd(pe), dtype=object),
                "pre_date": _dates(pre[rows]),
                "actual_date": _dates(np.where(out, actual, _NEVER)[rows]),
                "modify_date": _dates(np.where(moved, actual, _NEVER)[rows]),
            }
        )
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    return _assemble("disclosure_date", cols, len(cols.get("ts_code", ())))


# --------------------------------------------------------------------------------------------------
# forecast
# --------------------------------------------------------------------------------------------------

_REASONS = (
    "主营业务收入增长，毛利率提升",
    "原材料价格上涨，毛利率下降",
    "计提资产减值准备",
    "非经常性损益影响",
    "市场需求变化，销量变动",
    "投资收益变动",
)


_SPAN = {1: "一季度", 2: "半年度", 3: "前三季度", 4: "年度"}


def _forecast_type(last: np.ndarray, mid: np.ndarray) -> np.ndarray:
    """Tushare's forecast type from last year's and the forecast's midpoint net profit."""
    with np.errstate(divide="ignore", invalid="ignore"):
        chg = (mid - last) / np.abs(last) * 100.0
    both = (last > 0) & (mid > 0)
    out = np.select(
        [
            (last < 0) & (mid > 0),
            (last > 0) & (mid < 0),
            (last < 0) & (mid < 0),
            both & (chg >= 50),
            both & (chg <= -50),
            both & (np.abs(chg) < 5),
            both & (chg > 0),
        ],
        ["扭亏", "首亏", "续亏", "预增", "预减", "续盈", "略增"],
        default="略减",
    )
    return out.astype(object)


def _forecast(market: MarketView) -> Frame:
    days = _Days(market)
    periods = market.periods()
    have = set(periods)
    parts: list[dict[str, np.ndarray]] = []
    for period in periods:
        pe = dt.datetime.strptime(period, "%Y%m%d").date()
        prior = f"{pe.year - 1}{period[4:]}"
        if prior not in have:
            continue  # no last-year figure to compare with
        q = (pe.month - 1) // 3 + 1
        rep, last_rep = _Report(market, "income", period), _Report(market, "income", prior)
        codes = rep.codes.tolist()
        n = len(codes)
        rng = _rng(market, _salt("corp-forecast"), _pkey(pe))
        stmt_ann = _ords(rep.take(codes, "ann_date"))
        cur = _float(rep.take(codes, "n_income_attr_p"))
        first_ann = days.snap(pe.toordinal() + rng.integers(5, 31, size=n))
        first_ann = np.minimum(first_ann, stmt_ann)
        last = _float(last_rep.take(codes, "n_income_attr_p", latest_by=first_ann))
        with np.errstate(divide="ignore", invalid="ignore"):
            big = (np.abs((cur - last) / np.abs(last)) > 0.5) | (np.sign(cur) != np.sign(last))
        p = {1: 0.08, 2: 0.2, 3: 0.08, 4: 0.3}[q] * np.where(big, 2.5, 1.0)
        pick = (rng.random(n) < p) & np.isfinite(cur) & np.isfinite(last) & (cur != 0) & (last != 0)
        est = cur * (1.0 + rng.normal(0.0, 0.03, size=n))
        half = np.abs(est) * rng.uniform(0.05, 0.25, size=n)
        revise = pick & (rng.random(n) < 0.12) & (stmt_ann - first_ann >= 2)
        rev_ann = first_ann + np.floor(rng.random(n) * (stmt_ann - first_ann)).astype(np.int64)
        rev_ann = np.clip(days.snap(np.maximum(rev_ann, first_ann + 1)), first_ann + 1, stmt_ann)
        est2 = cur * (1.0 + rng.normal(0.0, 0.01, size=n))
        reason = rng.integers(0, len(_REASONS), size=n)
        for version in (0, 1):
            sel = np.flatnonzero(pick if version == 0 else revise)
            mid = (est if version == 0 else est2)[sel]
            w = half[sel] / (1 if version == 0 else 2)
            np_min = np.round((mid - w) / 1e4, 2)
            np_max = np.round((mid + w) / 1e4, 2)
            lst = last[sel]
            ann = first_ann[sel] if version == 0 else rev_ann[sel]
            flag = np.where(revise[sel], "0", "1") if version == 0 else np.full(len(sel), "1")
            parts.append(
                {
                    "ts_code": np.asarray(codes, dtype=object)[sel],
                    "ann_date": _dates(ann),
                    "end_date": np.full(len(sel), period, dtype=object),
                    "type": _forecast_type(lst, mid),
                    "p_change_min": np.round((np_min * 1e4 - lst) / np.abs(lst) * 100.0, 2),
                    "p_change_max": np.round((np_max * 1e4 - lst) / np.abs(lst) * 100.0, 2),
                    "net_profit_min": np_min,
                    "net_profit_max": np_max,
                    "last_parent_net": np.round(lst / 1e4, 2),
                    "notice_times": np.full(len(sel), version + 1, dtype=np.int64),
                    "first_ann_date": _dates(first_ann[sel]),
                    "summary": _obj(
                        [
                            f"预计{period[:4]}年{_SPAN[q]}归属于上市公司股东的净利润{a:.2f}万元至{b:.2f}万元"
                            for a, b in zip(np_min.tolist(), np_max.tolist(), strict=True)
                        ]
                    ),
                    "change_reason": _obj([_REASONS[i] for i in reason[sel].tolist()]),
                    "update_flag": flag.astype(object),
                }
            )
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    return _assemble("forecast", cols, len(cols.get("ts_code", ())))


# --------------------------------------------------------------------------------------------------
# express
# --------------------------------------------------------------------------------------------------

_INCOME = ("revenue", "operate_profit", "total_profit", "n_income")
_BALANCE = ("total_assets", "total_hldr_eqy_exc_min_int")


def _express(market: MarketView) -> Frame:
    days = _Days(market)
    periods = market.periods()
    have = set(periods)
    parts: list[dict[str, np.ndarray]] = []
    for period in periods:
        pe = dt.datetime.strptime(period, "%Y%m%d").date()
        q = (pe.month - 1) // 3 + 1
        inc, bal = _Report(market, "income", period), _Report(market, "balancesheet", period)
        codes = inc.codes.tolist()
        n = len(codes)
        rng = _rng(market, _salt("corp-express"), _pkey(pe))
        stmt_ann = _ords(inc.take(codes, "ann_date"))
        ann = days.snap(pe.toordinal() + rng.integers(5, 41, size=n))
        pick = (rng.random(n) < {1: 0.06, 2: 0.08, 3: 0.06, 4: 0.15}[q]) & (ann < stmt_ann)
        revise = pick & (rng.random(n) < 0.05)
        rev_ann = days.snap(ann + 1)
        revise &= rev_ann < stmt_ann
        vals = {c: _float(inc.take(codes, c)) for c in _INCOME}
        vals |= {c: _float(bal.take(codes, c)) for c in _BALANCE}
        ni_attr = _float(inc.take(codes, "n_income_attr_p"))
        eps = _float(inc.take(codes, "diluted_eps"))
        shares = _float(bal.take(codes, "total_share"))
        prior = f"{pe.year - 1}{period[4:]}"
        last_inc = _Report(market, "income", prior) if prior in have else None
        open_bal = f"{pe.year - 1}1231"
        open_rep = _Report(market, "balancesheet", open_bal) if open_bal in have else None
        noise = {
            c: rng.normal(0.0, 0.005, size=(2, n)).clip(-0.015, 0.015) for c in (*_INCOME, *_BALANCE, "eps")
        }
        for version in (0, 1):
            sel = np.flatnonzero(pick if version == 0 else revise)
            if version == 1:  # a revision moves closer to the final figures
                noise = {c: v / 3 for c, v in noise.items()}
            fig = {c: np.round(vals[c][sel] * (1.0 + noise[c][version][sel]), 2) for c in vals}
            equity = fig["total_hldr_eqy_exc_min_int"]
            np_attr = ni_attr[sel] * (1.0 + noise["n_income"][version][sel])
            sc = [codes[i] for i in sel.tolist()]
            ann_v = ann[sel] if version == 0 else rev_ann[sel]
            with np.errstate(divide="ignore", invalid="ignore"):
                cols = {
                    "ts_code": _obj(sc),
                    "ann_date": _dates(ann_v),
                    "end_date": np.full(len(sel), period, dtype=object),
                    **fig,
                    "diluted_eps": np.round(eps[sel] * (1.0 + noise["eps"][version][sel]), 4),
                    "diluted_roe": np.round(np_attr / equity * 100.0, 4),
                    "bps": np.round(equity / shares[sel], 4),
                    "perf_summary": _obj([f"{period[:4]}年报告期内公司经营情况正常" for _ in sc]),
                    "is_audit": np.full(len(sc), 1 if (q == 4 and version == 1) else 0, dtype=np.int64),
                    "update_flag": _obj(
                        np.where(revise[sel], "0", "1").tolist() if version == 0 else ["1"] * len(sc)
                    ),
                }
                if last_inc is not None:
                    ann_by = ann_v
                    last = {
                        c: _float(last_inc.take(sc, c, latest_by=ann_by))
                        for c in (*_INCOME[:3], "n_income_attr_p")
                    }
                    last_eps = _float(last_inc.take(sc, "diluted_eps", latest_by=ann_by))
                    cols |= {
                        "yoy_net_profit": np.round(last["n_income_attr_p"], 2),
                        "or_last_year": np.round(last["revenue"], 2),
                        "op_last_year": np.round(last["operate_profit"], 2),
                        "tp_last_year": np.round(last["total_profit"], 2),
                        "np_last_year": np.round(last["n_income_attr_p"], 2),
                        "eps_last_year": np.round(last_eps, 4),
                        "yoy_sales": _growth(fig["revenue"], last["revenue"]),
                        "yoy_op": _growth(fig["operate_profit"], last["operate_profit"]),
                        "yoy_tp": _growth(fig["total_profit"], last["total_profit"]),
                        "yoy_dedu_np": _growth(np_attr, last["n_income_attr_p"]),
                        "yoy_eps": _growth(cols["diluted_eps"], last_eps),
                    }
                if open_rep is not None:
                    o_eq = _float(open_rep.take(sc, "total_hldr_eqy_exc_min_int", latest_by=ann_v))
                    o_assets = _float(open_rep.take(sc, "total_assets", latest_by=ann_v))
                    o_shares = _float(open_rep.take(sc, "total_share", latest_by=ann_v))
                    o_bps = o_eq / o_shares
                    cols |= {
                        "open_net_assets": np.round(o_eq, 2),
                        "open_bps": np.round(o_bps, 4),
                        "growth_assets": _growth(fig["total_assets"], o_assets),
                        "yoy_equity": _growth(equity, o_eq),
                        "growth_bps": _growth(cols["bps"], o_bps),
                    }
            parts.append(cols)
    names = {k for p in parts for k in p}
    n_all = sum(len(p["ts_code"]) for p in parts)
    merged: dict[str, np.ndarray] = {}
    for k in names:
        chunks = []
        for p in parts:
            m = len(p["ts_code"])
            chunks.append(p[k] if k in p else np.full(m, np.nan))
        merged[k] = np.concatenate(chunks) if chunks else np.empty(0)
    return _assemble("express", merged, n_all)


DATASETS: tuple[Dataset, ...] = (
    # No start/end range: end_date is the payout's period, filtered exactly like the other dates.
    Dataset("dividend", lambda m: build(m, "dividend")),
    Dataset("disclosure_date", lambda m: build(m, "disclosure_date")),
    # The _vip variants serve the same frame with other rules (neo.protocol.rules).
    Dataset("forecast", lambda m: build(m, "forecast")),
    Dataset("forecast_vip", lambda m: m.frame("forecast")),
    Dataset("express", lambda m: build(m, "express")),
    Dataset("express_vip", lambda m: m.frame("express")),
)
