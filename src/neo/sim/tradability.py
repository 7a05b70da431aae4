"""Tradability data of the simulated market: ``namechange``, ``stk_limit``, ``suspend_d`` and
``moneyflow``, consistent with the bars (NOTES.md "Research datasets").

- ``namechange``: per stock, periods tiling time from list_date (end_date = next start_date - 1
  day; the current one has end_date null). The listing name (change_reason '其他'), 'ST'/'*ST'
  at each ST spell start (``neo.sim.limits``), '撤销ST'/'撤销*ST' when it ends, and '改名' for a
  plain rename of ~4% of stocks. ann_date is the open day before start_date (null for listing rows
  before 2010, as on old real rows; start_date/end_date filter ann_date, so such rows drop out of a
  dated call like on Tushare). Changes after ``end`` or on/after the delist date are not shown.
  Quirk kept from the real service: for ~3% of stocks with a past change, the previous period is
  repeated with end_date null (the "end_date-null twin"; its key differs only in end_date).
  stock_basic's name is the current name (so 'ST...' / '*ST...' for a stock ST at ``end``).
- ``stk_limit``: one row per daily row except IPO days without a limit (how Tushare encodes those
  is unverified, so the row is left out); pre_close is daily's, up/down from
  ``limits.limit_pct``/``limit_cents``; suspended days have no row either.
- ``suspend_d``: an S row (suspend_timing null) for every open day a listed stock has no daily
  row, an R row on the first traded day after such a run, and intraday S rows (suspend_timing
  e.g. '09:30-10:30') on ~0.2% of traded days that are not R days.
- ``moneyflow``: SH/SZ stocks only (BSE has none, per NOTES "expected"), a row per daily row.
  Amounts in 万元, volumes in 手 (int): buy amounts over the four size classes add up to
  daily amount / 10 (to rounding), as do sell amounts; big orders lean to the day's direction;
  net_mf_* come from "level-2 active orders" so they are not the difference of the class sums.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from neo.sim import calendar as cal
from neo.sim.bars import bars
from neo.sim.limits import board_kind, limit_cents, limit_pct, spells, st_matrix
from neo.sim.state import Dataset, Frame, State, obj, salt
from neo.sim.universe import BOARDS

__all__ = ["DATASETS", "current_names", "name_history"]

_RENAME_HEADS = "华中国金新东海天长宏恒信达通泰安明星光荣盛瑞鑫永兴汇联创力德美嘉博"
_NO_ANN_BEFORE = dt.date(2010, 1, 1).toordinal()
_TIMINGS = ("09:30-10:30", "09:30-10:00", "10:30-11:30", "13:00-14:57", "09:30-11:30")


# ------------------------------------------------------------------------------------------ names


def name_history(s: State) -> Frame:
    """The namechange frame (cached); see the module docstring."""

    def build() -> Frame:
        u = s.u
        n = s.stocks
        sp = spells(s)
        end_ord = s.end.toordinal()
        rng = s.rng(salt("renames"))
        renamed = rng.random(n) < 0.04
        rename_u = rng.random(n)
        head = rng.integers(0, len(_RENAME_HEADS), size=n)
        twin = rng.random(n) < 0.03
        first_sp = np.searchsorted(sp.stock, np.arange(n), side="left")
        last_sp = np.searchsorted(sp.stock, np.arange(n), side="right")
        base_names = u.basic["name"]
        cols: dict[str, list[str | None]] = {
            k: [] for k in ("ts_code", "name", "start_date", "end_date", "ann_date", "change_reason")
        }
        for i in range(n):
            stop_ord = min(end_ord, int(u.delist_ord[i]) - 1)  # last day a change can show
            plain = str(base_names[i])
            # (ordinal, reason, st prefix after, plain name after); the plain name before a rename
            # is the current one with another first character.
            events: list[tuple[int, str, str, bool]] = []
            bounds: set[int] = set()
            for k in range(first_sp[i], last_sp[i]):
                mark = "*ST" if sp.star[k] else "ST"
                a, b = int(sp.start[k]), int(sp.stop[k])
                events.append((a, mark, mark, False))
                bounds.add(a)
                if b <= stop_ord:
                    events.append((b, "撤销" + mark, "", False))
                    bounds.add(b)
            old = plain
            lo, hi = int(u.list_ord[i]) + 200, stop_ord
            if renamed[i] and hi > lo:
                day = cal.next_open_day(
                    dt.date.fromordinal(lo + int(rename_u[i] * (hi - lo))), inclusive=True
                ).toordinal()
                if day <= hi and day not in bounds:
                    c = _RENAME_HEADS[head[i]]
                    old = (c if c != plain[0] else _RENAME_HEADS[(head[i] + 1) % len(_RENAME_HEADS)]) + plain[
                        1:
                    ]
                    events.append((day, "改名", "", True))
            events.sort()
            list_ord = int(u.list_ord[i])
            starts = [list_ord]
            names = [old]
            reasons = ["其他"]
            prefix, current = "", old
            for day, reason, mark, rename in events:
                if day > stop_ord:
                    break
                if rename:
                    current = plain
                elif reason in ("ST", "*ST"):
                    prefix = mark
                else:
                    prefix = ""
                starts.append(day)
                names.append(prefix + current)
                reasons.append(reason)
            code = str(u.codes[i])
            k = len(starts)
            for j in range(k):
                start = starts[j]
                cols["ts_code"].append(code)
                cols["name"].append(names[j])
                cols["start_date"].append(cal.ymd(dt.date.fromordinal(start)))
                cols["end_date"].append(
                    cal.ymd(dt.date.fromordinal(starts[j + 1] - 1)) if j + 1 < k else None
                )
                if j == 0:
                    ann = None if start < _NO_ANN_BEFORE else cal.ymd(dt.date.fromordinal(start))
                else:
                    ann = cal.ymd(cal.prev_open_day(dt.date.fromordinal(start)))
                cols["ann_date"].append(ann)
                cols["change_reason"].append(reasons[j])
            if twin[i] and k >= 2:  # the stale twin of the previous period
                for key in cols:
                    cols[key].append(cols[key][-2])
                cols["end_date"][-1] = None
        return {key: obj(v) for key, v in cols.items()}

    table: Frame = s.once("namechange", build)
    return table


def current_names(s: State) -> np.ndarray:
    """Each stock's name as of ``end`` (stock_basic's name), in universe order: the name of its
    open (end_date null) period with the latest start_date (a stale twin starts earlier)."""
    nc = name_history(s)
    index = {c: i for i, c in enumerate(s.u.codes.tolist())}
    out = obj(list(s.u.basic["name"]))
    latest: dict[int, str] = {}
    cols = ("ts_code", "name", "start_date", "end_date")
    rows = zip(*(nc[c].tolist() for c in cols), strict=True)
    for code, name, start, end in rows:
        i = index[code]
        if end is None and start >= latest.get(i, ""):
            latest[i] = start
            out[i] = name
    return out


# ------------------------------------------------------------------------------------------ limits


def stk_limit(s: State) -> Frame:
    b = bars(s)
    d = b["daily"]
    s_idx, t_idx = b["s_idx"], b["t_idx"]
    keep = ~b["free"][s_idx, t_idx]
    s_k, t_k = s_idx[keep], t_idx[keep]
    pre = d["pre_close"][keep]
    pct = limit_pct(board_kind(s)[s_k], s.ords[t_k], st_matrix(s)[s_k, t_k])
    up, down = limit_cents(np.rint(pre * 100.0).astype(np.int64), pct)
    return {
        "trade_date": d["trade_date"][keep],
        "ts_code": d["ts_code"][keep],
        "pre_close": pre,
        "up_limit": up / 100.0,
        "down_limit": down / 100.0,
    }


# ------------------------------------------------------------------------------------------ suspensions


def suspend_d(s: State) -> Frame:
    b = bars(s)
    alive, traded = b["alive"], b["traded"]
    full = alive & ~traded
    resumed = np.zeros_like(traded)
    resumed[:, 1:] = traded[:, 1:] & full[:, :-1]
    fs, ft = np.nonzero(full)
    rs, rt = np.nonzero(resumed)
    s_idx, t_idx = b["s_idx"], b["t_idx"]
    rng = s.rng(salt("intraday-halts"))
    pick = (rng.random(len(s_idx)) < 0.002) & ~resumed[s_idx, t_idx]
    timing = rng.integers(0, len(_TIMINGS), size=int(pick.sum()))
    is_, it = s_idx[pick], t_idx[pick]
    codes = s.u.codes
    return {
        "ts_code": np.concatenate([codes[fs], codes[rs], codes[is_]]),
        "trade_date": np.concatenate([s.day_str[ft], s.day_str[rt], s.day_str[it]]),
        "suspend_timing": np.concatenate(
            [np.full(len(fs) + len(rs), None, dtype=object), obj([_TIMINGS[k] for k in timing])]
        ),
        "suspend_type": np.concatenate(
            [
                np.full(len(fs), "S", dtype=object),
                np.full(len(rs), "R", dtype=object),
                np.full(len(is_), "S", dtype=object),
            ]
        ),
    }


# ------------------------------------------------------------------------------------------ money flow


def moneyflow(s: State) -> Frame:
    b = bars(s)
    d = b["daily"]
    bse = np.array([BOARDS[k].exchange == "BSE" for k in s.u.board])
    keep = ~bse[b["s_idx"]]
    nrow = int(keep.sum())
    amount = d["amount"][keep] / 10.0  # 千元 -> 万元
    vol = d["vol"][keep]
    ret = np.log(d["close"][keep] / d["pre_close"][keep])
    rng = s.rng(salt("moneyflow"))
    # Class shares by turnover size: small, medium, large, extra large.
    base = np.array([0.0, -0.15, -0.55, -0.9])
    size = np.log(np.maximum(amount, 1.0))[:, None] * np.array([-0.08, 0.0, 0.04, 0.08])
    lean = np.clip(ret, -0.2, 0.2)[:, None] * np.array([-2.0, 0.0, 4.0, 8.0])
    shares: list[np.ndarray] = []
    for sign in (1.0, -1.0):  # buy side, sell side
        logits = base + size + sign * lean + rng.normal(0.0, 0.25, size=(nrow, 4))
        w = np.exp(logits - logits.max(axis=1, keepdims=True))
        shares.append(w / w.sum(axis=1, keepdims=True))
    buy, sell = shares
    out: Frame = {"ts_code": d["ts_code"][keep], "trade_date": d["trade_date"][keep]}
    for j, cls in enumerate(("sm", "md", "lg", "elg")):
        out[f"buy_{cls}_vol"] = np.rint(vol * buy[:, j]).astype(np.int64)
        out[f"buy_{cls}_amount"] = np.round(amount * buy[:, j], 2)
        out[f"sell_{cls}_vol"] = np.rint(vol * sell[:, j]).astype(np.int64)
        out[f"sell_{cls}_amount"] = np.round(amount * sell[:, j], 2)
    # Net inflow from active orders: big-order imbalance plus noise, not the class-sum difference.
    big = buy[:, 2] + buy[:, 3] - sell[:, 2] - sell[:, 3]
    net = np.round(amount * (0.6 * big + rng.normal(0.0, 0.03, size=nrow)), 2)
    price = amount * 1e4 / (vol * 100.0)  # CNY per share
    out["net_mf_vol"] = np.rint(net * 1e4 / (price * 100.0)).astype(np.int64)
    out["net_mf_amount"] = net
    ticket = np.exp(rng.normal(np.log(3.0), 0.3, size=nrow))  # 万元 per trade
    out["trade_count"] = np.maximum(np.rint(amount / ticket), 1).astype(np.int64)
    return out


def stock_basic(s: State) -> Frame:
    """stock_basic as of ``end``: the universe's frame (universe.py) with each stock's current name,
    which carries the ST / *ST prefix of a stock ST at ``end`` (names come from ``namechange``)."""
    frame = dict(s.u.basic)
    frame["name"] = current_names(s)
    return frame


DATASETS: tuple[Dataset, ...] = (
    Dataset("stock_basic", lambda m: stock_basic(m.state)),
    Dataset("namechange", lambda m: name_history(m.state)),
    Dataset("stk_limit", lambda m: stk_limit(m.state)),
    Dataset("suspend_d", lambda m: suspend_d(m.state)),
    Dataset("moneyflow", lambda m: moneyflow(m.state)),
)
