"""The simulator's stk_mins and idx_mins: MINUTES.md's reply shape through the real HTTP protocol
(fields, grid, order, row cap, paging, errors, windows), and the consistency with the daily bars
over several seeds through the generator directly (issue 23: first open, last close, high, low,
volume and amount sums, no bars without a daily bar, N-minute bars aggregating the 1min ones, the
price limits holding intraday)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.protocol.core import MSG_CHOICE
from neo.protocol.rules import MINUTE_FREQS
from neo.sim.bars import bars
from neo.sim.market import Market
from neo.sim.minutes import (
    MSG_ONE_CODE,
    Daily,
    DayBars,
    MinuteOptions,
    daily_of,
    generate,
    labels,
    one_minute_bars,
)
from neo.sim.server import MSG_PERMISSION, SimConfig, SimHTTPServer, running

D = dt.date
FIELDS = ["ts_code", "trade_time", "open", "close", "high", "low", "vol", "amount"]
ROWS_A_DAY = {"1min": 241, "5min": 49, "15min": 17, "30min": 9, "60min": 5}
SEEDS = (3, 17, 29)
# Across 2018-08-20, when SSE stocks got their closing call auction.
START, END = D(2018, 6, 1), D(2018, 11, 30)


@functools.cache
def market(seed: int) -> Market:
    return Market(30, START, END, seed)


# ---------------------------------------------------------------------------------- the rules


def minute_of_day(label: str) -> int:
    h, m, _ = label.split(":")
    return int(h) * 60 + int(m)


def check_against_daily(daily: Daily, got: dict[str, np.ndarray], freq: str) -> None:
    """Every rule a day's bars owe its daily bar, in integer units (ticks, shares, fen), so that
    the exact rules are checked exactly."""
    b = daily.bars
    o, h, lo, c, v, a = (got[k] for k in ("open", "high", "low", "close", "vol", "amount"))
    assert o.shape == (len(b), ROWS_A_DAY[freq])
    assert (o[:, 0] == b.open).all() and (c[:, -1] == b.close).all()
    assert (h.max(axis=1) == b.high).all() and (lo.min(axis=1) == b.low).all()
    assert ((lo <= o) & (o <= h) & (lo <= c) & (c <= h)).all()
    assert (v >= 0).all() and (v[:, 0] > 0).all()  # the opening auction always trades
    assert (v.sum(axis=1) == b.shares).all()
    assert ((v > 0) | ((o == h) & (h == lo) & (lo == c))).all(), "a bar without volume moved"
    gap = a.sum(axis=1) - b.fen
    single_price = b.high == b.low
    assert (gap[~single_price] == 0).all()
    assert (np.abs(gap[single_price]) <= 50).all()  # within daily's own rounding to the yuan
    if b.priced:
        assert ((v * lo <= a) & (a <= v * h)).all()
    else:
        assert (a[v == 0] == 0).all()


def check_aggregation(one: dict[str, np.ndarray], got: dict[str, np.ndarray], freq: str) -> None:
    """Each N-minute bar is its 1min bars (grouped by bar end, here independently of the code)."""
    ends = np.array([minute_of_day(t) for t in labels(freq)])
    group = np.searchsorted(ends, [minute_of_day(t) for t in labels("1min")])
    for g in range(len(ends)):
        members = np.flatnonzero(group == g)
        assert (got["open"][:, g] == one["open"][:, members[0]]).all()
        assert (got["close"][:, g] == one["close"][:, members[-1]]).all()
        assert (got["high"][:, g] == one["high"][:, members].max(axis=1)).all()
        assert (got["low"][:, g] == one["low"][:, members].min(axis=1)).all()
        assert (got["vol"][:, g] == one["vol"][:, members].sum(axis=1)).all()
        assert (got["amount"][:, g] == one["amount"][:, members].sum(axis=1)).all()


@settings(max_examples=12, deadline=None)
@given(seed=st.sampled_from(SEEDS), pick=st.integers(0, 10**6), freq=st.sampled_from(MINUTE_FREQS))
def test_stock_minutes_follow_the_daily_bars(seed: int, pick: int, freq: str) -> None:
    m = market(seed)
    code = m.ts_codes[pick % len(m.ts_codes)]
    daily = daily_of(m, "stk_mins", code)
    assert daily is not None
    rows = np.arange(len(daily.t))
    one = generate(m.state, daily, rows)
    check_against_daily(daily, one, "1min")
    got = generate(m.state, daily, rows, freq)
    check_against_daily(daily, got, freq)
    check_aggregation(one, got, freq)

    # The limit-up/down rules of the daily bars hold intraday (IPO days without a limit have no
    # stk_limit row).
    limits = m.frame("stk_limit")
    mine = np.flatnonzero(limits["ts_code"] == code)
    t = np.searchsorted(m.state.day_str, limits["trade_date"][mine])
    k = np.searchsorted(daily.t, t)
    assert (daily.t[k] == t).all()
    assert (one["high"][k].max(axis=1) <= np.rint(limits["up_limit"][mine] * 100)).all()
    assert (one["low"][k].min(axis=1) >= np.rint(limits["down_limit"][mine] * 100)).all()

    # A day's bars are the same whatever else a request generates with it.
    k = pick % len(rows)
    alone = generate(m.state, daily, rows[k : k + 1], freq)
    assert all((alone[name][0] == got[name][k]).all() for name in got)


@settings(max_examples=6, deadline=None)
@given(seed=st.sampled_from(SEEDS), pick=st.integers(0, 10**6), freq=st.sampled_from(MINUTE_FREQS))
def test_index_minutes_follow_index_daily(seed: int, pick: int, freq: str) -> None:
    m = market(seed)
    codes = sorted(set(m.frame("index_daily")["ts_code"]))
    daily = daily_of(m, "idx_mins", codes[pick % len(codes)])
    assert daily is not None and len(daily.t) > 0
    check_against_daily(daily, generate(m.state, daily, np.arange(len(daily.t)), freq), freq)


def test_closing_auction_by_exchange_and_date() -> None:
    """14:58 and 14:59 trade nothing on days with a closing call auction (SZSE always, SSE from
    2018-08-20): O=H=L=C = the 14:57 close, and 15:00 trades at the close alone; SSE stocks trade
    on to 15:00 before that date."""
    m = market(SEEDS[0])
    tail = labels("1min").index("14:57:00")
    cutover = int(np.searchsorted(m.state.ords, D(2018, 8, 20).toordinal()))
    days_with, days_without = 0, 0
    for code in (c for c in m.ts_codes if c.endswith((".SH", ".SZ"))):
        daily = daily_of(m, "stk_mins", code)
        assert daily is not None
        one = generate(m.state, daily, np.arange(len(daily.t)))
        auction = (daily.t >= cutover) | code.endswith(".SZ")
        quiet = one["vol"][:, tail + 1 : tail + 3]
        assert (quiet[auction] == 0).all() and (quiet[~auction] > 0).all()
        for name in ("open", "high", "low", "close"):
            assert (one[name][auction, tail + 1 : tail + 3] == one["close"][auction, tail : tail + 1]).all()
            assert (one[name][auction, -1] == daily.bars.close[auction]).all()
        days_with += int(auction.sum())
        days_without += int((~auction).sum())
    assert days_with > 0 and days_without > 0


@settings(max_examples=60, deadline=None)
@given(
    low=st.integers(100, 50_000),
    span=st.integers(0, 2_000),
    where=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    shares=st.integers(1_000, 10**9),
    auction=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_daily_bar_of_the_simulators_kind(
    low: int, span: int, where: tuple[float, float], shares: int, auction: bool, seed: int
) -> None:
    """Edge days the market rarely draws (one price all day, open or close at the high or low,
    a one-tick range, thin volume), with daily's amount made as bars.py makes it: vol x
    (open + high + low + 2 close) / 5, rounded to the yuan."""
    high = low + span
    o, c = (low + round(w * span) for w in where)
    fen = round(shares * (o + high + low + 2 * c) / 5 / 100) * 100
    day = DayBars(*(np.array([x]) for x in (o, high, low, c, shares, fen, auction)), priced=True)
    got = one_minute_bars(day, [np.random.default_rng(seed)])
    check_against_daily(Daily("600000.SH", np.array([0]), day, 100), got, "1min")


# ---------------------------------------------------------------------------------- the protocol


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        return json.loads(resp.read())  # type: ignore[no-any-return]


def call(server: SimHTTPServer, api: str, params: dict[str, Any], fields: str = "") -> dict[str, Any]:
    return post(server.url, {"api_name": api, "token": "x", "params": params, "fields": fields})


def items(server: SimHTTPServer, api: str, params: dict[str, Any]) -> list[list[Any]]:
    reply = call(server, api, params)
    assert reply["code"] == 0, reply["msg"]
    return reply["data"]["items"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def server() -> Iterator[SimHTTPServer]:
    with running(SimConfig(stocks=20, start=D(2024, 1, 1), end=D(2024, 6, 28), seed=11)) as s:
        yield s


def a_stock(server: SimHTTPServer, suffix: str = ".SH") -> str:
    """The stock of that exchange with the most daily bars (so not one paused or delisted early)."""
    codes = [c for c in server.sim.market.ts_codes if c.endswith(suffix)]
    return max(codes, key=lambda c: (len(trade_dates(server, c)), c))


def trade_dates(server: SimHTTPServer, code: str) -> list[str]:
    d = server.sim.market.frame("daily")
    return sorted(d["trade_date"][d["ts_code"] == code])


def dashed(day: str) -> str:
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


def daily_row(server: SimHTTPServer, code: str, day: str) -> dict[str, Any]:
    d = server.sim.market.frame("daily")
    k = int(np.flatnonzero((d["ts_code"] == code) & (d["trade_date"] == day))[0])
    return {name: d[name][k] for name in d}


def test_a_day_of_bars_as_minutes_md_shows_it(server: SimHTTPServer) -> None:
    code = a_stock(server)
    day = next(t for t in trade_dates(server, code) if t >= "20240601")
    window = {"ts_code": code, "start_date": f"{dashed(day)} 00:00:00", "end_date": f"{dashed(day)} 23:59:59"}
    reply = call(server, "stk_mins", {**window, "freq": "1min"})
    assert reply["code"] == 0 and reply["data"]["fields"] == FIELDS and not reply["data"]["has_more"]
    rows = reply["data"]["items"]
    times = [r[1] for r in rows]
    assert times == sorted(times, reverse=True) and len(times) == 241  # newest first
    assert all(re.fullmatch(rf"{dashed(day)} \d\d:\d\d:00", t) for t in times)
    clock = [t[11:] for t in reversed(times)]
    assert clock[:3] == ["09:30:00", "09:31:00", "09:32:00"] and clock[-1] == "15:00:00"
    assert "11:30:00" in clock and "11:31:00" not in clock and "13:00:00" not in clock
    assert "13:01:00" in clock
    by = {name: [r[i] for r in reversed(rows)] for i, name in enumerate(FIELDS)}
    assert all(type(v) is int for v in by["vol"])  # shares, as JSON integers
    for name in ("open", "close", "high", "low"):
        assert all(round(p, 2) == p for p in by[name])
    d = daily_row(server, code, day)
    assert by["open"][0] == by["close"][0] == by["high"][0] == by["low"][0] == d["open"]
    assert by["close"][-1] == d["close"]
    assert max(by["high"]) == d["high"] and min(by["low"]) == d["low"]
    assert sum(by["vol"]) == round(d["vol"] * 100)
    assert abs(sum(by["amount"]) - d["amount"] * 1000) < 0.01
    assert by["vol"][-3:-1] == [0, 0]  # 14:58 and 14:59 before the closing auction
    for freq, n in ROWS_A_DAY.items():
        bars_k = items(server, "stk_mins", {**window, "freq": freq})
        assert len(bars_k) == n and bars_k[0][1].endswith("15:00:00") and bars_k[-1][1].endswith("09:30:00")
        assert sum(r[6] for r in bars_k) == sum(by["vol"])
    sixty = [r[1][11:] for r in items(server, "stk_mins", {**window, "freq": "60min"})]
    assert sixty == ["15:00:00", "14:00:00", "11:30:00", "10:30:00", "09:30:00"]


def test_the_row_cap_returns_the_newest_rows_and_offset_pages_on(server: SimHTTPServer) -> None:
    code = a_stock(server, ".SZ")
    params = {
        "ts_code": code,
        "freq": "1min",
        "start_date": "2024-03-01 00:00:00",
        "end_date": "2024-05-31 19:00:00",
    }
    _, everything = server.sim.expected("stk_mins", params)
    assert len(everything) > 8000  # about 60 days of 241 bars
    first = call(server, "stk_mins", params)["data"]
    assert len(first["items"]) == 8000 and first["has_more"]
    assert first["items"] == everything[:8000]
    rest = call(server, "stk_mins", {**params, "offset": 8000})["data"]
    assert rest["items"] == everything[8000:] and not rest["has_more"]
    # Pages that end inside a day fit together too.
    pages = [items(server, "stk_mins", {**params, "offset": k, "limit": 1000}) for k in range(0, 3000, 1000)]
    assert [row for page in pages for row in page] == everything[:3000]


def test_errors_and_codes_without_bars(server: SimHTTPServer) -> None:
    code = a_stock(server)
    no_code, no_freq = call(server, "stk_mins", {"freq": "1min"}), call(server, "stk_mins", {"ts_code": code})
    assert (no_code["code"], no_code["msg"], no_code["data"]) == (40101, "ts_code required", None)
    assert (no_freq["code"], no_freq["msg"], no_freq["data"]) == (40101, "freq required", None)
    for bad in ("1MIN", "60", "2min", "1d"):
        reply = call(server, "stk_mins", {"ts_code": code, "freq": bad})
        allowed = ", ".join(MINUTE_FREQS)
        assert (reply["code"], reply["msg"]) == (
            -1000,
            MSG_CHOICE.format(param="freq", allowed=allowed, value=bad),
        )
    two = call(server, "stk_mins", {"ts_code": f"{code},000001.SZ", "freq": "1min"})
    assert (two["code"], two["msg"]) == (-1000, MSG_ONE_CODE.format(value=f"{code},000001.SZ"))
    # Unknown codes, ETFs (the simulated market has none), an index code asked of stk_mins: no rows.
    for other in ("999999.SH", "510330.SH", "000001.SH"):
        assert items(server, "stk_mins", {"ts_code": other, "freq": "1min", "start_date": "2024-01-01"}) == []
    assert items(server, "stk_mins", {"ts_code": code, "freq": "5min", "start_date": "2024-01-01"})
    # A known code over days without a bar (the Spring Festival holiday) has no rows either.
    holiday = {"ts_code": code, "freq": "1min", "start_date": "2024-02-10", "end_date": "2024-02-17"}
    assert items(server, "stk_mins", holiday) == []


def test_idx_mins_serves_index_daily_in_shares_and_yuan(server: SimHTTPServer) -> None:
    f = server.sim.market.frame("index_daily")
    code = str(f["ts_code"][0])
    day = dashed(str(max(f["trade_date"][f["ts_code"] == code])))
    rows = items(
        server,
        "idx_mins",
        {"ts_code": code, "freq": "1min", "start_date": day, "end_date": f"{day} 23:59:59"},
    )
    k = int(np.flatnonzero((f["ts_code"] == code) & (f["trade_date"] == day.replace("-", "")))[0])
    assert len(rows) == 241 and rows[-1][2] == f["open"][k] and rows[0][3] == f["close"][k]
    assert max(r[4] for r in rows) == f["high"][k] and min(r[5] for r in rows) == f["low"][k]
    assert sum(r[6] for r in rows) == round(f["vol"][k] * 100)  # index_daily: lots
    assert abs(sum(r[7] for r in rows) - f["amount"][k] * 1000) < 0.01  # index_daily: thousand CNY
    assert items(server, "idx_mins", {"ts_code": a_stock(server), "freq": "1min", "start_date": day}) == []


def test_windows_bare_dates_and_defaults(server: SimHTTPServer) -> None:
    code = a_stock(server)
    base = {"ts_code": code, "freq": "1min"}

    def days(params: dict[str, Any]) -> list[str]:
        return sorted({r[1][:10] for r in items(server, "stk_mins", {**base, **params})})

    june = [dashed(d) for d in trade_dates(server, code) if "20240610" <= d <= "20240620"]
    # A bare start_date takes its whole day; a bare end_date excludes its day (text comparison).
    assert days({"start_date": june[0], "end_date": june[-1]}) == june[:-1]
    assert days({"start_date": june[0], "end_date": f"{june[-1]} 23:59:59"}) == june
    assert days({"start_date": june[0].replace("-", ""), "end_date": june[-1].replace("-", "")}) == june[:-1]
    # Bounds inside a day cut its bars: 10:00 to 10:30 inclusive.
    cut = items(
        server, "stk_mins", {**base, "start_date": f"{june[0]} 10:00:00", "end_date": f"{june[0]} 10:30:00"}
    )
    assert len(cut) == 31 and cut[0][1][11:] == "10:30:00" and cut[-1][1][11:] == "10:00:00"
    # No dates at all: the last ten calendar days up to the market's end (2024-06-28).
    last_ten = [dashed(d) for d in trade_dates(server, code) if d >= "20240619"]
    assert days({}) == last_ten and len(last_ten) >= 5


def test_options_for_what_minutes_md_leaves_unverified(sim: Callable[..., SimHTTPServer]) -> None:
    options = MinuteOptions(bare_end_inclusive=True, default_days=None, auction_row=False, multi_code=True)
    s = sim(minutes=options, end=D(2024, 2, 29), deny=frozenset({"idx_mins"}))
    # A separate grant on Tushare (MINUTES.md): the simulator's permission switch is per API.
    denied = call(s, "idx_mins", {"ts_code": "000001.SH", "freq": "1min"})
    assert (denied["code"], denied["msg"]) == (40203, MSG_PERMISSION)
    sh, sz = a_stock(s, ".SH"), a_stock(s, ".SZ")
    assert "20240205" in set(trade_dates(s, sh)) & set(trade_dates(s, sz))
    day = {"start_date": "2024-02-05", "end_date": "2024-02-05"}  # inclusive end: one whole day
    one = items(s, "stk_mins", {"ts_code": sh, "freq": "1min", **day})
    assert len(one) == 240 and one[-1][1].endswith("09:31:00")  # the auction folded into 09:31
    d = daily_row(s, sh, "20240205")
    assert one[-1][2] == d["open"] and sum(r[6] for r in one) == round(d["vol"] * 100)
    sixty = items(s, "stk_mins", {"ts_code": sh, "freq": "60min", **day})
    assert [r[1][11:] for r in sixty] == ["15:00:00", "14:00:00", "11:30:00", "10:30:00"]
    both = items(s, "stk_mins", {"ts_code": f"{sz},{sh}", "freq": "30min", **day})
    assert [r[0] for r in both[:2]] == sorted([sh, sz]) and len(both) == 16
    assert [r[1] for r in both] == sorted((r[1] for r in both), reverse=True)
    # Without dates and without a default window: the whole range, capped to the newest rows.
    everything = call(s, "stk_mins", {"ts_code": sh, "freq": "1min"})["data"]
    assert len(everything["items"]) == 8000 and everything["has_more"]
    assert everything["items"][0][1] == "2024-02-29 15:00:00"


def test_no_bars_on_days_without_a_daily_bar(server: SimHTTPServer) -> None:
    st_ = server.sim.market.state
    b = bars(st_)
    gaps = b["alive"] & ~b["traded"]  # listed but suspended
    stock = int(np.flatnonzero(gaps.any(axis=1))[0])
    code = str(st_.u.codes[stock])
    rows = items(
        server,
        "stk_mins",
        {"ts_code": code, "freq": "60min", "start_date": "2024-01-01", "end_date": "2024-07-01"},
    )
    served = {r[1][:10].replace("-", "") for r in rows}
    d = server.sim.market.frame("daily")
    assert served == set(d["trade_date"][d["ts_code"] == code])
    assert not served & set(st_.day_str[gaps[stock]])
    assert set(Counter(r[1][:10] for r in rows).values()) == {5}
