"""Minute bars of the simulated market: ``stk_mins`` (stocks) and ``idx_mins`` (the indices of
``index_daily``), generated per request from the day's daily bar, so that serving the minutes of
any number of stocks and years costs no memory beyond one reply (a whole frame would be 241 rows
per stock-day: 58M for 1,000 stocks over a year).

What a reply guarantees, for every (code, day) with a daily bar (``daily`` / ``index_daily``):

- The grid of MINUTES.md: 241 1min bars labelled by their end, 09:30 (the opening call auction,
  O=H=L=C, vol > 0), 09:31..11:30, 13:01..15:00. On days with a closing call auction (SZSE codes
  always, every other code from 2018-08-20) 14:58 and 14:59 trade nothing (vol 0, O=H=L=C = the
  last price) and 15:00 is the auction (O=H=L=C = close). N-minute bars aggregate the 1min bars
  exactly (first open, last close, max high, min low, sums of vol and amount) with the 09:30 bar a
  row of its own at every freq: 5min 49 rows, 15min 17, 30min 9, 60min 5 (09:30, 10:30, 11:30,
  14:00, 15:00). The 60min 09:30 row is a choice (MINUTES.md derives 4 or 5): the one rule known,
  V5's 49 5min bars, applied to every freq, rather than a special case nobody has observed.
- The day's first open is the daily open, its last close the daily close, max(high) and min(low)
  the daily high and low, exactly; so every price lies within the daily bar and the daily bar's
  limit-up/down rule (``neo.sim.limits``) holds intraday. Prices are on the daily bar's grid
  (0.01 for stocks, 0.0001 for indices).
- sum(vol) = round(daily vol x 100) shares exactly (vol is an integer number of shares);
  sum(amount) = daily amount x 1000 CNY exactly (to the fen) on every day traded at more than one
  price; on a day traded at a single price it is vol x price, within 0.5 CNY of daily's amount
  (which is itself rounded to the yuan). Exactness needs the day's average price amount / vol to
  be one its bars can reach: it is for daily bars made as ``neo.sim.bars`` makes them (amount = vol
  x (open + high + low + 2 close) / 5, at least 1,000 shares); an arbitrary daily bar, say one
  averaging its high while opening and closing far below it, may get the nearest sum its bars
  allow instead.
- Stocks: every bar's amount (CNY, to the fen) lies within vol x low .. vol x high exactly. Index
  bars have no such bound: their vol and amount are the members' shares and CNY, whose ratio is an
  average share price, not the index level; amounts follow the volume.
- No bars on a day without a daily bar (suspended, not yet listed, delisted). The simulated market
  has no ETFs, so an ETF code, like any unknown code, gets an empty reply.

How a day is generated (vectorised over the day's bars and over every stock-day of a request, from
a generator keyed by (code, day), never by call order, so any window or freq gives the same bars):
the path of 1min closes is a Brownian bridge from the open through the high and the low (at two
random minutes, in a random order) to the close, clipped to [low, high] and rounded to the tick;
each bar opens at the previous close and reaches a little above and below. Volume follows a
U-shaped profile (busy open, lunch edges and close) with noise and more volume on larger moves;
the opening auction takes 0.5-3% of the day, the closing auction 1-4%. The profile is tilted
toward the bars priced above (or below) the daily amount / vol, so that the bars' amounts can add
up to daily's amount with every bar's average price inside its range; integer shares and fen are
apportioned by largest remainder so that the sums are exact. A minute left without volume by the
rounding keeps the last price (O=H=L=C).

Request semantics (the unverified points of MINUTES.md are ``MinuteOptions``):

- ``ts_code`` and ``freq`` are required (40101 "... required"); a freq other than the five lower
  case names is error -1000 (``neo.protocol.rules``); a comma list of codes is error -1000 unless
  ``multi_code`` (MINUTES.md: one code per call, the multi-code behaviour is unverified).
- ``start_date`` / ``end_date`` bound trade_time and are compared with it as text, as a database
  would compare 'YYYY-MM-DD HH:MM:SS' strings: a bare date ('2023-08-25', or '20230825', read as
  the same) as start_date takes that whole day, as end_date excludes that day ("< end_date", RN
  quoting doc 234, unverified; ``bare_end_inclusive`` includes it instead). No dates at all: the
  last ``default_days`` (10) calendar days up to the market's end (EXT, unverified; None: the whole
  range). Rows newest first (descending trade_time, then ts_code); the row cap (8000) returns the
  newest rows and limit/offset page the rest, as for every other API of the simulator. Other
  params (a ``trade_time`` or ``open`` filter...) are ignored. The window's rule is the protocol's
  (``neo.protocol.minutes``), which ``neo serve`` reads too.

Measured with ``make bench-sim`` (1,000 stocks, 2024; three runs on the shared 2-core machine at
load averages 5-10): the generator alone makes 0.7-1.5M 1min rows/s (a year of 1,000 stocks, 58M
rows, in 39-86 s); one client thread gets 19-52 replies of 8,000 rows a second through HTTP (median
29), where JSON and Python rows cost about as much as the generation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from neo.protocol.core import ProtocolError, Query, split_values
from neo.protocol.minutes import DEFAULT_DAYS, MSG_ONE_CODE, window
from neo.sim.bars import bars
from neo.sim.state import Dataset, Frame, Generated, MarketView, State, empty, obj, salt

__all__ = [
    "DATASETS",
    "MSG_ONE_CODE",
    "Daily",
    "DayBars",
    "MinuteOptions",
    "aggregate",
    "daily_of",
    "generate",
    "labels",
    "one_minute_bars",
]

BARS = 241  # 1min bars a day: 09:30 + 120 + 120
_J = np.arange(BARS)
# The closing call auction (14:57-15:00): SZSE since 2006, SSE stocks since 2018-08-20 (MINUTES.md).
_SSE_AUCTION_FROM = dt.date(2018, 8, 20).toordinal()


@dataclasses.dataclass(frozen=True)
class MinuteOptions:
    """The simulator's answers where MINUTES.md marks Tushare's behaviour unverified."""

    bare_end_inclusive: bool = False  # end_date '2023-08-25' includes that day (default: excludes)
    default_days: int | None = DEFAULT_DAYS  # calendar days served without dates; None: the whole range
    auction_row: bool = True  # the 09:30 auction a row of its own; False folds it into the first bar
    multi_code: bool = False  # serve 'a,b' ts_code lists (default: error -1000)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}:00"


# Bar ends: 09:30, 09:31..11:30, 13:01..15:00.
_LABELS_1MIN = (
    _clock(570),
    *(_clock(m) for m in range(571, 691)),
    *(_clock(m) for m in range(781, 901)),
)


def _step(freq: str) -> int:
    return int(freq.removesuffix("min"))


def labels(freq: str, auction_row: bool = True) -> tuple[str, ...]:
    """The bar ends ('HH:MM:SS') of one day at ``freq``, ascending."""
    k = _step(freq)
    first = (_LABELS_1MIN[0],) if auction_row else ()
    return first + _LABELS_1MIN[k::k]


# ------------------------------------------------------------------------------------ generation


@dataclasses.dataclass(frozen=True)
class DayBars:
    """Daily bars (one per stock-day) in the integer units the minutes add up to."""

    open: np.ndarray  # int64 ticks (0.01 CNY for stocks, 0.0001 points for indices)
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    shares: np.ndarray  # int64: round(daily vol x 100)
    fen: np.ndarray  # int64: round(daily amount x 1000 x 100)
    auction: np.ndarray  # bool: a closing call auction that day
    priced: bool  # stocks: each bar's amount within vol x [low, high]; indices: not

    def __len__(self) -> int:
        return len(self.open)

    def take(self, rows: np.ndarray) -> DayBars:
        names = ("open", "high", "low", "close", "shares", "fen", "auction")
        return dataclasses.replace(self, **{name: getattr(self, name)[rows] for name in names})


# A U-shaped intraday volume profile over the 240 continuous minutes (index 0, the auction, unused):
# a busy open, a smaller burst after lunch, a build-up into the lunch break and into the close.
_PROFILE = np.zeros(BARS)
_m = _J[1:].astype(np.float64)
_PROFILE[1:] = (
    1.0
    + 2.0 * np.exp(-(_m - 1) / 12)
    + 0.5 * np.exp(-(_m - 121) / 8) * (_m > 120)
    + 0.4 * np.exp(-(120 - _m) / 10) * (_m <= 120)
    + 1.0 * np.exp(-(240 - _m) / 15)
)
del _m


def one_minute_bars(d: DayBars, rngs: list[np.random.Generator]) -> dict[str, np.ndarray]:
    """The 241 1min bars of each day of ``d`` ((days, 241) int64: open, high, low, close in ticks,
    vol in shares, amount in fen), drawing from ``rngs[i]`` for day i only. See the module
    docstring for the model and what it guarantees."""
    P = len(d)
    if P == 0:
        z0 = np.zeros((0, BARS), dtype=np.int64)
        return {k: z0 for k in ("open", "high", "low", "close", "vol", "amount")}
    z = np.stack([r.standard_normal((5, BARS)) for r in rngs])  # (days, 5, 241)
    u = np.stack([r.random(7) for r in rngs])  # (days, 7)
    o_d, h_d, l_d, c_d = (x.astype(np.int64) for x in (d.open, d.high, d.low, d.close))
    span = (h_d - l_d).astype(np.float64)
    # The last continuous bar: 14:57 before a closing auction, else 15:00.
    E = np.where(d.auction, BARS - 4, BARS - 1)
    sigma = 0.05 * span * (0.6 + 0.8 * u[:, 5])  # ticks per sqrt(minute)

    # Path of 1min closes: a Brownian bridge from the open through the high and the low (in random
    # order, at two distinct random minutes in [1, E - 1]) to the last continuous minute E, which
    # closes at the close, or near it when a closing auction sets the close.
    t1 = 1 + np.floor(u[:, 0] * (E - 1)).astype(np.int64)
    t2 = 1 + (t1 + np.floor(u[:, 1] * (E - 2)).astype(np.int64)) % (E - 1)
    a, b = np.minimum(t1, t2), np.maximum(t1, t2)
    high_first = u[:, 2] < 0.5 - 0.2 * np.sign(c_d - o_d)  # an up day more often makes its low first
    x_end = np.where(d.auction, np.clip(c_d + np.rint(sigma * (2 * u[:, 6] - 1)), l_d, h_d), c_d)
    t_anchor = np.stack([np.zeros(P, dtype=np.int64), a, b, E], axis=1)
    x_anchor = np.stack([o_d, np.where(high_first, h_d, l_d), np.where(high_first, l_d, h_d), x_end], axis=1)
    x_anchor = x_anchor.astype(np.float64)
    j = _J[None, :]
    seg = (j >= a[:, None]).astype(np.int64) + (j >= b[:, None])
    ta, tb = np.take_along_axis(t_anchor, seg, 1), np.take_along_axis(t_anchor, seg + 1, 1)
    xa, xb = np.take_along_axis(x_anchor, seg, 1), np.take_along_axis(x_anchor, seg + 1, 1)
    frac = (j - ta) / (tb - ta)  # past E (bars after the auction's start) unused, overwritten below
    w = np.cumsum(z[:, 0], axis=1)
    w -= w[:, :1]
    wa, wb = np.take_along_axis(w, ta, 1), np.take_along_axis(w, tb, 1)
    path = xa + frac * (xb - xa) + sigma[:, None] * (w - wa - frac * (wb - wa))
    x = np.clip(np.rint(path), l_d[:, None], h_d[:, None]).astype(np.int64)
    x[d.auction, -1] = c_d[d.auction]

    # How far each bar reaches above and below its open and close, in ticks (when it trades).
    up, down = ((np.abs(z[:, k]) * (0.5 * sigma)[:, None]).astype(np.int64) for k in (2, 3))

    def ohlc(x: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, ...]:
        o = np.concatenate([o_d[:, None], x[:, :-1]], axis=1)
        o[d.auction, -1] = c_d[d.auction]  # the closing auction trades at one price
        hi = np.minimum(np.maximum(o, x) + up * moving, h_d[:, None])
        lo = np.maximum(np.minimum(o, x) - down * moving, l_d[:, None])
        return o, hi, lo

    # Volume: the auctions' shares, then the continuous minutes by the tilted profile.
    continuous = (j >= 1) & (j <= E[:, None])
    _, hi, lo = ohlc(x, continuous)
    V = d.shares.astype(np.int64)
    v_open = np.maximum(np.rint(V * (0.005 + 0.025 * u[:, 3])), 1).astype(np.int64)
    v_close = np.where(d.auction, np.maximum(np.rint(V * (0.01 + 0.03 * u[:, 4])), 1), 0).astype(np.int64)
    moves = np.abs(np.diff(x, axis=1, prepend=o_d[:, None])) / np.maximum(span, 1.0)[:, None]
    q = _PROFILE[None, :] * np.exp(0.4 * z[:, 1]) * (1.0 + 3.0 * moves) * continuous
    if d.priced:
        rest = np.maximum(V - v_open - v_close, 1)
        target = (d.fen - v_open * o_d - v_close * c_d) / rest  # the continuous bars' average price
        q = _tilt(q, (hi + lo) / 2.0, target)
    # The minutes that must trade: where the path touches the high and low, and the last bar when
    # no auction sets the close.
    must = np.zeros((P, BARS), dtype=np.int64)
    rows = np.arange(P)
    must[rows, a] = 1
    must[rows, b] = 1
    must[rows, E] |= ~d.auction
    vol = must + _apportion(V - v_open - v_close - must.sum(axis=1), q)
    vol[:, 0] = v_open
    vol[:, -1] += v_close

    # A minute without volume keeps the last price: carry the path forward over it.
    traded = vol > 0
    last = np.maximum.accumulate(np.where(traded, j, 0), axis=1)
    x = np.take_along_axis(x, last, 1)
    o, hi, lo = ohlc(x, traded & continuous)

    if d.priced:
        floor, room = vol * lo, vol * (hi - lo)  # fen: ticks are fen per share
        total = np.clip(d.fen, floor.sum(axis=1), floor.sum(axis=1) + room.sum(axis=1))
        amount = floor + _apportion(total - floor.sum(axis=1), room.astype(np.float64), room)
    else:
        amount = _apportion(d.fen.astype(np.int64), vol * np.exp(0.05 * z[:, 4]))
    return {"open": o, "high": hi, "low": lo, "close": x, "vol": vol, "amount": amount}


def _tilt(q: np.ndarray, price: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Volume weights whose weighted average of ``price`` is ``target`` per row: ``q`` mixed with
    its own restriction to the bars on the far side of the target (a closed form, no search);
    rows where no bar lies beyond the target keep ``q``."""
    total = q.sum(axis=1)
    mean = (q * price).sum(axis=1) / total
    beyond = np.where((mean < target)[:, None], price > target[:, None], price < target[:, None])
    q2 = q * beyond
    total2 = q2.sum(axis=1)
    ok = total2 > 0
    mean2 = np.where(ok, (q2 * price).sum(axis=1) / np.where(ok, total2, 1.0), mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(ok & (mean2 != mean), (target - mean) / (mean2 - mean), 0.0)
    alpha = np.clip(alpha, 0.0, 1.0)[:, None]
    return (1 - alpha) * q / total[:, None] + alpha * q2 / np.where(ok, total2, 1.0)[:, None]


def _apportion(total: np.ndarray, weights: np.ndarray, cap: np.ndarray | None = None) -> np.ndarray:
    """Non-negative integers per row adding up to ``total`` exactly, in proportion to ``weights``,
    none above ``cap`` (default: nothing where the weight is 0; the caller keeps each row's caps
    adding up to at least total): the floors of the shares, then one more to each of the largest
    remainders, then whatever floating point left over to the bars with the most room."""
    total = np.maximum(total, 0)
    wsum = weights.sum(axis=1, keepdims=True)
    share = np.divide(weights, wsum, out=np.zeros_like(weights), where=wsum > 0) * total[:, None]
    if cap is None:
        cap = np.where(weights > 0, total[:, None], 0)
    # Shrunk a hair, so that the floors never add up to more than total through rounding.
    out = np.minimum(np.floor(share * (1 - 1e-12)).astype(np.int64), cap)
    left = total - out.sum(axis=1)
    rows = np.arange(len(out))[:, None]
    order = np.argsort(np.where(out < cap, out - share, 1.0), axis=1, kind="stable")
    out[rows, order] += (np.arange(out.shape[1]) < left[:, None]) & (out[rows, order] < cap[rows, order])
    left = total - out.sum(axis=1)
    while left.any():  # rare: only floating-point leftovers get here
        room = cap - out
        most = room.argmax(axis=1)
        add = np.minimum(left, room[rows[:, 0], most])
        if not add.any():
            break  # no room left: the caller's caps add up to less than total
        out[rows[:, 0], most] += add
        left = left - add
    return out


def aggregate(bars1: dict[str, np.ndarray], freq: str, auction_row: bool = True) -> dict[str, np.ndarray]:
    """N-minute bars from 1min bars ((days, 241) each): the 09:30 auction its own row (or, without
    ``auction_row``, folded into the first bar), then every k continuous minutes, as ``labels``."""
    k = _step(freq)
    days = len(bars1["open"])

    def groups(name: str) -> np.ndarray:
        return bars1[name][:, 1:].reshape(days, -1, k)

    out = {
        "open": groups("open")[:, :, 0],
        "close": groups("close")[:, :, -1],
        "high": groups("high").max(axis=2),
        "low": groups("low").min(axis=2),
        "vol": groups("vol").sum(axis=2),
        "amount": groups("amount").sum(axis=2),
    }
    first = {name: bars1[name][:, :1] for name in out}
    if auction_row:
        return {name: np.concatenate([first[name], out[name]], axis=1) for name in out}
    out["open"][:, 0] = first["open"][:, 0]
    out["high"][:, 0] = np.maximum(out["high"][:, 0], first["high"][:, 0])
    out["low"][:, 0] = np.minimum(out["low"][:, 0], first["low"][:, 0])
    out["vol"][:, 0] += first["vol"][:, 0]
    out["amount"][:, 0] += first["amount"][:, 0]
    return out


# -------------------------------------------------------------------------------------- requests


@dataclasses.dataclass(frozen=True)
class Daily:
    """One code's daily bars, ascending by day, in the units of ``DayBars``."""

    code: str
    t: np.ndarray  # index into State.days
    bars: DayBars
    per_unit: int  # ticks per price unit: 100 for stocks, 10,000 for indices


def _ticks(values: np.ndarray, per_unit: int) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=np.float64) * per_unit).astype(np.int64)


