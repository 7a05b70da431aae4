"""Deterministic synthetic A-share market for the offline Tushare simulator.

``Market(stocks, start, end, seed)`` builds, lazily and once, column frames for the market APIs
(``stock_basic``, ``trade_cal``, ``daily``, ``adj_factor``, ``daily_basic``, ``weekly``, ``monthly``)
and, per report period, for the statement APIs (``income``, ``balancesheet``, ``cashflow``,
``fina_indicator``; a ``_vip`` suffix is accepted and ignored), plus the tradability APIs
(``namechange``, ``stk_limit``, ``suspend_d``, ``moneyflow``: see ``neo.sim.tradability``).

Layout: ``Market`` is a facade over one ``neo.sim.state.State`` (range, seed, trade days, universe,
keyed rngs, build-once cache). Each family of data is a generator module of plain functions of that
state: ``universe`` (stock_basic, trade_cal, per-stock economics), ``bars`` (daily, adj_factor,
daily_basic, weekly, monthly), ``statements`` (income, balancesheet, cashflow, fina_indicator),
``limits`` (the price-limit rule, IPO free days, ST spells), ``tradability`` (namechange, stk_limit,
suspend_d, moneyflow), ``minutes`` (stk_mins, idx_mins: generated per request, never a whole
frame; ``frame()`` refuses them).
Each module declares the APIs it serves in ``DATASETS``; ``neo.sim.registry`` collects them, and
both this facade and ``neo.sim.query`` read that one registry.

Frame conventions (the HTTP layer relies on them):

- ``Frame = dict[str, np.ndarray]``: every field fields.json lists for the API, named exactly so,
  all of one length. Float fields are float64 with NaN for missing, int fields int64; str and date
  fields are object arrays of Python ``str`` or ``None``; dates are 'YYYYMMDD'.
- Arrays are read-only views of a shared cache (``flags.writeable`` is False): filter or sort by
  building new arrays (fancy indexing, ``np.argsort``), never in place. The dict itself is a fresh
  copy per call, so callers may add or drop keys.
- Row order is unspecified (in practice: by stock, then by date).
- ``frame()``, ``statement()`` and ``periods()`` are thread-safe; everything is computed once under a
  lock and cached (statements in a small LRU).

Determinism: every random draw comes from ``np.random.default_rng((seed, salt, ...))`` with integer
salts (``zlib.crc32`` for names), each draw keyed by what it describes (a period, a year, an API),
never by call order, so the same arguments give identical frames in any process and under any
interleaving of calls.

Model, in brief:

- Universe: boards mixed roughly like the real market (SSE main 600/601/603, STAR 688, SZSE main
  000/001/002, ChiNext 300, BSE 8xxxxx/920xxx). About 8% IPO inside ``[start, end]``, 5% delist
  inside it (status 'D', no bar on or after ``delist_date``), two are paused ('P': suspended from
  some day to ``end``) when ``stocks >= 20``. ``list_status`` is as of ``end``.
- Prices: an hfq (back-adjusted) log random walk with a market factor, daily sd about 2.5%, rare
  news shocks (1% of days, sd 8%), mild mean reversion. Each day's return is clipped to that day's
  limit (``limits.limit_pct``: board, date, ST), then the raw close (hfq / adj_factor rounded to
  0.01) is clamped to the exact stk_limit prices of its raw pre_close and the walk continues from
  it, so close/open/high/low never breach a limit and some days close exactly on one. IPO days
  free of limits (``limits.free_days``) have wide caps instead (debut pop up to +150% on growth
  boards, +44% on main boards). pre_close on ex-dividend days is the ex-rights price
  ``round(close_prev * adj_prev / adj_today, 2)`` and equals the previous close on other days.
- ST: ST / *ST spells of 150-900 days on about 3-4% of stock-days, mostly after loss years; main
  board (and ChiNext before 2020-08-24) limit 5% on those days; names in namechange and
  stock_basic carry the prefix.
- Suspensions: random spells of 1-10 days on about 1.5% of stock-days. ``daily`` and
  ``daily_basic`` have no row on them; ``adj_factor`` does (it has a row for every open day from
  listing to delisting / ``end``).
- adj_factor: 1.0 for young stocks, up to 20 for old ones; steps up (0.5%-5% cash dividend) on one
  ex-date in late May..July of most years; rounded to 3 decimals; never decreases.
- weekly / monthly: aggregated from ``daily`` per calendar week (Mon-Sun) / month; trade_date is the
  exchange's last open day of the period; a period whose last open day is after ``end`` has no bar;
  pre_close is the previous bar's close of that stock (for the stock's first bar: the daily
  pre_close of its first day). So a delisted stock's last weekly/monthly bar may carry a date on or
  after its delist_date (the period's last open day), though every day it covers is before it.
- Statements: each quarter end from Q1 of ``start.year`` on. ann_date is 20-30 days after the
  period end for Q1/Q3, 30-60 for H1, 60-110 for the annual report, moved to the next open day;
  a row exists only when ann_date <= ``end``, the stock is listed by then and not yet delisted.
  report_type '1' always, '6' (parent company) for ~30% of (stock, period) in the three statements.
  ~10% of (stock, period, report_type) are restated 20-400 days later (only if by ``end``): the
  original then has update_flag '0', the restatement '1' with a later f_ann_date (for
  fina_indicator: a later ann_date); unrestated rows have update_flag '1'. Numbers derive from one
  per-stock size scale so that income, balance sheet, cash flow, fina_indicator and daily_basic
  (pe, pb, ps) agree with each other; ~30% of the minor fields are NaN per stock. ``periods()``
  lists the quarter ends that have rows; ``statement()`` of any other period string is an empty
  frame (all columns, zero rows), like Tushare's answer for a period with no data.

Measured on the 2-core project machine (numpy 2.4, Python 3.11), fresh process each:

- ``Market()`` default (50 stocks, 2023-2024): init ~0.2 s;
  all seven market frames ~0.2 s; all 28 statement frames ~0.1 s more.
- ``Market(5000, 2022-01-01, 2024-12-31)``: init 0.3 s; daily + adj_factor + daily_basic
  (3.35 M / 3.41 M / 3.35 M rows) 1.4-3.4 s, peak RSS 1.06 GB (about 0.9 GB of it is the cached
  frames themselves); weekly + monthly 0.3 s more; ``statement('balancesheet', p)`` ~0.03 s
  (~6,500 rows), fina_indicator ~0.04 s.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict

from neo.sim import registry
from neo.sim.minutes import MinuteOptions
from neo.sim.state import Frame, State, api_fields, empty, readonly
from neo.sim.statements import build_periods, parse_period, quarter_ends
from neo.sim.universe import BOARDS, build_universe

__all__ = ["FRAME_APIS", "STATEMENT_APIS", "Frame", "Market", "api_fields"]

# Derived from the registry, kept for callers that list them.
FRAME_APIS: tuple[str, ...] = tuple(
    a for a, d in registry.DATASETS.items() if not d.per_period and not d.on_demand
)
STATEMENT_APIS: tuple[str, ...] = tuple(a for a, d in registry.DATASETS.items() if d.per_period)


class Market:
    """A synthetic, reproducible A-share market; see the module docstring."""

    def __init__(
        self,
        stocks: int = 50,
        start: dt.date = dt.date(2023, 1, 1),
        end: dt.date = dt.date(2024, 12, 31),
        seed: int = 42,
        minute_options: MinuteOptions | None = None,
    ) -> None:
        if stocks < 1:
            raise ValueError("stocks must be >= 1")
        if end < start:
            raise ValueError("end must not be before start")
        capacity = sum(b.capacity for b in BOARDS)
        if stocks > capacity:
            raise ValueError(f"at most {capacity} stocks")
        self.stocks = stocks
        self.start = start
        self.end = end
        self.seed = seed
        self.minute_options = minute_options or MinuteOptions()
        self.state = State(stocks, start, end, seed)
        self.state.u = build_universe(self.state)
        self.ts_codes: list[str] = list(self.state.u.codes)
        self._stmt_lock = threading.Lock()
        self._stmt_cache: OrderedDict[tuple[str, str], Frame] = OrderedDict()
        self._stmt_cache_size = 32

    def frame(self, api: str) -> Frame:
        """The whole table of a (not per-period) registered API as a read-only frame."""
        ds = registry.DATASETS.get(api)
        if ds is None or ds.per_period or ds.on_demand:
            raise ValueError(f"unknown market api {api!r}")
        frame: Frame = self.state.once("frame:" + api, lambda: readonly(ds.build(self)))
        return dict(frame)

    def statement(self, api: str, period: str) -> Frame:
        """All rows of a per-period API (statements) for one report period ('YYYYMMDD' quarter end).

        Like Tushare, a period with no data (not in ``periods()``, not a quarter end, not even a
        date) gives an empty frame with every column rather than an error.
        """
        ds = registry.lookup(api)
        if ds is None or not ds.per_period:
            raise ValueError(f"unknown statement api {api!r}")
        api = ds.api
        pe = parse_period(period)
        if pe is None or pe not in quarter_ends(self.state):
            return empty(api)
        key = (api, period)
        with self._stmt_lock:
            hit = self._stmt_cache.get(key)
            if hit is not None:
                self._stmt_cache.move_to_end(key)
                return dict(hit)
            # Computed under the lock: each costs well under 0.1 s, and a single lock keeps the
            # LRU simple and stops two threads from building the same period twice.
            built = readonly(ds.build(self, pe))
            self._stmt_cache[key] = built
            while len(self._stmt_cache) > self._stmt_cache_size:
                self._stmt_cache.popitem(last=False)
            return dict(built)

    def periods(self) -> list[str]:
        """Quarter ends (ascending 'YYYYMMDD') whose statement frames are non-empty."""
        return list(self.state.once("periods", lambda: build_periods(self.state)))

    @property
    def trade_days(self) -> list[dt.date]:
        """Open days in ``[start, end]``."""
        return list(self.state.days)
