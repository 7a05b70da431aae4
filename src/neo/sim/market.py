"""Deterministic synthetic A-share market for the offline Tushare simulator.

``Market(stocks, start, end, seed)`` builds, lazily and once, column frames for the market APIs
(``stock_basic``, ``trade_cal``, ``daily``, ``adj_factor``, ``daily_basic``, ``weekly``, ``monthly``)
and, per report period, for the statement APIs (``income``, ``balancesheet``, ``cashflow``,
``fina_indicator``; a ``_vip`` suffix is accepted and ignored).

Frame conventions (the HTTP layer relies on them):

- ``Frame = dict[str, np.ndarray]``: every field fields.json lists for the API, named exactly so,
  all of one length. Float fields are float64 with NaN for missing; str and date fields are object
  arrays of Python ``str`` or ``None``; dates are 'YYYYMMDD'.
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
- Prices: an hfq (back-adjusted) log random walk with a market factor, daily sd about 2.5%, mild
  mean reversion, each day's return clipped to the board's price limit (10%, 20% for 688/300, 30%
  for BSE; IPO days are free of limits on the growth boards, +44% on main boards). Raw prices are
  hfq / adj_factor rounded to 0.01, so pre_close on ex-dividend days is the ex-rights price
  ``round(close_prev * adj_prev / adj_today, 2)`` and equals the previous close on other days.
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

import dataclasses
import datetime as dt
import math
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from neo.datasets.spec import api_fields as shipped_fields
from neo.sim import calendar as cal

__all__ = ["FRAME_APIS", "STATEMENT_APIS", "Frame", "Market", "api_fields"]

Frame = dict[str, np.ndarray]

FRAME_APIS: tuple[str, ...] = (
    "stock_basic",
    "trade_cal",
    "daily",
    "adj_factor",
    "daily_basic",
    "weekly",
    "monthly",
)
STATEMENT_APIS: tuple[str, ...] = ("income", "balancesheet", "cashflow", "fina_indicator")


def api_fields(api: str) -> list[tuple[str, str]]:
    """(name, type) of every field of ``api`` in fields.json order; type is 'str' or 'float'."""
    return [(f["name"], f["type"]) for f in shipped_fields()[api]["fields"]]


def _salt(name: str) -> int:
    # crc32, not hash(): str hashes are randomised per process.
    return zlib.crc32(name.encode("utf-8"))


def _readonly(frame: Frame) -> Frame:
    for arr in frame.values():
        arr.flags.writeable = False
    return frame


def _obj(values: Sequence[str | None] | np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _r(x: np.ndarray, nd: int) -> np.ndarray:
    return np.round(x, nd)


# --------------------------------------------------------------------------------------------------
# Static vocabulary for the universe
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Board:
    prefix: str
    ranges: tuple[tuple[int, int], ...]  # inclusive number ranges for the 6-digit symbol
    suffix: str
    exchange: str
    market: str
    weight: float
    limit: float
    first_list: dt.date  # earliest plausible list date for pre-listed stocks

    @property
    def capacity(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)

    @property
    def growth(self) -> bool:
        return self.market != "主板"


_BOARDS: tuple[_Board, ...] = (
    _Board("600", ((600000, 600999),), "SH", "SSE", "主板", 0.14, 0.10, dt.date(1994, 1, 1)),
    _Board("601", ((601000, 601999),), "SH", "SSE", "主板", 0.06, 0.10, dt.date(2006, 6, 1)),
    _Board("603", ((603000, 603999),), "SH", "SSE", "主板", 0.10, 0.10, dt.date(2011, 6, 1)),
    _Board("688", ((688000, 688999),), "SH", "SSE", "科创板", 0.11, 0.20, dt.date(2019, 7, 22)),
    _Board("000", ((1, 999),), "SZ", "SZSE", "主板", 0.09, 0.10, dt.date(1993, 1, 1)),
    _Board("001", ((1201, 1999),), "SZ", "SZSE", "主板", 0.03, 0.10, dt.date(2016, 1, 4)),
    _Board("002", ((2001, 2999),), "SZ", "SZSE", "主板", 0.17, 0.10, dt.date(2004, 6, 25)),
    _Board("300", ((300001, 300999),), "SZ", "SZSE", "创业板", 0.18, 0.20, dt.date(2009, 10, 30)),
    _Board(
        "8", ((830000, 839999), (870000, 873999)), "BJ", "BSE", "北交所", 0.03, 0.30, dt.date(2021, 11, 15)
    ),
    _Board("920", ((920000, 920999),), "BJ", "BSE", "北交所", 0.012, 0.30, dt.date(2021, 11, 15)),
)


def _rows(text: str, sep: str | None = None) -> list[list[str]]:
    """Split a whitespace-indented table literal into rows of cells."""
    return [line.split(sep) for line in text.strip().splitlines()]


def _suffixes(text: str) -> tuple[tuple[str, str, str], ...]:
    out = []
    for item in text.split(";"):
        zh, py, en = item.strip().split(":")
        out.append((zh, py, en))
    return tuple(out)


# (chinese, pinyin) pieces for names; cnspell takes the initials. The duplicate 华 is intended:
# it weights a very common name character.
_HEADS: tuple[tuple[str, str], ...] = tuple(
    (c, p)
    for row in _rows(
        """
        华 hua 中 zhong 国 guo 金 jin 新 xin 东 dong 海 hai 天 tian 长 chang 宏 hong 恒 heng
        信 xin 达 da 通 tong 泰 tai 安 an 明 ming 星 xing 光 guang 荣 rong 盛 sheng 瑞 rui
        鑫 xin 永 yong 兴 xing 汇 hui 联 lian 创 chuang 力 li 德 de 美 mei 嘉 jia 博 bo
        凯 kai 亚 ya 宇 yu 远 yuan 佳 jia 富 fu 龙 long 江 jiang 南 nan 北 bei 西 xi 合 he
        正 zheng 和 he 利 li 丰 feng 晨 chen 航 hang 飞 fei 腾 teng 万 wan 普 pu 康 kang
        宁 ning 祥 xiang 振 zhen 华 hua 立 li 云 yun 峰 feng 川 chuan 益 yi 辰 chen 锦 jin
        """
    )
    for c, p in zip(row[::2], row[1::2], strict=True)
)

# industry | weight | comp_type | name suffixes as chinese:pinyin initials:english, ';'-separated
_INDUSTRIES: tuple[tuple[str, float, str, tuple[tuple[str, str, str], ...]], ...] = tuple(
    (ind.strip(), float(w), ct.strip(), _suffixes(sfx))
    for ind, w, ct, sfx in _rows(
        """
        银行|0.02|2|银行:yh:Bank
        证券|0.02|4|证券:zq:Securities
        保险|0.01|3|人寿:rs:Life Insurance;保险:bx:Insurance
        软件服务|0.08|1|软件:rj:Software;信息:xx:Information;数据:sj:Data
        元器件|0.07|1|电子:dz:Electronics;光电:gd:Optoelectronics
        半导体|0.05|1|微电:wd:Microelectronics;芯片:xp:Chip
        通信设备|0.04|1|通信:tx:Communication;网络:wl:Network
        电气设备|0.07|1|电气:dq:Electric;电力:dl:Power
        专用机械|0.07|1|机械:jx:Machinery;重工:zg:Heavy Industry
        汽车配件|0.05|1|汽车:qc:Automotive;汽配:qp:Auto Parts
        化工原料|0.07|1|化工:hg:Chemical;材料:cl:Materials
        化学制药|0.05|1|医药:yy:Pharmaceutical;药业:yy:Pharmaceutical
        生物制药|0.03|1|生物:sw:Biotech
        医疗保健|0.04|1|医疗:yl:Medical;健康:jk:Health
        食品|0.04|1|食品:sp:Food
        白酒|0.01|1|酒业:jy:Liquor
        建筑工程|0.03|1|建设:js:Construction;建工:jg:Engineering
        全国地产|0.03|1|地产:dc:Real Estate;置业:zy:Property
        新型电力|0.03|1|能源:ny:Energy;新能:xn:New Energy
        小金属|0.02|1|矿业:ky:Mining;资源:zy:Resources
        环境保护|0.03|1|环境:hj:Environment;环保:hb:Environmental
        文教休闲|0.02|1|文化:wh:Culture;传媒:cm:Media
        家用电器|0.02|1|电器:dq:Appliance
        IT设备|0.03|1|科技:kj:Technology;智能:zn:Intelligent
        仓储物流|0.02|1|物流:wl:Logistics
        纺织|0.02|1|纺织:fz:Textile
        农业综合|0.02|1|农业:ny:Agriculture;种业:zy:Seed
        综合类|0.02|1|股份:gf:Holdings;控股:kg:Holdings;实业:sy:Industrial
        """,
        "|",
    )
)

# area, pinyin, weight, administrative kind (for the local SASAC's name)
_AREAS: tuple[tuple[str, str, float, str], ...] = tuple(
    (a, p, float(w), k)
    for a, p, w, k in _rows(
        """
        广东 Guangdong 0.10 省
        深圳 Shenzhen 0.08 市
        浙江 Zhejiang 0.13 省
        江苏 Jiangsu 0.12 省
        北京 Beijing 0.09 市
        上海 Shanghai 0.08 市
        山东 Shandong 0.06 省
        福建 Fujian 0.04 省
        四川 Sichuan 0.03 省
        湖北 Hubei 0.03 省
        安徽 Anhui 0.04 省
        湖南 Hunan 0.03 省
        河南 Henan 0.02 省
        河北 Hebei 0.02 省
        辽宁 Liaoning 0.02 省
        陕西 Shaanxi 0.02 省
        重庆 Chongqing 0.02 市
        天津 Tianjin 0.02 市
        江西 Jiangxi 0.02 省
        云南 Yunnan 0.01 省
        吉林 Jilin 0.01 省
        新疆 Xinjiang 0.01 自治区
        广西 Guangxi 0.01 自治区
        黑龙江 Heilongjiang 0.01 省
        """
    )
)

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘蒋蔡余杜叶程"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌玉兰飞波宁峰鹏辉"

# act_ent_type and its weight
_ENT_TYPES: tuple[tuple[str | None, float], ...] = (
    ("民营企业", 0.55),
    ("地方国企", 0.18),
    ("中央国企", 0.09),
    ("外资企业", 0.03),
    ("集体企业", 0.01),
    ("公众企业", 0.05),
    ("其他企业", 0.03),
    (None, 0.06),
)


# --------------------------------------------------------------------------------------------------
# Universe
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Universe:
    codes: np.ndarray  # object array of ts_code, sorted
    board: np.ndarray  # int index into _BOARDS
    list_ord: np.ndarray  # int64 ordinal of list_date
    delist_ord: np.ndarray  # int64 ordinal, or a huge value when not delisted
    status: np.ndarray  # object: 'L' / 'D' / 'P'
    list_idx: np.ndarray  # first open-day index (into Market days) with a bar possible
    end_idx: np.ndarray  # one past the last open-day index with a row
    ipo: np.ndarray  # bool: listed inside the range
    pause_idx: np.ndarray  # suspended from this index to the end (T when never)
    basic: Frame  # stock_basic frame
    # per-stock economics
    price0: np.ndarray  # close before start, or the issue price for IPOs
    adj_base: np.ndarray
    shares: np.ndarray  # total_share, 万股
    float_ratio: np.ndarray
    free_ratio: np.ndarray
    comp_type: np.ndarray  # object '1'..'4'


_NEVER = 10**9  # ordinal standing for "not delisted"


class Market:
    """A synthetic, reproducible A-share market; see the module docstring."""

    def __init__(
        self,
        stocks: int = 50,
        start: dt.date = dt.date(2023, 1, 1),
        end: dt.date = dt.date(2024, 12, 31),
        seed: int = 42,
    ) -> None:
        if stocks < 1:
            raise ValueError("stocks must be >= 1")
        if end < start:
            raise ValueError("end must not be before start")
        capacity = sum(b.capacity for b in _BOARDS)
        if stocks > capacity:
            raise ValueError(f"at most {capacity} stocks")
        self.stocks = stocks
        self.start = start
        self.end = end
        self.seed = seed
        # SeedSequence wants non-negative entropy.
        self._seed = seed % (1 << 64)
        self._days: list[dt.date] = cal.open_days(start, end)
        self._ords = np.array([d.toordinal() for d in self._days], dtype=np.int64)
        self._day_str = _obj([cal.ymd(d) for d in self._days])
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._cache: dict[str, Any] = {}
        self._stmt_lock = threading.Lock()
        self._stmt_cache: OrderedDict[tuple[str, str], Frame] = OrderedDict()
        self._stmt_cache_size = 32
        self._u = self._build_universe()
        self.ts_codes: list[str] = list(self._u.codes)

    # ---------------------------------------------------------------------------------- plumbing

    def _rng(self, *salt: int) -> np.random.Generator:
        return np.random.default_rng((self._seed, *salt))

    def _once(self, key: str, build: Callable[[], Any]) -> Any:
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

    # ---------------------------------------------------------------------------------- public API

    def frame(self, api: str) -> Frame:
        """The whole table of a market API (see FRAME_APIS) as a read-only frame."""
        builders: dict[str, Callable[[], Frame]] = {
            "stock_basic": lambda: self._u.basic,
            "trade_cal": self._build_trade_cal,
            "daily": lambda: self._bars()["daily"],
            "adj_factor": lambda: self._bars()["adj_factor"],
            "daily_basic": lambda: self._bars()["daily_basic"],
            "weekly": lambda: self._period_bars("weekly"),
            "monthly": lambda: self._period_bars("monthly"),
        }
        from neo.sim import corporate  # lazily: corporate.py uses this module (no import cycle)

        if api in corporate.CORPORATE_APIS:
            builders[api] = lambda: corporate.build(self, api)
        if api not in builders:
            raise ValueError(f"unknown market api {api!r}")
        return dict(self._once("frame:" + api, builders[api]))

    def statement(self, api: str, period: str) -> Frame:
        """All rows of a statement API for one report period ('YYYYMMDD' quarter end).

        Like Tushare, a period with no data (not in ``periods()``, not a quarter end, not even a
        date) gives an empty frame with every column rather than an error.
        """
        api = api.removesuffix("_vip")
        if api not in STATEMENT_APIS:
            raise ValueError(f"unknown statement api {api!r}")
        pe = _parse_period(period)
        if pe is None or pe not in self._quarter_ends():
            return _empty(api)
        key = (api, period)
        with self._stmt_lock:
            hit = self._stmt_cache.get(key)
            if hit is not None:
                self._stmt_cache.move_to_end(key)
                return dict(hit)
            # Computed under the lock: each costs well under 0.1 s, and a single lock keeps the
            # LRU simple and stops two threads from building the same period twice.
            built = _readonly(self._build_statement(api, pe))
            self._stmt_cache[key] = built
            while len(self._stmt_cache) > self._stmt_cache_size:
                self._stmt_cache.popitem(last=False)
            return dict(built)

    def periods(self) -> list[str]:
        """Quarter ends (ascending 'YYYYMMDD') whose statement frames are non-empty."""
        return list(self._once("periods", self._build_periods))

    @property
    def trade_days(self) -> list[dt.date]:
        """Open days in ``[start, end]``."""
        return list(self._days)

    # ---------------------------------------------------------------------------------- universe

    def _build_universe(self) -> _Universe:
        n = self.stocks
        rng = self._rng(_salt("universe"))
        weights = np.array([b.weight for b in _BOARDS])
        counts = _allocate(n, weights / weights.sum(), np.array([b.capacity for b in _BOARDS]))
        nums: list[np.ndarray] = []
        boards: list[np.ndarray] = []
        for bi, (board, k) in enumerate(zip(_BOARDS, counts, strict=True)):
            if k == 0:
                continue
            pool = np.concatenate([np.arange(lo, hi + 1) for lo, hi in board.ranges])
            nums.append(pool[rng.choice(len(pool), size=k, replace=False)])
            boards.append(np.full(k, bi))
        num = np.concatenate(nums)
        board = np.concatenate(boards)
        symbols = [f"{x:06d}" for x in num]
        codes = [f"{s}.{_BOARDS[b].suffix}" for s, b in zip(symbols, board, strict=True)]
        order = sorted(range(n), key=codes.__getitem__)
        codes = [codes[i] for i in order]
        symbols = [symbols[i] for i in order]
        board = board[order]

        rng = self._rng(_salt("attributes"))
        T = len(self._days)
        start_ord = self.start.toordinal()

        # Disjoint roles: IPO inside the range, delisted inside it, paused at the end.
        n_ipo = round(0.08 * n) if T >= 5 else 0
        n_del = (max(1, round(0.05 * n)) if n >= 10 else round(0.05 * n)) if T >= 10 else 0
        n_pause = (max(2, round(0.004 * n)) if n >= 20 else 0) if T >= 10 else 0
        perm = rng.permutation(n)
        ipo = np.zeros(n, dtype=bool)
        ipo[perm[:n_ipo]] = True
        delisted = np.zeros(n, dtype=bool)
        delisted[perm[n_ipo : n_ipo + n_del]] = True
        paused = np.zeros(n, dtype=bool)
        paused[perm[n_ipo + n_del : n_ipo + n_del + n_pause]] = True

        # List dates: pre-listed ones between the board's opening and shortly before start.
        u_list = rng.random(n)
        list_ord = np.empty(n, dtype=np.int64)
        for i in range(n):
            b = _BOARDS[board[i]]
            hi = start_ord - 15
            lo = min(b.first_list.toordinal(), hi - 400)
            d = dt.date.fromordinal(lo + int(u_list[i] * (hi - lo)))
            list_ord[i] = (d if cal.is_open(d) else cal.prev_open_day(d)).toordinal()
        ipo_idx = rng.integers(1, max(T - 3, 2), size=n)
        if n_ipo:
            list_ord[ipo] = self._ords[ipo_idx[ipo]]
        list_idx = np.searchsorted(self._ords, list_ord).astype(np.int64)

        end_idx = np.full(n, T, dtype=np.int64)
        delist_ord = np.full(n, _NEVER, dtype=np.int64)
        del_idx = rng.integers(min(5, max(T - 1, 0)), max(T, 1), size=n)
        if n_del:
            end_idx[delisted] = del_idx[delisted]
            delist_ord[delisted] = self._ords[del_idx[delisted]]
        pause_idx = np.full(n, T, dtype=np.int64)
        p_idx = rng.integers(T // 2, max(T - 2, T // 2 + 1), size=n)
        pause_idx[paused] = p_idx[paused]
        status = _obj(["D" if d else "P" if p else "L" for d, p in zip(delisted, paused, strict=True)])

        # Economics.
        price0 = np.exp(rng.uniform(math.log(3.0), math.log(80.0), size=n))
        issue = np.exp(rng.uniform(math.log(5.0), math.log(60.0), size=n))
        price0 = np.where(ipo, issue, price0)
        age_years = np.maximum(start_ord - list_ord, 0) / 365.25
        adj_base = np.where(
            age_years < 1.0,
            1.0,
            np.exp(rng.uniform(0.0, math.log(20.0), size=n) * np.minimum(age_years / 15.0, 1.0)),
        )
        adj_base = np.maximum(np.round(adj_base, 3), 1.0)
        shares = np.exp(rng.normal(math.log(4e4), 1.0, size=n)).clip(2e3, 3e6)  # 万股
        float_ratio = np.where(ipo, rng.uniform(0.15, 0.35, size=n), rng.uniform(0.4, 1.0, size=n))
        free_ratio = rng.uniform(0.45, 1.0, size=n)

        # Descriptive columns.
        ind_w = np.array([w for _, w, _, _ in _INDUSTRIES])
        industry = rng.choice(len(_INDUSTRIES), size=n, p=ind_w / ind_w.sum())
        financial = np.array([_INDUSTRIES[k][2] != "1" for k in industry])
        growth = np.array([_BOARDS[b].growth for b in board])
        # Banks, brokers and insurers list on the main boards only.
        redraw = rng.choice(np.arange(3, len(_INDUSTRIES)), size=n, p=ind_w[3:] / ind_w[3:].sum())
        industry = np.where(financial & growth, redraw, industry)
        comp_type = _obj([_INDUSTRIES[k][2] for k in industry])
        area_w = np.array([w for _, _, w, _ in _AREAS])
        area = rng.choice(len(_AREAS), size=n, p=area_w / area_w.sum())
        head_len = rng.choice(3, size=n, p=[0.12, 0.33, 0.55])  # 0: two heads, no suffix
        heads = rng.integers(0, len(_HEADS), size=(n, 2))
        suffix_pick = rng.integers(0, 1 << 30, size=n)
        hs_draw = rng.random(n)
        ent_w = np.array([w for _, w in _ENT_TYPES])
        ent = rng.choice(len(_ENT_TYPES), size=n, p=ent_w / ent_w.sum())
        person = rng.integers(0, 1 << 30, size=(n, 3))

        cols: dict[str, list[str | None]] = {f: [] for f, _ in api_fields("stock_basic")}
        used_names: set[str] = set()
        for i in range(n):
            b = _BOARDS[board[i]]
            ind_name, _, _, suffixes = _INDUSTRIES[industry[i]]
            sfx = suffixes[suffix_pick[i] % len(suffixes)]
            # Real names are unique: on a clash walk deterministically through other head pairs.
            for attempt in range(len(_HEADS) * 3):
                kind_i = (head_len[i] + attempt // len(_HEADS)) % 3
                h1 = (heads[i, 1] + attempt) % len(_HEADS)
                name, spell, roman, sfx_en_full = _make_name(_HEADS[heads[i, 0]], _HEADS[h1], kind_i, sfx)
                if name not in used_names:
                    break
            used_names.add(name)
            area_zh, area_py, _, kind = _AREAS[area[i]]
            # Financial firms drop the province: 北海银行股份有限公司, not 广东北海银行...
            fullname = f"{name}股份有限公司" if financial[i] else f"{area_zh}{name}股份有限公司"
            enname = f"{area_py} {roman.capitalize()}{sfx_en_full} Co., Ltd."
            if b.exchange == "SSE":
                is_hs = "H" if hs_draw[i] < 0.45 and not ipo[i] else "N"
            elif b.exchange == "SZSE":
                is_hs = "S" if hs_draw[i] < 0.45 and not ipo[i] else "N"
            else:
                is_hs = "N"
            ent_type = _ENT_TYPES[ent[i]][0]
            if ent_type is None:
                act_name = None
            elif ent_type == "中央国企":
                act_name = "国务院国有资产监督管理委员会"
            elif ent_type == "地方国企":
                act_name = f"{area_zh}{kind}人民政府国有资产监督管理委员会"
            elif ent_type == "公众企业":
                act_name = "无实际控制人"
            else:
                p = person[i]
                given = _GIVEN[p[1] % len(_GIVEN)] + (_GIVEN[p[2] % len(_GIVEN)] if p[2] % 3 else "")
                act_name = _SURNAMES[p[0] % len(_SURNAMES)] + given
            row: dict[str, str | None] = {
                "ts_code": codes[i],
                "symbol": symbols[i],
                "name": name,
                "area": area_zh,
                "industry": ind_name,
                "fullname": fullname,
                "enname": enname,
                "cnspell": spell,
                "market": b.market,
                "exchange": b.exchange,
                "curr_type": "CNY",
                "list_status": status[i],
                "list_date": cal.ymd(dt.date.fromordinal(int(list_ord[i]))),
                "delist_date": (cal.ymd(dt.date.fromordinal(int(delist_ord[i]))) if delisted[i] else None),
                "is_hs": is_hs,
                "act_name": act_name,
                "act_ent_type": ent_type,
            }
            for k, v in row.items():
                cols[k].append(v)
        basic = _readonly({k: _obj(v) for k, v in cols.items()})
        return _Universe(
            codes=_obj(codes),
            board=board,
            list_ord=list_ord,
            delist_ord=delist_ord,
            status=status,
            list_idx=list_idx,
            end_idx=end_idx,
            ipo=ipo,
            pause_idx=pause_idx,
            basic=basic,
            price0=price0,
            adj_base=adj_base,
            shares=shares,
            float_ratio=float_ratio,
            free_ratio=free_ratio,
            comp_type=comp_type,
        )

    # ---------------------------------------------------------------------------------- calendar

    def _build_trade_cal(self) -> Frame:
        # Like the real service, the calendar runs past "today" (end) to the end of its year:
        # exchanges publish their holidays in advance.
        last = dt.date(self.end.year, 12, 31)
        days = [dt.date.fromordinal(o) for o in range(self.start.toordinal(), last.toordinal() + 1)]
        cal_date: list[str] = []
        is_open: list[str] = []
        pretrade: list[str] = []
        prev = cal.prev_open_day(self.start)
        for d in days:
            cal_date.append(cal.ymd(d))
            pretrade.append(cal.ymd(prev))
            if cal.is_open(d):
                is_open.append("1")
                prev = d
            else:
                is_open.append("0")
        exchanges = ("SSE", "SZSE", "BSE")
        k = len(days)
        return _readonly(
            {
                "exchange": _obj([e for e in exchanges for _ in range(k)]),
                "cal_date": _obj(cal_date * len(exchanges)),
                "is_open": _obj(is_open * len(exchanges)),
                "pretrade_date": _obj(pretrade * len(exchanges)),
            }
        )

    # ---------------------------------------------------------------------------------- annual economics

    def _econ(self) -> dict[str, np.ndarray]:
        """Per-stock fundamentals that statements and daily_basic share (cheap, cached)."""

        def build() -> dict[str, np.ndarray]:
            u = self._u
            n = self.stocks
            rng = self._rng(_salt("economics"))
            ps0 = np.exp(rng.normal(math.log(3.0), 0.8, size=n))
            revenue0 = u.price0 * u.shares * 1e4 / ps0  # CNY, for the year before start
            bank = u.comp_type != "1"
            lev = np.where(bank, rng.uniform(0.85, 0.93, size=n), rng.uniform(0.2, 0.7, size=n))
            return {
                "revenue0": revenue0,
                "margin": rng.normal(0.08, 0.08, size=n),
                "growth": rng.normal(0.08, 0.15, size=n),
                "eq_ratio": np.exp(rng.normal(0.0, 0.5, size=n)) * np.where(bank, 0.5, 1.0),
                "lev": lev,
                "gross": rng.uniform(0.12, 0.65, size=n),
                "attr": rng.uniform(0.85, 1.0, size=n),
                "parent": rng.uniform(0.2, 0.9, size=n),
                "cur_assets": rng.uniform(0.3, 0.8, size=n),
                "cur_liab": rng.uniform(0.5, 0.95, size=n),
                "div_yield": rng.uniform(0.005, 0.05, size=n),
                "pays_div": rng.random(n) < 0.8,
                "turnover": np.exp(rng.normal(math.log(1.5), 0.7, size=n)).clip(0.1, 15.0),
                "sigma": rng.uniform(0.015, 0.028, size=n),
                "beta": rng.uniform(0.6, 1.4, size=n),
            }

        econ: dict[str, np.ndarray] = self._once("econ", build)
        return econ

    def _annual(self, year: int) -> dict[str, np.ndarray]:
        """Full-year revenue, net income and equity per stock (CNY) for ``year``."""
        e = self._econ()
        rng = self._rng(_salt("annual"), year % (1 << 32))
        n = self.stocks
        k = year - (self.start.year - 1)
        revenue = e["revenue0"] * np.exp(e["growth"] * k + rng.normal(0.0, 0.08, size=n))
        margin = e["margin"] + rng.normal(0.0, 0.03, size=n)
        equity = revenue * e["eq_ratio"] * np.exp(rng.normal(0.0, 0.05, size=n))
        return {"revenue": revenue, "n_income": revenue * margin, "equity": equity}

    # ---------------------------------------------------------------------------------- daily bars

    def _bars(self) -> dict[str, Any]:
        bars: dict[str, Any] = self._once("bars", self._build_bars)
        return bars

    def _build_bars(self) -> dict[str, Any]:
        u = self._u
        e = self._econ()
        n, T = self.stocks, len(self._days)
        tt = np.arange(T)
        alive = (tt[None, :] >= u.list_idx[:, None]) & (tt[None, :] < u.end_idx[:, None])

        # Suspension spells: ~1.5% of stock-days, spells of 1-10 days, never on an IPO day.
        rng = self._rng(_salt("suspend"))
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
        suspended &= ~ipo_day
        traded = alive & ~suspended
        del suspended

        # adj_factor: one ex-date per year in late May..July for most stocks.
        steps = np.ones((n, T))
        ipo_guard = np.where(u.ipo, u.list_idx + 40, -1)
        for year in range(self.start.year, self.end.year + 1):
            lo_t = int(np.searchsorted(self._ords, dt.date(year, 5, 20).toordinal()))
            hi_t = int(np.searchsorted(self._ords, dt.date(year, 7, 31).toordinal(), side="right"))
            yr = self._rng(_salt("dividends"), year % (1 << 32))
            pays = yr.random(n) < np.where(e["pays_div"], 0.9, 0.15)
            t_ex = yr.integers(lo_t, max(hi_t, lo_t + 1), size=n)
            yld = e["div_yield"] * yr.uniform(0.7, 1.3, size=n)
            ok = pays & (hi_t > lo_t) & (t_ex >= ipo_guard) & (t_ex >= u.list_idx) & (t_ex < u.end_idx)
            idx = np.flatnonzero(ok)
            steps[idx, t_ex[idx]] = 1.0 + yld[idx]
        adj = np.round(u.adj_base[:, None] * np.cumprod(steps, axis=1), 3)
        is_ex = steps > 1.0
        del steps

        # hfq log-price walk, time-major so that each step touches contiguous memory.
        rng = self._rng(_salt("walk"))
        board_lim = np.array([_BOARDS[b].limit for b in u.board])
        growth = np.array([_BOARDS[b].growth for b in u.board])
        up, dn = np.log1p(board_lim), np.log1p(-board_lim)
        pop = np.where(
            growth, np.log1p(rng.uniform(0.0, 1.5, size=n)), np.log1p(rng.uniform(0.15, 0.44, size=n))
        )
        L0 = np.log(u.price0 * u.adj_base)
        target = L0 + np.where(u.ipo, pop, 0.0)
        mkt = rng.normal(0.0003, 0.012, size=T)
        eps = rng.standard_normal((T, n))
        eps *= e["sigma"]
        eps += mkt[:, None] * e["beta"][None, :]
        traded_tm = np.ascontiguousarray(traded.T)
        ipo_tm = np.ascontiguousarray(ipo_day.T)
        kappa = 0.004
        L = L0.copy()
        Lmat = eps  # reused in place: row t becomes the log price after day t
        for t in range(T):
            r = np.clip(eps[t] - kappa * (L - target), dn, up)
            r = np.where(ipo_tm[t], pop, r)
            L += np.where(traded_tm[t], r, 0.0)
            Lmat[t] = L
        del traded_tm, ipo_tm

        # ---- flat rows: stock-major, time-ascending ----
        s_idx, t_idx = np.nonzero(traded)
        s_idx = s_idx.astype(np.int32)
        t_idx = t_idx.astype(np.int32)
        nrow = len(s_idx)
        adj_r = adj[s_idx, t_idx]
        close = np.maximum(np.round(np.exp(Lmat[t_idx, s_idx]) / adj_r, 2), 0.01)
        first = np.ones(nrow, dtype=bool)
        first[1:] = s_idx[1:] != s_idx[:-1]
        prev_close = np.empty(nrow)
        prev_adj = np.empty(nrow)
        prev_close[1:] = close[:-1]
        prev_adj[1:] = adj_r[:-1]
        fs = s_idx[first]
        prev_close[first] = np.round(u.price0[fs], 2)
        prev_adj[first] = u.adj_base[fs]
        pre_close = np.maximum(np.round(prev_close * prev_adj / adj_r, 2), 0.01)
        del prev_close, prev_adj
        change = np.round(close - pre_close, 2)
        pct_chg = np.round(change / pre_close * 100.0, 4)

        is_ipo_row = ipo_day[s_idx, t_idx]
        lim_up = np.where(is_ipo_row, np.where(growth[s_idx], 3.0, 0.44), board_lim[s_idx])
        lim_dn = np.where(is_ipo_row, np.where(growth[s_idx], 0.9, 0.36), board_lim[s_idx])
        hi_cap = pre_close * (1.0 + lim_up)
        lo_cap = pre_close * (1.0 - lim_dn)
        logret = np.log(close / pre_close)
        rng = self._rng(_salt("ohlc"))
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
        trade_date = self._day_str[t_idx]
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
        years = np.array([d.year for d in self._days], dtype=np.int64)
        y0 = self.start.year
        ann = {y: self._annual(y) for y in range(y0 - 1, self.end.year + 1)}
        yi = years[t_idx] - y0  # index of the trading year; year-1 is row yi of the stack below
        stack = {key: np.stack([ann[y][key] for y in range(y0 - 1, self.end.year + 1)]) for key in ann[y0]}
        doy = np.array([(d - dt.date(d.year, 1, 1)).days / 365.0 for d in self._days])[t_idx]
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
            dps_mat[ex_s, ex_t] = hfq_prev * (
                1.0 / adj[ex_s, np.maximum(ex_t - 1, 0)] - 1.0 / adj[ex_s, ex_t]
            )
        last_ex = np.where(is_ex, tt[None, :], -(10**6)).astype(np.int32)
        np.maximum.accumulate(last_ex, axis=1, out=last_ex)
        # Stocks that paid in the year before start carry that dividend into the range.
        prior_t = -self._rng(_salt("prior-dividend")).integers(60, 200, size=n)
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
            "trade_date": self._day_str[a_t],
            "adj_factor": adj[a_s, a_t],
        }
        return {
            "daily": _readonly(daily),
            "daily_basic": _readonly(daily_basic),
            "adj_factor": _readonly(adj_factor),
            "s_idx": s_idx,
            "t_idx": t_idx,
        }

    def _period_bars(self, kind: str) -> Frame:
        bars = self._bars()
        d = bars["daily"]
        s_idx: np.ndarray = bars["s_idx"]
        t_idx: np.ndarray = bars["t_idx"]
        if kind == "weekly":
            pid_of_day = np.array([(d0.toordinal() - 1) // 7 for d0 in self._days], dtype=np.int64)
        else:
            pid_of_day = np.array([d0.year * 12 + d0.month - 1 for d0 in self._days], dtype=np.int64)
        # The period's bar date is its last open day; the period holding `end` may run past it.
        last_day: dict[int, dt.date] = {}
        for d0, p in zip(self._days, pid_of_day.tolist(), strict=True):
            last_day[p] = d0
        if self._days:
            tail = self._days[-1]
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
            return _empty(kind)
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
            "trade_date": _obj([pid_str.get(p) for p in g_p.tolist()]),
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
        return _readonly({f: out[f][keep] for f, _ in api_fields(kind)})

    # ---------------------------------------------------------------------------------- statements

    def _quarter_ends(self) -> list[dt.date]:
        out = []
        for year in range(self.start.year, self.end.year + 1):
            for m, dd in ((3, 31), (6, 30), (9, 30), (12, 31)):
                q = dt.date(year, m, dd)
                if q < self.end:
                    out.append(q)
        return out

    def _snap_table(self) -> tuple[int, np.ndarray]:
        """(first ordinal, next-open-day ordinal for each day) from Jan 1 of start's year on."""

        def build() -> tuple[int, np.ndarray]:
            base = dt.date(self.start.year, 1, 1)
            last = self.end + dt.timedelta(days=30)
            opens = [d.toordinal() for d in cal.open_days(base, last)]
            opens.append(cal.next_open_day(last).toordinal())
            ords = np.arange(base.toordinal(), last.toordinal() + 1)
            return base.toordinal(), np.array(opens, dtype=np.int64)[np.searchsorted(opens, ords)]

        table: tuple[int, np.ndarray] = self._once("snap", build)
        return table

    def _snap(self, ords: np.ndarray) -> np.ndarray:
        # Days past end+30 are never kept (rows need ann_date <= end), so clipping them is harmless
        # as long as the clipped value still lands after end.
        base, table = self._snap_table()
        idx = np.clip(ords - base, 0, len(table) - 1)
        return np.where(ords - base >= len(table), ords, table[idx])

    def _announcements(self, pe: dt.date) -> dict[str, np.ndarray]:
        """Who reports period ``pe`` by ``end``, when, and which versions exist (shared by all APIs)."""
        n = self.stocks
        u = self._u
        q = (pe.month - 1) // 3 + 1
        pkey = pe.year * 10 + q
        lo, hi = {1: (20, 30), 2: (30, 60), 3: (20, 30), 4: (60, 110)}[q]
        rng = self._rng(_salt("announce"), pkey)
        ann = self._snap(pe.toordinal() + rng.integers(lo, hi + 1, size=n))
        end_ord = self.end.toordinal()
        present = (ann <= end_ord) & (u.list_ord <= ann) & (ann < u.delist_ord)
        parent = rng.random(n) < 0.3
        out = {"ann": ann, "present": present, "parent": parent}
        for rt in ("1", "6"):
            r = self._rng(_salt("restate"), pkey, int(rt))
            restate = self._snap(ann + r.integers(20, 401, size=n))
            ok = (r.random(n) < 0.1) & (restate <= end_ord) & (restate < u.delist_ord)
            out["restate" + rt] = np.where(ok, restate, -1)
        return out

    def _build_periods(self) -> list[str]:
        return [cal.ymd(pe) for pe in self._quarter_ends() if self._announcements(pe)["present"].any()]

    def _build_statement(self, api: str, pe: dt.date) -> Frame:
        u = self._u
        a = self._announcements(pe)
        stocks = np.flatnonzero(a["present"])
        # Row layout: (stock, report_type, version) where version 1 is a restatement.
        if api == "fina_indicator":
            types = [("1", stocks)]
        else:
            types = [("1", stocks), ("6", stocks[a["parent"][stocks]])]
        s_rows: list[np.ndarray] = []
        rt_rows: list[np.ndarray] = []
        ver_rows: list[np.ndarray] = []
        flag_rows: list[np.ndarray] = []
        fann_rows: list[np.ndarray] = []
        for rt, ss in types:
            rdate = a["restate" + rt][ss]
            restated = rdate >= 0
            s_rows += [ss, ss[restated]]
            rt_rows.append(np.full(len(ss) + int(restated.sum()), rt, dtype=object))
            ver_rows += [np.zeros(len(ss), dtype=np.int8), np.ones(int(restated.sum()), dtype=np.int8)]
            flag_rows += [
                np.where(restated, "0", "1").astype(object),
                np.full(int(restated.sum()), "1", dtype=object),
            ]
            fann_rows += [a["ann"][ss], rdate[restated]]
        s = np.concatenate(s_rows).astype(np.int64)
        rt_col = np.concatenate(rt_rows) if rt_rows else np.empty(0, dtype=object)
        ver = np.concatenate(ver_rows)
        flag = np.concatenate(flag_rows)
        f_ann = np.concatenate(fann_rows).astype(np.int64)
        ann = a["ann"][s]
        if api == "fina_indicator":
            ann = f_ann  # fina_indicator's key has no f_ann_date: restatements move ann_date instead
        nrow = len(s)

        values = self._statement_values(api, pe)  # name -> per-stock array (length n)
        pkey = pe.year * 10 + (pe.month - 1) // 3 + 1
        rng = self._rng(_salt("restated-values"), _salt(api), pkey)
        wiggle = np.where(ver == 1, 1.0 + rng.normal(0.0, 0.015, size=nrow), 1.0)
        parent_scale = np.where(rt_col == "6", self._econ()["parent"][s], 1.0)
        q = (pe.month - 1) // 3 + 1
        out: Frame = {}
        for name, typ in api_fields(api):
            if typ == "str":
                continue
            v, kind = values[name]
            col = v[s]
            if kind == "money":
                col = np.round(col * parent_scale * wiggle, 2)
            elif kind == "ratio":
                col = np.round(col * wiggle, 4)
            else:
                col = np.round(col, 4)
            out[name] = col
        strs = {
            "ts_code": u.codes[s],
            "ann_date": _dates(ann),
            "f_ann_date": _dates(f_ann),
            "end_date": np.full(nrow, cal.ymd(pe), dtype=object),
            "report_type": rt_col,
            "comp_type": u.comp_type[s],
            "end_type": np.full(nrow, str(q), dtype=object),
            "update_flag": flag,
        }
        frame: Frame = {}
        for name, typ in api_fields(api):
            frame[name] = strs[name] if typ == "str" else out[name]
        return frame

    def _statement_values(self, api: str, pe: dt.date) -> dict[str, tuple[np.ndarray, str]]:
        """Per-stock values of every float field of ``api`` for period ``pe``.

        Each value comes with its kind: 'money' (scaled for parent statements and restatements),
        'ratio' (restatements only) or 'fixed' (per-share counts that neither touches).
        """
        n = self.stocks
        u = self._u
        e = self._econ()
        q = (pe.month - 1) // 3 + 1
        pkey = pe.year * 10 + q
        cur = self._annual(pe.year)
        prev = self._annual(pe.year - 1)
        rng = self._rng(_salt("fundamentals"), pkey)
        # Statements are year-to-date: Q1 holds about a quarter of the year, H1 half, and so on.
        frac = [0.24, 0.49, 0.74, 1.0][q - 1] + (0.0 if q == 4 else rng.normal(0.0, 0.01, size=n))
        rev = cur["revenue"] * frac
        ni = cur["n_income"] * frac * np.exp(rng.normal(0.0, 0.05, size=n))
        shares = u.shares * 1e4
        equity = prev["equity"] + (cur["equity"] - prev["equity"]) * q / 4.0
        lev = e["lev"]
        assets = equity / (1.0 - lev)
        liab = assets - equity
        attr = e["attr"]
        ni_attr = ni * attr
        tca = assets * e["cur_assets"]
        tcl = liab * e["cur_liab"]
        inventories = tca * rng.uniform(0.05, 0.35, size=n)
        money_cap = tca * rng.uniform(0.1, 0.4, size=n)
        ocf = ni * rng.uniform(0.3, 1.8, size=n) + rev * rng.normal(0.0, 0.03, size=n)
        icf = -assets * rng.uniform(0.005, 0.06, size=n) * frac
        fcf = assets * rng.normal(0.0, 0.02, size=n) * frac
        cash_beg = money_cap * rng.uniform(0.7, 1.3, size=n)
        incr = ocf + icf + fcf
        cash_beg = np.maximum(cash_beg, -incr + money_cap * 0.2)
        tax_rate = rng.uniform(0.1, 0.25, size=n)
        total_profit = np.where(ni > 0, ni / (1.0 - tax_rate), ni * 1.02)
        operate_profit = total_profit * rng.uniform(0.95, 1.05, size=n)
        oper_cost = rev * (1.0 - e["gross"])
        fin_exp = rev * rng.uniform(-0.005, 0.03, size=n)
        eps = ni_attr / shares

        money = "money"
        ratio = "ratio"
        fixed = "fixed"
        known: dict[str, tuple[np.ndarray, str]] = {}
        if api == "income":
            known = {
                "basic_eps": (eps, fixed),
                "diluted_eps": (eps * rng.uniform(0.97, 1.0, size=n), fixed),
                "total_revenue": (rev, money),
                "revenue": (rev, money),
                "total_cogs": (rev - operate_profit, money),
                "oper_cost": (oper_cost, money),
                "fin_exp": (fin_exp, money),
                "operate_profit": (operate_profit, money),
                "total_profit": (total_profit, money),
                "income_tax": (total_profit - ni, money),
                "n_income": (ni, money),
                "n_income_attr_p": (ni_attr, money),
                "minority_gain": (ni - ni_attr, money),
                "t_compr_income": (ni, money),
                "compr_inc_attr_p": (ni_attr, money),
                "ebit": (total_profit + fin_exp, money),
                "ebitda": (total_profit + fin_exp + rev * 0.05, money),
                "continued_net_profit": (ni, money),
            }
            scale = rev
        elif api == "balancesheet":
            eq_exc = equity * attr
            known = {
                "total_share": (shares, fixed),
                "total_assets": (assets, money),
                "total_liab": (liab, money),
                "total_cur_assets": (tca, money),
                "total_nca": (assets - tca, money),
                "total_cur_liab": (tcl, money),
                "total_ncl": (liab - tcl, money),
                "money_cap": (money_cap, money),
                "inventories": (inventories, money),
                "total_hldr_eqy_exc_min_int": (eq_exc, money),
                "total_hldr_eqy_inc_min_int": (equity, money),
                "minority_int": (equity - eq_exc, money),
                "total_liab_hldr_eqy": (assets, money),
                "cap_rese": (equity * 0.3, money),
                "undistr_porfit": (equity * 0.35, money),
                "surplus_rese": (equity * 0.08, money),
            }
            scale = assets
        elif api == "cashflow":
            known = {
                "net_profit": (ni, money),
                "finan_exp": (fin_exp, money),
                "c_fr_sale_sg": (rev * 1.08, money),
                "c_inf_fr_operate_a": (rev * 1.12, money),
                "st_cash_out_act": (rev * 1.12 - ocf, money),
                "n_cashflow_act": (ocf, money),
                "n_cashflow_inv_act": (icf, money),
                "n_cash_flows_fnc_act": (fcf, money),
                "n_incr_cash_cash_equ": (incr, money),
                "c_cash_equ_beg_period": (cash_beg, money),
                "c_cash_equ_end_period": (cash_beg + incr, money),
                "free_cashflow": (ocf + icf, money),
                "end_bal_cash": (cash_beg + incr, money),
                "beg_bal_cash": (cash_beg, money),
            }
            scale = rev
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                known = {
                    "eps": (eps, fixed),
                    "dt_eps": (eps * 0.99, fixed),
                    "total_revenue_ps": (rev / shares, fixed),
                    "revenue_ps": (rev / shares, fixed),
                    "bps": (equity * attr / shares, fixed),
                    "ocfps": (ocf / shares, fixed),
                    "cfps": (incr / shares, fixed),
                    "profit_dedt": (ni_attr * rng.uniform(0.85, 1.0, size=n), money),
                    "gross_margin": (rev - oper_cost, money),
                    "grossprofit_margin": (e["gross"] * 100.0, ratio),
                    "netprofit_margin": (ni / rev * 100.0, ratio),
                    "roe": (ni_attr / (equity * attr) * 100.0, ratio),
                    "roe_waa": (ni_attr / (equity * attr) * 100.0 * 1.01, ratio),
                    "roe_dt": (ni_attr / (equity * attr) * 95.0, ratio),
                    "roa": (ni / assets * 100.0, ratio),
                    "npta": (ni / assets * 100.0, ratio),
                    "debt_to_assets": (lev * 100.0, ratio),
                    "assets_to_eqt": (1.0 / (1.0 - lev), ratio),
                    "current_ratio": (tca / tcl, ratio),
                    "quick_ratio": ((tca - inventories) / tcl, ratio),
                    "ebit": (total_profit + fin_exp, money),
                    "ebitda": (total_profit + fin_exp + rev * 0.05, money),
                }
            scale = rev

        # Minor fields: plausible magnitudes relative to the statement's scale, ~30% NaN per stock.
        names = [f for f, t in api_fields(api) if t == "float"]
        minor = [f for f in names if f not in known]
        coef_rng = self._rng(_salt("coef"), _salt(api))
        coef = np.exp(coef_rng.uniform(math.log(1e-3), math.log(0.15), size=len(names)))
        mask = self._rng(_salt("mask"), _salt(api)).random((n, len(names))) < 0.3
        noise = rng.lognormal(0.0, 0.5, size=(n, len(minor)))
        sign = np.where(rng.random((n, len(minor))) < 0.25, -1.0, 1.0)
        col_of = {f: j for j, f in enumerate(names)}
        out: dict[str, tuple[np.ndarray, str]] = dict(known)
        per_share = scale / shares
        for j, f in enumerate(minor):
            c = coef[col_of[f]]
            z = noise[:, j]
            if api == "fina_indicator":
                v, kind = _fina_minor(f, z, sign[:, j], c, scale, per_share)
            else:
                signed = any(k in f for k in _SIGNED_HINTS)
                v, kind = scale * c * z * (sign[:, j] if signed else 1.0), money
            out[f] = (np.where(mask[:, col_of[f]], np.nan, v), kind)
        return out