def daily_of(market: MarketView, api: str, code: str) -> Daily | None:
    """The daily bars the minutes of ``code`` come from: ``daily`` for stk_mins, ``index_daily``
    for idx_mins; None for a code the API does not know."""
    s = market.state
    if api == "stk_mins":
        i = int(np.searchsorted(s.u.codes, code))
        if i >= len(s.u.codes) or s.u.codes[i] != code:
            return None
        b = bars(s)
        f = b["daily"]
        # daily rows are stock-major and day-ascending: one stock's rows are one slice.
        rows = np.arange(*np.searchsorted(b["s_idx"], [i, i + 1]))
        t = b["t_idx"][rows].astype(np.int64)
        per_unit = 100
    else:
        f = market.frame("index_daily")  # a few thousand rows per index: a scan is cheap
        rows = np.flatnonzero(f["ts_code"] == code)
        if len(rows) == 0:
            return None
        t = np.searchsorted(s.day_str, f["trade_date"][rows])
        order = np.argsort(t)
        rows, t = rows[order], t[order]
        per_unit = 10_000
    day_bars = DayBars(
        open=_ticks(f["open"][rows], per_unit),
        high=_ticks(f["high"][rows], per_unit),
        low=_ticks(f["low"][rows], per_unit),
        close=_ticks(f["close"][rows], per_unit),
        shares=_ticks(f["vol"][rows], 100),  # lots
        fen=_ticks(f["amount"][rows], 100_000),  # thousand CNY
        auction=code.endswith(".SZ") | (s.ords[t] >= _SSE_AUCTION_FROM),
        priced=api == "stk_mins",
    )
    return Daily(code, t, day_bars, per_unit)


