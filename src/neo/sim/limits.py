"""Price limits and ST status of the simulated market: the one limit-ratio rule that both the bars
and ``stk_limit`` use, the IPO days free of limits, and the ST / *ST spells behind ``namechange``.

Rules (NOTES.md "Research datasets", stk_limit and namechange):

- Ratio: main board 10%, ST/*ST 5% until 2026-07-06 then 10%; ChiNext 10% (ST 5%) before
  2020-08-24, 20% from then on (ST too); STAR 20% (ST too); BSE 30% (ST too).
- Limit price: round half up of pre_close x (1 +/- ratio) to 0.01, computed in integer cents so
  that no float rounding can move it; when that equals pre_close the limit is pre_close +/- one tick.
- No limit on IPO days: the first 5 trading days of STAR IPOs, ChiNext IPOs from 2020-08-24 and
  main-board IPOs from 2023-04-10; otherwise the listing day only (BSE always). The bars never
  suspend a stock on those days, so "first k trading days" is "first k open days".
- ST spells: after each annual report season (late April) a stock not already ST may turn ST,
  much more often after a loss year (``universe.annual``): 16% of loss-makers (*ST 70% of them),
  0.5% of the others (plain ST); a spell lasts 150-900 calendar days, starts and ends on open days,
  and starts at least a year after listing. Spells may begin before ``start`` (a stock already ST
  on the first day) and may run past ``end``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from neo.sim import calendar as cal
from neo.sim.state import State, salt
from neo.sim.universe import BOARDS, annual

__all__ = ["BSE", "CHINEXT", "MAIN", "STAR", "Spells", "board_kind", "free_days", "limit_cents", "limit_pct"]

MAIN, STAR, CHINEXT, BSE = 0, 1, 2, 3
_KIND = {"主板": MAIN, "科创板": STAR, "创业板": CHINEXT, "北交所": BSE}

_CHINEXT_REFORM = dt.date(2020, 8, 24).toordinal()
_MAIN_ST_10 = dt.date(2026, 7, 6).toordinal()
_STAR_OPEN = dt.date(2019, 7, 22).toordinal()
_MAIN_REGISTRATION = dt.date(2023, 4, 10).toordinal()


def board_kind(s: State) -> np.ndarray:
    """MAIN / STAR / CHINEXT / BSE per stock."""
    return np.array([_KIND[BOARDS[b].market] for b in s.u.board], dtype=np.int8)


def limit_pct(kind: np.ndarray, ords: np.ndarray, st: np.ndarray) -> np.ndarray:
    """The daily limit in whole percent for board ``kind`` on day ordinal ``ords`` with ST flag
    ``st`` (arrays broadcast together). The one place the ratio rule lives."""
    kind, ords, st = np.broadcast_arrays(kind, ords, st)
    main_st = st & (ords < _MAIN_ST_10)
    chinext = np.where(ords >= _CHINEXT_REFORM, 20, np.where(st, 5, 10))
    return np.select(
        [kind == MAIN, kind == STAR, kind == CHINEXT],
        [np.where(main_st, 5, 10), 20, chinext],
        default=30,
    ).astype(np.int64)


def limit_cents(pre_cents: np.ndarray, pct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(up, down) limit prices in cents: round half up of pre x (100 +/- pct) / 100, at least one
    tick away from pre_close. Integer arithmetic, so exact."""
    pre = np.asarray(pre_cents, dtype=np.int64)
    up = (pre * (100 + pct) + 50) // 100
    down = (pre * (100 - pct) + 50) // 100
    return np.maximum(up, pre + 1), np.maximum(np.minimum(down, pre - 1), 0)


def free_days(s: State) -> np.ndarray:
    """Bool (stocks x open days): IPO days without a price limit."""
    u = s.u
    T = len(s.days)
    kind = board_kind(s)
    lo = u.list_ord
    five = (
        (kind == STAR)
        | ((kind == CHINEXT) & (lo >= _CHINEXT_REFORM))
        | ((kind == MAIN) & (lo >= _MAIN_REGISTRATION))
    )
    span = np.where(five, 5, 1)
    tt = np.arange(T)
    out = (tt[None, :] >= u.list_idx[:, None]) & (tt[None, :] < (u.list_idx + span)[:, None])
    out &= u.ipo[:, None]  # pre-listed stocks have list_idx 0 but were listed long before
    return out


@dataclasses.dataclass(frozen=True)
class Spells:
    """ST spells, one entry per spell: stock index, first ST day, first day back (ordinals), kind."""

    stock: np.ndarray  # int64
    start: np.ndarray  # int64 ordinal of an open day
    stop: np.ndarray  # int64 ordinal of an open day (may lie after end)
    star: np.ndarray  # bool: '*ST' rather than 'ST'

    def matrix(self, s: State) -> np.ndarray:
        """Bool (stocks x open days): ST on that day."""
        out = np.zeros((s.stocks, len(s.days) + 1), dtype=np.int16)
        a = np.searchsorted(s.ords, self.start)
        b = np.searchsorted(s.ords, self.stop)
        np.add.at(out, (self.stock, a), 1)
        np.add.at(out, (self.stock, b), -1)
        return np.cumsum(out[:, :-1], axis=1) > 0


def spells(s: State) -> Spells:
    def build() -> Spells:
        u = s.u
        n = s.stocks
        first_year = min(s.start.year - 2, s.end.year)
        stock: list[int] = []
        start: list[int] = []
        stop: list[int] = []
        star: list[bool] = []
        free_from = u.list_ord + 365  # no ST in the first year after listing
        for year in range(first_year, s.end.year + 1):
            rng = s.rng(salt("st-spells"), year % (1 << 32))
            day = rng.integers(0, 12, size=n)  # ST decisions follow the annual reports
            draw = rng.random(n)
            kind = rng.random(n)
            length = rng.integers(150, 901, size=n)
            loss = annual(s, year - 1)["n_income"] < 0
            p = np.where(loss, 0.16, 0.005)
            base = dt.date(year, 4, 22).toordinal()
            for i in np.flatnonzero(draw < p).tolist():
                d0 = cal.next_open_day(dt.date.fromordinal(base + int(day[i])), inclusive=True).toordinal()
                if d0 < free_from[i] or d0 > s.end.toordinal() or d0 >= u.delist_ord[i]:
                    continue
                d1 = cal.next_open_day(dt.date.fromordinal(d0 + int(length[i])), inclusive=True).toordinal()
                stock.append(i)
                start.append(d0)
                stop.append(d1)
                star.append(bool(loss[i] and kind[i] < 0.7))
                free_from[i] = d1 + 1  # no overlapping spells
        order = np.lexsort((np.array(start, dtype=np.int64), np.array(stock, dtype=np.int64)))
        return Spells(
            stock=np.array(stock, dtype=np.int64)[order],
            start=np.array(start, dtype=np.int64)[order],
            stop=np.array(stop, dtype=np.int64)[order],
            star=np.array(star, dtype=bool)[order],
        )

    table: Spells = s.once("st-spells", build)
    return table


def st_matrix(s: State) -> np.ndarray:
    """Bool (stocks x open days): the stock is ST or *ST that day (cached)."""
    table: np.ndarray = s.once("st-matrix", lambda: spells(s).matrix(s))
    return table