_SIGNED_HINTS = ("chg", "gain", "forex", "n_incr", "n_cash", "net_", "loss", "oth_compr", "others", "eff_")
_FINA_MONEY = frozenset(
    word
    for row in _rows(
        """
        extra_item op_income valuechange_income interst_income daa fcff fcfe current_exint noncurrent_exint
        interestdebt netdebt tangible_asset working_capital networking_capital invest_capital
        retained_earnings fixed_assets profit_prefin_exp non_op_profit q_opincome q_investincome q_dtprofit
        rd_exp
        """
    )
    for word in row
)


def _fina_minor(
    f: str, z: np.ndarray, sign: np.ndarray, c: float, scale: np.ndarray, per_share: np.ndarray
) -> tuple[np.ndarray, str]:
    if f in _FINA_MONEY:
        return scale * c * z * sign, "money"
    if f.endswith(("_yoy", "_qoq")):
        return np.log(z) * 60.0 + 5.0, "ratio"
    if "days" in f:
        return 20.0 + 150.0 * z, "ratio"
    if "turn" in f:
        return 0.8 * z, "ratio"
    if f.endswith("_ps") or "eps" in f or f in ("retainedps",):
        return per_share * c * 5.0 * z * sign, "fixed"
    return 20.0 * z * np.where(sign < 0, 0.2, 1.0), "ratio"