def generate(
    s: State, daily: Daily, rows: np.ndarray, freq: str = "1min", auction_row: bool = True
) -> dict[str, np.ndarray]:
    """The bars at ``freq`` of the days ``rows`` of ``daily``: (len(rows), bars a day) int64 arrays
    as ``one_minute_bars`` makes them, each day drawn from its own generator keyed by (code, day)."""
    rngs = [s.rng(salt("minutes"), salt(daily.code), int(o)) for o in s.ords[daily.t[rows]]]
    return aggregate(one_minute_bars(daily.bars.take(rows), rngs), freq, auction_row)


def _window(market: MarketView, params: dict[str, object], options: MinuteOptions) -> tuple[str, str]:
    """The request's window as `neo serve` reads it too, the market's last day as today."""
    return window(params, market.end, options.default_days, options.bare_end_inclusive)


def _dashed(ymd: str) -> str:
    return f"{ymd[:4]}-{ymd[4:6]}-{ymd[6:]} "


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What a query's answer holds, one entry per (code, day), in answer order (newest day first,
    then ts_code): bars [first, stop) of that day's bars at the freq, from the code's daily row."""

    day: np.ndarray  # index into State.days
    code: np.ndarray  # index into the codes found
    row: np.ndarray  # the code's Daily row
    first: np.ndarray
    stop: np.ndarray


def _plan(s: State, found: list[Daily], times: tuple[str, ...], lo: str, hi: str) -> _Plan:
    lo_day, hi_day = lo[:10].replace("-", ""), hi[:10].replace("-", "")
    parts = []
    for ci, d in enumerate(found):
        days = s.day_str[d.t]
        rows = np.flatnonzero((days >= lo_day) & (days <= hi_day))
        first = np.zeros(len(rows), dtype=np.int64)
        stop = np.full(len(rows), len(times), dtype=np.int64)
        for k in np.flatnonzero(np.isin(days[rows], [lo_day, hi_day])).tolist():
            prefix = _dashed(days[rows[k]])  # a boundary day: compare each bar's trade_time
            inside = [i for i, t in enumerate(times) if lo <= prefix + t <= hi] or [0, -1]
            first[k], stop[k] = inside[0], inside[-1] + 1
        parts.append((d.t[rows], np.full(len(rows), ci), rows, first, stop))
    day, code, row, first, stop = (np.concatenate(x).astype(np.int64) for x in zip(*parts, strict=True))
    order = np.lexsort((code, -day))
    keep = order[stop[order] > first[order]]
    return _Plan(day[keep], code[keep], row[keep], first[keep], stop[keep])


def _answer(market: MarketView, query: Query, api: str) -> Generated:
    options: MinuteOptions = market.minute_options
    freq = str(query.params["freq"])
    codes = split_values(query.params["ts_code"])
    if len(codes) > 1 and not options.multi_code:
        raise ProtocolError(-1000, MSG_ONE_CODE.format(value=",".join(codes)))
    found = [d for d in (daily_of(market, api, c) for c in sorted(set(codes))) if d is not None]
    s = market.state
    times = labels(freq, options.auction_row)
    plan = _plan(s, found, times, *_window(market, query.params, options)) if found else None
    if plan is None or len(plan.day) == 0:
        return Generated(0, lambda start, stop: empty(api))
    # A day's rows interleave its codes, so a page is cut out of the whole days it touches.
    new_day = np.flatnonzero(np.r_[True, plan.day[1:] != plan.day[:-1]])
    day_offset = np.concatenate([[0], np.cumsum(np.add.reduceat(plan.stop - plan.first, new_day))])
    new_day = np.append(new_day, len(plan.day))
    total = int(day_offset[-1])

    def rows(start: int, stop: int) -> Frame:
        start, stop = max(start, 0), min(stop, total)
        if start >= stop:
            return empty(api)
        d0 = int(np.searchsorted(day_offset, start, side="right")) - 1
        d1 = int(np.searchsorted(day_offset, stop, side="left"))
        pick = np.arange(new_day[d0], new_day[d1])
        code, first, last = plan.code[pick], plan.first[pick], plan.stop[pick]
        made: dict[str, np.ndarray] = {}
        for ci in np.unique(code).tolist():
            mine = np.flatnonzero(code == ci)
            bars_k = generate(s, found[ci], plan.row[pick][mine], freq, options.auction_row)
            for name, values in bars_k.items():
                made.setdefault(name, np.empty((len(pick), values.shape[1]), dtype=np.int64))[mine] = values
        # Every row of the picked days in answer order, then the slice the page asks for.
        n = last - first
        owner = np.repeat(np.arange(len(pick)), n)
        bar = np.repeat(last - 1, n) - (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
        order = np.lexsort((code[owner], -bar, -plan.day[pick][owner]))
        skip = start - int(day_offset[d0])
        page = order[skip : skip + stop - start]
        owner, bar = owner[page], bar[page]
        out: Frame = {
            "ts_code": obj([found[ci].code for ci in code.tolist()])[owner],
            "trade_time": obj([_dashed(s.day_str[t]) for t in plan.day[pick]])[owner] + obj(times)[bar],
        }
        for name in ("open", "close", "high", "low"):
            # Division is correctly rounded: 705 / 100 is the float '7.05' parses to.
            out[name] = made[name][owner, bar] / found[0].per_unit
        out["vol"] = made["vol"][owner, bar]
        out["amount"] = made["amount"][owner, bar] / 100.0
        return out

    return Generated(total, rows)


DATASETS: tuple[Dataset, ...] = (
    Dataset("stk_mins", lambda m, q: _answer(m, q, "stk_mins"), on_demand=True),
    Dataset("idx_mins", lambda m, q: _answer(m, q, "idx_mins"), on_demand=True),
)
