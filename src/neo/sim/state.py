"""The state every generator module of the simulated market shares: range, seed, trade days, the
universe, keyed random draws and a build-once cache, plus the Frame helpers.

Generator modules (``universe``, ``bars``, ``statements``, ``tradability``...) are plain functions of
a ``State``; ``neo.sim.market.Market`` is the facade that owns one and serves their frames through
``neo.sim.registry``. See the module docstring of ``neo.sim.market`` for the Frame conventions and
the determinism rules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from neo.datasets.spec import api_schemas
from neo.protocol.rules import RULES, ApiRule
from neo.sim import calendar as cal

__all__ = [
    "NEVER",
    "Dataset",
    "Frame",
    "Generated",
    "State",
    "Universe",
    "api_fields",
    "dates",
    "empty",
    "obj",
    "readonly",
    "salt",
]

Frame = dict[str, np.ndarray]

NEVER = 10**9  # ordinal standing for "not delisted"


def api_fields(api: str) -> list[tuple[str, str]]:
    """(name, type) of every field of ``api`` in fields.json order; type is 'str', 'float' or 'int'."""
    return [(f["name"], f["type"]) for f in api_schemas()[api]["fields"]]


def salt(name: str) -> int:
    # crc32, not hash(): str hashes are randomised per process.
    return zlib.crc32(name.encode("utf-8"))


def readonly(frame: Frame) -> Frame:
    for arr in frame.values():
        arr.flags.writeable = False
    return frame


def obj(values: Sequence[str | None] | np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def empty(api: str) -> Frame:
    """Every column of ``api``, zero rows."""
    kinds = {"str": object, "int": np.int64}
    return readonly({f: np.empty(0, dtype=kinds.get(t, np.float64)) for f, t in api_fields(api)})


def dates(ords: np.ndarray) -> np.ndarray:
    """Ordinals to 'YYYYMMDD' object array, sharing one str per distinct date."""
    if len(ords) == 0:
        return np.empty(0, dtype=object)
    uniq, inv = np.unique(ords, return_inverse=True)
    return obj([cal.ymd(dt.date.fromordinal(int(o))) for o in uniq])[inv]


@dataclasses.dataclass(frozen=True)
class Generated:
    """The answer to one query of an on-demand API, not yet generated: how many rows it holds and
    ``rows(lo, hi)``, which generates rows [lo, hi) of it in answer order (newest first), so that
    a page costs its own rows only."""

    total: int
    rows: Callable[[int, int], Frame]


class MarketView(Protocol):
    """What a generator reads of the market it builds a frame for (`neo.sim.market.Market`). The
    generator modules name it by this protocol: market.py imports them (through registry.py), so
    importing it back would close a circle."""

    stocks: int
    start: dt.date
    end: dt.date
    seed: int
    state: State
    minute_options: Any  # minutes.MinuteOptions (minutes.py reads it)

    def frame(self, api: str) -> Frame: ...
    def statement(self, api: str, period: str) -> Frame: ...
    def periods(self) -> list[str]: ...

    @property
    def trade_days(self) -> list[dt.date]: ...


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One API a generator module serves, as ``neo.sim.registry`` lists it: how to build its frame.

    ``build(market)`` returns the whole frame (built lazily, cached by the Market); for a
    per-period API (its protocol rule says ``per_period``) it is ``build(market, period_end)`` for
    one quarter end in range, and the Market answers other period strings with an empty frame,
    like Tushare; for an on-demand API (``on_demand``: a whole frame would be too big to hold,
    e.g. minute bars) it is ``build(market, query) -> Generated`` for one ``neo.protocol.Query``,
    and nothing is cached. How the API reads its params (range column, defaults, required params,
    aliases) is the protocol's business: ``neo.protocol.rules``, shared with ``neo serve``.
    """

    api: str
    build: Callable[..., Frame | Generated]
    eager: bool = False  # built when `neo sim serve` starts, so that the first calls are quick
    on_demand: bool = False

    @property
    def rule(self) -> ApiRule:
        rule = RULES.get(self.api)
        if rule is None:
            raise LookupError(f"no protocol rule for {self.api!r} (neo.protocol.rules)")
        return rule

    @property
    def per_period(self) -> bool:
        return self.rule.per_period

    @property
    def range_column(self) -> str | None:
        return self.rule.range_column


@dataclasses.dataclass
class Universe:
    codes: np.ndarray  # object array of ts_code, sorted
    board: np.ndarray  # int index into universe.BOARDS
    list_ord: np.ndarray  # int64 ordinal of list_date
    delist_ord: np.ndarray  # int64 ordinal, or NEVER when not delisted
    status: np.ndarray  # object: 'L' / 'D' / 'P'
    list_idx: np.ndarray  # first open-day index (into State.days) with a bar possible
    end_idx: np.ndarray  # one past the last open-day index with a row
    ipo: np.ndarray  # bool: listed inside the range
    pause_idx: np.ndarray  # suspended from this index to the end (T when never)
    basic: Frame  # stock_basic frame (names before any ST prefix)
    # per-stock economics
    price0: np.ndarray  # close before start, or the issue price for IPOs
    adj_base: np.ndarray
    shares: np.ndarray  # total_share, 万股
    float_ratio: np.ndarray
    free_ratio: np.ndarray
    comp_type: np.ndarray  # object '1'..'4'


class State:
    """Range, seed and trade days of one market, its universe, keyed rngs and a build-once cache."""

    u: Universe  # set by the owner (Market) right after construction: building it needs this State

    def __init__(self, stocks: int, start: dt.date, end: dt.date, seed: int) -> None:
        self.stocks = stocks
        self.start = start
        self.end = end
        self.seed = seed
        # SeedSequence wants non-negative entropy.
        self._seed = seed % (1 << 64)
        self.days: list[dt.date] = cal.open_days(start, end)
        self.ords = np.array([d.toordinal() for d in self.days], dtype=np.int64)
        self.day_str = obj([cal.ymd(d) for d in self.days])
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._cache: dict[str, Any] = {}

    def rng(self, *salt: int) -> np.random.Generator:
        """The generator for the draw that ``salt`` names (never shared between two draws)."""
        return np.random.default_rng((self._seed, *salt))

    def once(self, key: str, build: Callable[[], Any]) -> Any:
        """Compute ``build()`` once per key; concurrent callers of the same key wait for it."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            value = build()
            with self._lock:
                self._cache[key] = value
            return value