def _make_name(
    h0: tuple[str, str], h1: tuple[str, str], kind: int, suffix: tuple[str, str, str]
) -> tuple[str, str, str, str]:
    """(name, cnspell, romanised head, english suffix) for 2 heads (kind 0), 1 head + suffix (1),
    or 2 heads + suffix (2)."""
    if kind == 0:
        return h0[0] + h1[0], h0[1][0] + h1[1][0], h0[1] + h1[1], ""
    hh = [h0] if kind == 1 else [h0, h1]
    name = "".join(c for c, _ in hh) + suffix[0]
    return name, "".join(p[0] for _, p in hh) + suffix[1], "".join(p for _, p in hh), " " + suffix[2]


def _allocate(n: int, weights: np.ndarray, capacity: np.ndarray) -> list[int]:
    """Largest-remainder split of ``n`` over ``weights`` that respects each bucket's capacity."""
    counts = np.zeros(len(weights), dtype=np.int64)
    remaining = n
    open_ = np.ones(len(weights), dtype=bool)
    while remaining > 0:
        w = np.where(open_, weights, 0.0)
        share = w / w.sum() * remaining
        add = np.floor(share).astype(np.int64)
        short = remaining - int(add.sum())
        order = np.argsort(-(share - add), kind="stable")
        for i in order[:short]:
            add[i] += 1
        counts += add
        over = np.maximum(counts - capacity, 0)
        counts -= over
        remaining = int(over.sum())
        open_ &= counts < capacity
    return counts.tolist()


def _parse_period(period: object) -> dt.date | None:
    """The quarter end ``period`` names, or None when it is not a 'YYYYMMDD' quarter end."""
    try:
        d = dt.datetime.strptime(str(period), "%Y%m%d").date()
    except ValueError:
        return None
    return d if (d.month, d.day) in ((3, 31), (6, 30), (9, 30), (12, 31)) else None


def _empty(api: str) -> Frame:
    return _readonly(
        {f: np.empty(0, dtype=object) if t == "str" else np.empty(0) for f, t in api_fields(api)}
    )


def _dates(ords: np.ndarray) -> np.ndarray:
    """Ordinals to 'YYYYMMDD' object array, sharing one str per distinct date."""
    if len(ords) == 0:
        return np.empty(0, dtype=object)
    uniq, inv = np.unique(ords, return_inverse=True)
    return _obj([cal.ymd(dt.date.fromordinal(int(o))) for o in uniq])[inv]
