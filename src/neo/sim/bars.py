"""Daily bars of the simulated market: ``daily``, ``adj_factor``, ``daily_basic``, ``weekly`` and
``monthly``, all from one hfq random walk with suspensions and dividend steps (see the module
docstring of ``neo.sim.market`` for the model).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from neo.sim import calendar as cal
from neo.sim.limits import board_kind, free_days, limit_cents, limit_pct, st_matrix
from neo.sim.state import Dataset, Frame, State, api_fields, empty, obj, readonly, salt
from neo.sim.universe import BOARDS, annual, econ


def bars(s: State) -> dict[str, Any]:
    built: dict[str, Any] = s.once("bars", lambda: _build_bars(s))
    return built


def _build_bars(s: State) -> dict[str, Any]:
    u = s.u
    e = econ(s)
    n, T = s.stocks, len(s.days)
    tt = np.arange(T)
    alive = (tt[None, :] >= u.list_idx[:, None]) & (tt[None, :] < u.end_idx[:, None])

    # Suspension spells: ~1.5% of stock-days, spells of 1-10 days, never on an IPO day.
    rng = s.rng(salt("suspend"))
    alive_days = alive.sum(axis=1)
    spells = rng.poisson(alive_days * 0.015 / 5.5)
    owner = np.repeat(np.arange(n), spells)
    lo = u.list_idx[owner]
    span = np.maximum(u.end_idx[owner] - lo, 1)
    s_start = lo + (rng.random(len(owner)) * span).astype(np.int64)
    s_len = rng.integers(1, 11, size=len(owner))
    delta = np.zeros((n, T + 1), dtype=np.int16)
    np.add.at(delta, (owner, s_start), 1)
    np.add.at(delta, (owner, np.minimum(s_start + s_len, T)), -1)
    suspended = np.cumsum(delta[:, :T], axis=1) > 0
    del delta
    suspended |= tt[None, :] >= u.pause_idx[:, None]
    ipo_day = np.zeros((n, T), dtype=bool)
    if u.ipo.any():
        ipo_day[np.flatnonzero(u.ipo), u.list_idx[u.ipo]] = True
    free = free_days(s)
    suspended &= ~free  # never suspended on an IPO's limit-free days (see neo.sim.limits)
    traded = alive & ~suspended
    del suspended

    # adj_factor: one ex-date per year in late May..July for most stocks.
    steps = np.ones((n, T))
    ipo_guard = np.where(u.ipo, u.list_idx + 40, -1)
    for year in range(s.start.year, s.end.year + 1):
        lo_t = int(np.searchsorted(s.ords, dt.date(year, 5, 20).toordinal()))
        hi_t = int(np.searchsorted(s.ords, dt.date(year, 7, 31).toordinal(), side="right"))
        yr = s.rng(salt("dividends"), year % (1 << 32))
        pays = yr.random(n) < np.where(e["pays_div"], 0.9, 0.15)
        t_ex = yr.integers(lo_t, max(hi_t, lo_t + 1), size=n)
        yld = e["div_yield"] * yr.uniform(0.7, 1.3, size=n)
        ok = pays & (hi_t > lo_t) & (t_ex >= ipo_guard) & (t_ex >= u.list_idx) & (t_ex < u.end_idx)
        idx = np.flatnonzero(ok)
        steps[idx, t_ex[idx]] = 1.0 + yld[idx]
    adj = np.round(u.adj_base[:, None] * np.cumprod(steps, axis=1), 3)
    is_ex = steps > 1.0
    del steps

    # hfq log-price walk, time-major so that each step touches contiguous memory. Each day's
    # return is clipped to that day's limit in log space, then the raw close (hfq / adj_factor,
    # rounded to 0.01) is clamped to the exact stk_limit prices of its raw pre_close, and the walk
    # continues from that raw close: no rounding can push a close past a limit.
    rng = s.rng(salt("walk"))
    kind = board_kind(s)
    st_tm = np.ascontiguousarray(st_matrix(s).T)
    growth = np.array([BOARDS[b].growth for b in u.board])
    pop = np.where(growth, np.log1p(rng.uniform(0.0, 1.5, size=n)), np.log1p(rng.uniform(0.15, 0.44, size=n)))
    L0 = np.log(u.price0 * u.adj_base)
    target = L0 + np.where(u.ipo, pop, 0.0)
    mkt = rng.normal(0.0003, 0.012, size=T)
    eps = rng.standard_normal((T, n))
    eps *= e["sigma"]
    eps += mkt[:, None] * e["beta"][None, :]
    # Rare news shocks: what drives most limit-up / limit-down closes.
    jr = s.rng(salt("jumps"))
    shock = jr.random((T, n)) < 0.01
    eps[shock] += jr.normal(0.0, 0.08, size=int(shock.sum()))
    del shock
    traded_tm = np.ascontiguousarray(traded.T)
    ipo_tm = np.ascontiguousarray(ipo_day.T)
    free_tm = np.ascontiguousarray(free.T)
    adj_tm = np.ascontiguousarray(adj.T)
    close_c = np.zeros((T, n), dtype=np.int32)  # raw close in cents on traded days
    pre_c = np.zeros((T, n), dtype=np.int32)  # raw pre_close in cents on traded days
    kappa = 0.004
    L = L0.copy()
    last_close = np.round(u.price0, 2)
    last_adj = u.adj_base.astype(np.float64)
    Lmat = eps  # reused in place: row t becomes the log hfq price after day t
    for t in range(T):
        pct = limit_pct(kind, s.ords[t], st_tm[t])
        r = np.clip(eps[t] - kappa * (L - target), np.log1p(-pct / 100.0), np.log1p(pct / 100.0))
        r = np.where(ipo_tm[t], pop, r)
        a_t = adj_tm[t]
        pre = np.maximum(np.round(last_close * last_adj / a_t, 2), 0.01)
        p_c = np.rint(pre * 100.0).astype(np.int64)
        c = np.maximum(np.rint(np.exp(L + r) / a_t * 100.0), 1.0).astype(np.int64)
        up_c, dn_c = limit_cents(p_c, pct)
        c = np.where(free_tm[t], c, np.clip(c, dn_c, up_c))
        tr = traded_tm[t]
        close_c[t] = np.where(tr, c, 0)
        pre_c[t] = np.where(tr, p_c, 0)
        last_close = np.where(tr, c / 100.0, last_close)
        last_adj = np.where(tr, a_t, last_adj)
        L = np.where(tr, np.log(last_close * a_t), L)
        Lmat[t] = L
    del traded_tm, ipo_tm, free_tm, adj_tm, st_tm

    # ---- flat rows: stock-major, time-ascending ----
    s_idx, t_idx = np.nonzero(traded)
    s_idx = s_idx.astype(np.int32)
    t_idx = t_idx.astype(np.int32)
    nrow = len(s_idx)
    close = close_c[t_idx, s_idx] / 100.0
    pre_cents = pre_c[t_idx, s_idx].astype(np.int64)
    pre_close = pre_cents / 100.0
    del close_c, pre_c
    first = np.ones(nrow, dtype=bool)
    first[1:] = s_idx[1:] != s_idx[:-1]
    change = np.round(close - pre_close, 2)
    pct_chg = np.round(change / pre_close * 100.0, 4)

    is_ipo_row = ipo_day[s_idx, t_idx]
    # Limit-bound days: high/low/open stay within the exact stk_limit prices (on the 0.01 grid, so
    # rounding and min/max keep them inside). IPO free days: wide caps, as a real debut allows.
    up_c, dn_c = limit_cents(pre_cents, limit_pct(kind[s_idx], s.ords[t_idx], st_matrix(s)[s_idx, t_idx]))
    is_free = free[s_idx, t_idx]
    hi_cap = np.where(is_free, pre_close * np.where(growth[s_idx], 4.0, 1.44), up_c / 100.0)
    lo_cap = np.where(is_free, pre_close * np.where(growth[s_idx], 0.1, 0.64), dn_c / 100.0)
    del up_c, dn_c, is_free, pre_cents
    logret = np.log(close / pre_close)
    rng = s.rng(salt("ohlc"))
    gap = rng.normal(0.0, 0.008, size=nrow) + 0.25 * logret
    open_ = np.maximum(np.round(np.clip(pre_close * np.exp(gap), lo_cap, hi_cap), 2), 0.01)
    top = np.maximum(open_, close)
    bot = np.minimum(open_, close)
    high = np.round(np.minimum(top * np.exp(np.abs(rng.normal(0.0, 0.01, size=nrow))), hi_cap), 2)
    low = np.round(np.maximum(bot * np.exp(-np.abs(rng.normal(0.0, 0.01, size=nrow))), lo_cap), 2)
    # Exactness after rounding: max/min of already-rounded values stay on the 0.01 grid.
    high = np.maximum(high, top)
    low = np.minimum(np.maximum(low, 0.01), bot)
    del top, bot, gap, hi_cap, lo_cap

    float_share = np.round(u.shares * u.float_ratio, 4)
    free_share = np.round(float_share * u.free_ratio, 4)
    total_share = np.round(u.shares, 4)
    tau = e["turnover"][s_idx] * np.exp(rng.normal(0.0, 0.35, size=nrow)) * (1.0 + 8.0 * np.abs(logret))
    tau = np.where(is_ipo_row, rng.uniform(30.0, 80.0, size=nrow), tau).clip(0.01, 90.0)
    fs_row = float_share[s_idx]
    # turnover% = vol(lots) * 100 / (float_share(万股) * 1e4) * 100 = vol / float_share
    vol = np.maximum(np.round(tau * fs_row, 2), 1.0)
    vwap = np.clip((open_ + high + low + 2.0 * close) / 5.0, low, high)
    amount = np.round(vol * vwap / 10.0, 3)
    del tau, vwap, logret, is_ipo_row

    ts_code = np.repeat(u.codes, np.bincount(s_idx, minlength=n))
    trade_date = s.day_str[t_idx]
    daily = {
        "ts_code": ts_code,
        "trade_date": trade_date,
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "pre_close": pre_close,
        "change": change,
        "pct_chg": pct_chg,
        "vol": vol,
        "amount": amount,
    }

    # ---- daily_basic ----
    turnover_rate = np.round(vol / fs_row, 4)
    turnover_rate_f = np.round(vol / free_share[s_idx], 4)
    del fs_row
    csum = np.concatenate([[0.0], np.cumsum(vol)])
    row = np.arange(nrow)
    first_row = np.repeat(np.flatnonzero(first), np.bincount(s_idx, minlength=n)[np.unique(s_idx)])
    k = np.minimum(row - first_row, 5)
    with np.errstate(invalid="ignore", divide="ignore"):
        prev_mean = (csum[row] - csum[row - k]) / k
        volume_ratio = np.where(k > 0, np.round(vol / prev_mean, 2), np.nan)
    del csum, prev_mean, k, first_row, row

    total_mv = np.round(close * total_share[s_idx], 4)
    circ_mv = np.round(close * float_share[s_idx], 4)
    years = np.array([d.year for d in s.days], dtype=np.int64)
    y0 = s.start.year
    ann = {y: annual(s, y) for y in range(y0 - 1, s.end.year + 1)}
    yi = years[t_idx] - y0  # index of the trading year; year-1 is row yi of the stack below
    stack = {key: np.stack([ann[y][key] for y in range(y0 - 1, s.end.year + 1)]) for key in ann[y0]}
    doy = np.array([(d - dt.date(d.year, 1, 1)).days / 365.0 for d in s.days])[t_idx]
    last_ni = stack["n_income"][yi, s_idx]
    cur_ni = stack["n_income"][yi + 1, s_idx]
    ttm_ni = last_ni * (1.0 - doy) + cur_ni * doy
    last_rev = stack["revenue"][yi, s_idx]
    ttm_rev = last_rev * (1.0 - doy) + stack["revenue"][yi + 1, s_idx] * doy
    equity = stack["equity"][yi, s_idx]
    mv_cny = total_mv * 1e4
    with np.errstate(invalid="ignore", divide="ignore"):
        pe = np.where(last_ni > 0, np.round(mv_cny / last_ni, 4), np.nan)
        pe_ttm = np.where(ttm_ni > 0, np.round(mv_cny / ttm_ni, 4), np.nan)
    pb = np.round(mv_cny / equity, 4)
    ps = np.round(mv_cny / last_rev, 4)
    ps_ttm = np.round(mv_cny / ttm_rev, 4)
    del last_ni, cur_ni, ttm_ni, last_rev, ttm_rev, equity, mv_cny, doy, yi, stack

    # Dividend yield: the last cash dividend per share (within ~a year) over today's close.
    ex_s, ex_t = np.nonzero(is_ex)
    dps_mat = np.zeros((n, T))
    if len(ex_s):
        hfq_prev = np.exp(Lmat[np.maximum(ex_t - 1, 0), ex_s])
        dps_mat[ex_s, ex_t] = hfq_prev * (1.0 / adj[ex_s, np.maximum(ex_t - 1, 0)] - 1.0 / adj[ex_s, ex_t])
    last_ex = np.where(is_ex, tt[None, :], -(10**6)).astype(np.int32)
    np.maximum.accumulate(last_ex, axis=1, out=last_ex)
    # Stocks that paid in the year before start carry that dividend into the range.
    prior_t = -s.rng(salt("prior-dividend")).integers(60, 200, size=n)
    has_prior = e["pays_div"] & ~u.ipo
    prior_dps = e["div_yield"] * u.price0
    le = last_ex[s_idx, t_idx]
    dps = np.where(le >= 0, dps_mat[s_idx, np.maximum(le, 0)], prior_dps[s_idx])
    le = np.where(le >= 0, le, np.where(has_prior[s_idx], prior_t[s_idx], -(10**6)))
    fresh = (t_idx - le) < 250
    dv_ttm = np.where(fresh, np.round(dps / close * 100.0, 4), np.nan)
    dv_ratio = dv_ttm.copy()
    del dps_mat, last_ex, le, dps, fresh, is_ex

    daily_basic = {
        "ts_code": ts_code,
        "trade_date": trade_date,
        "close": close,
        "turnover_rate": turnover_rate,
        "turnover_rate_f": turnover_rate_f,
        "volume_ratio": volume_ratio,
        "pe": pe,
        "pe_ttm": pe_ttm,
        "pb": pb,
        "ps": ps,
        "ps_ttm": ps_ttm,
        "dv_ratio": dv_ratio,
        "dv_ttm": dv_ttm,
        "total_share": total_share[s_idx],
        "float_share": float_share[s_idx],
        "free_share": free_share[s_idx],
        "total_mv": total_mv,
        "circ_mv": circ_mv,
    }
    del Lmat, eps

    # ---- adj_factor: every alive day, suspended or not ----
    a_s, a_t = np.nonzero(alive)
    adj_factor = {
        "ts_code": np.repeat(u.codes, np.bincount(a_s, minlength=n)),
        "trade_date": s.day_str[a_t],
        "adj_factor": adj[a_s, a_t],
    }
    return {
        "daily": readonly(daily),
        "daily_basic": readonly(daily_basic),
        "adj_factor": readonly(adj_factor),
        "s_idx": s_idx,
        "t_idx": t_idx,
        "alive": alive,  # (stocks x open days) listed and not delisted
        "traded": traded,  # ... and not suspended: exactly the daily rows
        "free": free,  # IPO days without a price limit
    }


def period_bars(s: State, kind: str) -> Frame:
    b = bars(s)
    d = b["daily"]
    s_idx: np.ndarray = b["s_idx"]
    t_idx: np.ndarray = b["t_idx"]
    if kind == "weekly":
        pid_of_day = np.array([(d0.toordinal() - 1) // 7 for d0 in s.days], dtype=np.int64)
    else:
        pid_of_day = np.array([d0.year * 12 + d0.month - 1 for d0 in s.days], dtype=np.int64)
    # The period's bar date is its last open day; the period holding `end` may run past it.
    last_day: dict[int, dt.date] = {}
    for d0, p in zip(s.days, pid_of_day.tolist(), strict=True):
        last_day[p] = d0
    if s.days:
        tail = s.days[-1]
        if kind == "weekly":
            period_end = dt.date.fromordinal(pid_of_day[-1] * 7 + 7)
        else:
            nxt = dt.date(tail.year + (tail.month == 12), tail.month % 12 + 1, 1)
            period_end = nxt - dt.timedelta(days=1)
        if cal.open_days(tail + dt.timedelta(days=1), period_end):
            del last_day[int(pid_of_day[-1])]
    pids = sorted(last_day)
    pid_str = {p: cal.ymd(last_day[p]) for p in pids}
    nrow = len(s_idx)
    if nrow == 0:
        return empty(kind)
    period = pid_of_day[t_idx]
    key_change = np.ones(nrow, dtype=bool)
    key_change[1:] = (s_idx[1:] != s_idx[:-1]) | (period[1:] != period[:-1])
    starts = np.flatnonzero(key_change)
    ends = np.append(starts[1:], nrow) - 1
    g_s = s_idx[starts]
    g_p = period[starts]
    close = d["close"][ends]
    pre_close = d["pre_close"][starts].copy()
    same = np.zeros(len(starts), dtype=bool)
    same[1:] = g_s[1:] == g_s[:-1]
    pre_close[1:][same[1:]] = close[:-1][same[1:]]
    keep = np.isin(g_p, np.array(pids, dtype=np.int64))
    change = np.round(close - pre_close, 2)
    out = {
        "ts_code": d["ts_code"][starts],
        "trade_date": obj([pid_str.get(p) for p in g_p.tolist()]),
        "close": close,
        "open": d["open"][starts],
        "high": np.maximum.reduceat(d["high"], starts),
        "low": np.minimum.reduceat(d["low"], starts),
        "pre_close": pre_close,
        "change": change,
        "pct_chg": np.round(change / pre_close * 100.0, 4),
        "vol": np.round(np.add.reduceat(d["vol"], starts), 2),
        "amount": np.round(np.add.reduceat(d["amount"], starts), 3),
    }
    return readonly({f: out[f][keep] for f, _ in api_fields(kind)})


# ---------------------------------------------------------------------------------- statements


def _bar_frame(name: str) -> Dataset:
    return Dataset(name, lambda m: bars(m.state)[name], eager=True)


def _period_frame(kind: str) -> Dataset:
    return Dataset(kind, lambda m: period_bars(m.state, kind), eager=True)


DATASETS: tuple[Dataset, ...] = (
    _bar_frame("daily"),
    _bar_frame("adj_factor"),
    _bar_frame("daily_basic"),
    _period_frame("weekly"),
    _period_frame("monthly"),
)
