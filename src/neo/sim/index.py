"""Index and industry APIs of the offline Tushare simulator, derived from a ``Market``.

Serves ``index_basic``, ``index_daily``, ``index_weight``, ``index_classify`` and
``index_member_all`` as frames with the conventions of ``neo.sim.market`` (every fields.json field,
float64 with NaN, object arrays of str/None, read-only arrays, a fresh dict per call). Only the
public API of ``Market`` is used: ``frame('stock_basic' | 'daily' | 'daily_basic')``,
``trade_days``, ``seed``, ``start``, ``end``, ``stocks``. Frames are built lazily, once per Market:
``Market.frame`` caches each, and the one build behind index_daily and index_weight is cached in the
market's state.

Model (the rules of NOTES.md "Research datasets"):

- ``index_basic``: a fixed list of broad indices (SSE/SZSE/CSI codes, realistic names, base dates
  and points), a few quote-less extras (so paging has something to page), and every Shenwan index
  of both classification versions (market 'SW', ``.SI``; codes only in SW2014 carry an exp_date).
  ``market`` follows the code: ``.SH`` -> SSE, ``.SZ`` -> SZSE, ``.CSI`` -> CSI, ``.SI`` -> SW,
  ``.MI`` -> MSCI, others (北证50) -> OTH, so one call per market returns each code exactly once.
  CSI 300/500 exist as both 000300.SH and 399300.SZ (identical members, weights and levels).
- ``index_weight``: snapshots on the first open day of each month, the first open day on or after
  the 16th from 2024 on (two a month, as seen live), and the index's first day (the first open day
  of the market or on/after its base date). Members: stocks listed on the snapshot day (list_date
  <= day < delist_date) with a ``daily_basic`` row in the 20 open days before it (the first market
  day uses its own rows), on the index's exchanges/boards, chosen by total_mv rank (CSI bands:
  300 = ranks 1-300, 500 = 301-800, 1000 = 801-1800, 2000 = 1801-3800; board indices: top 50/100 of
  the board) or all of them (composites). Sizes scale with ``stocks / 5000`` (the real A-share
  universe): a band [a, b) becomes [s(a), s(b)) with s(r) = max(round(r * stocks / 5000), 3 * k)
  where k is r's place among the band edges (100, 300, 500, 800, 1800, 3800), so consecutive bands
  keep at least 3 members; board top-N indices keep max(round(N * stocks / 5000), 3). Weights are
  percent of circ_mv (total_mv for composites) on the last daily_basic row, rounded to 4 decimals.
  An index with no eligible member on a snapshot day gets no rows for it (its previous snapshot
  stays in force).
- ``index_daily``: one row per open day from the index's first snapshot to ``end`` (none for .SI).
  On day t with last snapshot s <= t (weights w, normalised), stock i's drift
  G_i = prod over open days in (s, t) of close_i/pre_close_i (from ``daily``; suspended days count
  1), and the index return is r_t = sum_i w_i G_i (R_i - 1) / sum_i w_i G_i with R_i =
  close_i/pre_close_i on t (0 for suspended or delisted members). The level starts at base_point
  when the base date lies inside the market range, else at a typical level of that index; close is
  rounded to 4 decimals, pre_close is the previous row's close, change = close - pre_close,
  pct_chg = change / pre_close * 100 (4 decimals). open/high/low use the same weighted sum over
  the members' open/high/low relative to their pre_close (high/low then widened to cover open and
  close); vol/amount are the members' sums from ``daily``.
- ``index_classify``: two static Shenwan trees (no randomness): SW2021 with the 31 real L1 names
  and 134 L2 / 346 L3 children, SW2014 with its 28 real L1 names and 104 / 227 children; L2/L3
  names are synthetic ('食品饮料乙Ⅱ'). index_code: L1 the real code, L2 = L1 code + k (801011.SI),
  L3 = 85 + L1 seq (2 digits) + L2 seq + L3 seq (850111.SI); industry_code is 6 digits (110000,
  110100, 110101) and parent_code is the parent's industry_code ('0' for L1). is_pub is '0' for a
  fixed few L3s.
- ``index_member_all``: every stock gets an SW2021 L3 from its list_date (L1 from its stock_basic
  industry where one maps, else drawn); ~10% switch once (old row out_date = switch day, new row
  in_date = the next day, half within the same L1); a delisted stock's open row ends at delist_date.
  is_new is 'Y' iff out_date is null; names are the current stock_basic names.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from neo.datasets.spec import api_schemas
from neo.sim.state import Dataset, MarketView

__all__ = ["INDEX_APIS", "Frame", "frame", "scaled_rank"]

Frame = dict[str, np.ndarray]

INDEX_APIS: tuple[str, ...] = (
    "index_basic",
    "index_daily",
    "index_weight",
    "index_classify",
    "index_member_all",
)

REAL_UNIVERSE = 5000  # listed A shares the real index sizes refer to
MIN_MEMBERS = 3
_BAND_EDGES = (100, 300, 500, 800, 1800, 3800)
_MV_WINDOW = 20  # open days before a snapshot in which a daily_basic row must exist


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _salt(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _rng(market: MarketView, *salt: int) -> np.random.Generator:
    # Same convention as Market: (seed, salts...) and never the order of calls.
    return np.random.default_rng((market.seed % (1 << 64), *salt))


def _obj(values: Sequence[str | None] | np.ndarray) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _ymd(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def _ord(s: str) -> int:
    return dt.date(int(s[:4]), int(s[4:6]), int(s[6:8])).toordinal()


def _finish(api: str, cols: dict[str, Any]) -> Frame:
    """Order the columns as fields.json does, type them, make them read-only."""
    out: Frame = {}
    for f in api_schemas()[api]["fields"]:
        v = cols[f["name"]]
        arr = np.asarray(v, dtype=np.float64) if f["type"] == "float" else _obj(v)
        arr.flags.writeable = False
        out[f["name"]] = arr
    if len(cols) != len(out):
        raise AssertionError(f"{api}: unexpected columns {sorted(set(cols) - set(out))}")
    return out


def scaled_rank(rank: int, stocks: int) -> int:
    """A real-universe rank edge (e.g. 300 for CSI 300) scaled to a universe of ``stocks``."""
    k = (_BAND_EDGES.index(rank) + 1) if rank in _BAND_EDGES else 1
    return max(round(rank * stocks / REAL_UNIVERSE), MIN_MEMBERS * k)


# --------------------------------------------------------------------------------------------------
# Static vocabulary: broad indices and Shenwan trees
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Index:
    code: str
    name: str
    fullname: str
    publisher: str
    category: str
    base_date: str
    base_point: float
    list_date: str
    weight_rule: str | None = None
    index_type: str | None = None
    desc: str | None = None
    exp_date: str | None = None
    # Quoted indices only: which stocks, which ranks, which weights, a typical level.
    exchanges: tuple[str, ...] = ()
    boards: tuple[str, ...] = ()  # stock_basic market values; empty = every board
    band: tuple[int, int] | None = None  # real total_mv rank band [a, b); None = all eligible
    top: int = 0  # top-N of the boards instead of a band
    circ: bool = True  # circ_mv weights (free float) or total_mv (composites)
    level: float = 0.0  # typical level, for an index already running at the market's start

    @property
    def market(self) -> str:
        suffix = self.code.rsplit(".", 1)[1]
        return {"SH": "SSE", "SZ": "SZSE", "CSI": "CSI", "SI": "SW", "MI": "MSCI", "CIC": "CICC"}.get(
            suffix, "OTH"
        )

    @property
    def quoted(self) -> bool:
        return self.level > 0


_CSI = "中证指数有限公司"
_SZI = "深圳证券信息有限公司"
_AH = ("SSE", "SZSE")

_BROAD: tuple[_Index, ...] = (
    _Index("000001.SH", "上证指数", "上证综合指数", _CSI, "综合指数", "19901219", 100.0, "19910715",
           "总市值加权", "综合", "上交所全部上市股票", exchanges=("SSE",), circ=False, level=3100.0),
    _Index("000002.SH", "A股指数", "上证A股指数", _CSI, "综合指数", "19901219", 100.0, "19920221",
           "总市值加权", "综合", "上交所全部A股", exchanges=("SSE",), circ=False, level=3250.0),
    _Index("000016.SH", "上证50", "上证50指数", _CSI, "规模指数", "20031231", 1000.0, "20040102",
           "自由流通市值加权", "大盘", "沪市规模最大的50只股票", exchanges=("SSE",), top=50,
           level=2600.0),
    _Index("000300.SH", "沪深300", "沪深300指数", _CSI, "规模指数", "20041231", 1000.0, "20050408",
           "自由流通市值加权", "大盘", "沪深两市规模最大的300只股票", exchanges=_AH, band=(0, 300),
           level=3900.0),
    _Index("399300.SZ", "沪深300", "沪深300指数", _CSI, "规模指数", "20041231", 1000.0, "20050408",
           "自由流通市值加权", "大盘", "沪深两市规模最大的300只股票", exchanges=_AH, band=(0, 300),
           level=3900.0),
    _Index("000903.SH", "中证100", "中证100指数", _CSI, "规模指数", "20041231", 1000.0, "20060529",
           "自由流通市值加权", "大盘", "沪深300中规模最大的100只股票", exchanges=_AH, band=(0, 100),
           level=3800.0),
    _Index("000905.SH", "中证500", "中证小盘500指数", _CSI, "规模指数", "20041231", 1000.0, "20070115",
           "自由流通市值加权", "中盘", "沪深300之后规模最大的500只股票", exchanges=_AH,
           band=(300, 800), level=5800.0),
    _Index("399905.SZ", "中证500", "中证小盘500指数", _CSI, "规模指数", "20041231", 1000.0, "20070115",
           "自由流通市值加权", "中盘", "沪深300之后规模最大的500只股票", exchanges=_AH,
           band=(300, 800), level=5800.0),
    _Index("000906.SH", "中证800", "中证800指数", _CSI, "规模指数", "20041231", 1000.0, "20070115",
           "自由流通市值加权", "大中盘", "沪深300与中证500", exchanges=_AH, band=(0, 800),
           level=4200.0),
    _Index("000852.SH", "中证1000", "中证1000指数", _CSI, "规模指数", "20041231", 1000.0, "20141017",
           "自由流通市值加权", "小盘", "中证800之后规模最大的1000只股票", exchanges=_AH,
           band=(800, 1800), level=6200.0),
    _Index("932000.CSI", "中证2000", "中证2000指数", _CSI, "规模指数", "20131231", 1000.0, "20230811",
           "自由流通市值加权", "微盘", "中证1000之后规模最大的2000只股票", exchanges=_AH,
           band=(1800, 3800), level=2300.0),
    _Index("000985.CSI", "中证全指", "中证全指指数", _CSI, "综合指数", "20041231", 1000.0, "20110802",
           "自由流通市值加权", "综合", "沪深两市全部A股", exchanges=_AH, level=5000.0),
    _Index("000688.SH", "科创50", "上证科创板50成份指数", _CSI, "规模指数", "20191231", 1000.0,
           "20200723", "自由流通市值加权", "大盘", "科创板规模最大的50只股票", exchanges=("SSE",),
           boards=("科创板",), top=50, level=950.0),
    _Index("399001.SZ", "深证成指", "深证成份指数", _SZI, "规模指数", "19940720", 1000.0, "19950123",
           "自由流通市值加权", "大盘", "深市规模最大的500只股票", exchanges=("SZSE",), band=(0, 500),
           level=10500.0),
    _Index("399006.SZ", "创业板指", "创业板指数", _SZI, "规模指数", "20100531", 1000.0, "20100601",
           "自由流通市值加权", "成长", "创业板规模最大的100只股票", exchanges=("SZSE",),
           boards=("创业板",), top=100, level=2200.0),
    _Index("399107.SZ", "深证A指", "深证A股指数", _SZI, "综合指数", "19910403", 100.0, "19921004",
           "总市值加权", "综合", "深交所全部A股", exchanges=("SZSE",), circ=False, level=1950.0),
    _Index("899050.BJ", "北证50", "北证50成份指数", "北京证券交易所", "规模指数", "20220429", 1000.0,
           "20221121", "自由流通市值加权", "成长", "北交所规模最大的50只股票", exchanges=("BSE",),
           top=50, level=1000.0),
    # Without quotes here (licensing gaps are real: index_daily answers nothing for them).
    _Index("000015.SH", "红利指数", "上证红利指数", _CSI, "策略指数", "20041231", 1000.0, "20050103"),
    _Index("000012.SH", "国债指数", "上证国债指数", _CSI, "债券指数", "20021231", 100.0, "20030102"),
    _Index("000922.CSI", "中证红利", "中证红利指数", _CSI, "策略指数", "20041231", 1000.0, "20080526"),
    _Index("h30269.CSI", "红利低波", "中证红利低波动指数", _CSI, "策略指数", "20041231", 1000.0,
           "20131014"),
    _Index("930050.CSI", "中证A50", "中证A50指数", _CSI, "规模指数", "20131231", 1000.0, "20240102"),
    _Index("399005.SZ", "中小100", "中小企业100指数", _SZI, "规模指数", "20050607", 1000.0, "20060124"),
    _Index("399673.SZ", "创业板50", "创业板50指数", _SZI, "规模指数", "20100531", 1000.0, "20140618"),
    _Index("892400.MI", "MSCI中国A股", "MSCI中国A股指数", "MSCI", "规模指数", "20081128", 1000.0,
           "20181119"),
)  # fmt: skip


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """'code:name code:name ...' -> ((code, name), ...)."""
    return tuple((c, n) for c, n in (item.split(":") for item in text.split()))


_SW2021_L1 = _pairs(
    """
        801010:农林牧渔 801030:基础化工 801040:钢铁 801050:有色金属 801080:电子 801880:汽车
        801110:家用电器 801120:食品饮料 801130:纺织服饰 801140:轻工制造 801150:医药生物
        801160:公用事业 801170:交通运输 801180:房地产 801200:商贸零售 801210:社会服务 801780:银行
        801790:非银金融 801230:综合 801710:建筑材料 801720:建筑装饰 801730:电力设备 801890:机械设备
        801740:国防军工 801750:计算机 801760:传媒 801770:通信 801950:煤炭 801960:石油石化
        801970:环保 801980:美容护理
    """
)
_SW2014_L1 = _pairs(
    """
        801010:农林牧渔 801020:采掘 801030:化工 801040:钢铁 801050:有色金属 801080:电子
        801110:家用电器 801120:食品饮料 801130:纺织服装 801140:轻工制造 801150:医药生物
        801160:公用事业 801170:交通运输 801180:房地产 801200:商业贸易 801210:休闲服务 801230:综合
        801710:建筑材料 801720:建筑装饰 801730:电气设备 801740:国防军工 801750:计算机 801760:传媒
        801770:通信 801780:银行 801790:非银金融 801880:汽车 801890:机械设备
    """
)
# stock_basic's industry -> SW2021 L1 name, so a stock's SW industry agrees with its profile.
_TO_SW2021 = {
    "银行": "银行", "证券": "非银金融", "保险": "非银金融", "软件服务": "计算机", "元器件": "电子",
    "半导体": "电子", "通信设备": "通信", "电气设备": "电力设备", "专用机械": "机械设备",
    "汽车配件": "汽车", "化工原料": "基础化工", "化学制药": "医药生物", "生物制药": "医药生物",
    "医疗保健": "医药生物", "食品": "食品饮料", "白酒": "食品饮料", "建筑工程": "建筑装饰",
    "全国地产": "房地产", "新型电力": "公用事业", "小金属": "有色金属", "环境保护": "环保",
    "文教休闲": "传媒", "家用电器": "家用电器", "IT设备": "计算机", "仓储物流": "交通运输",
    "纺织": "纺织服饰", "农业综合": "农林牧渔", "综合类": "综合",
}  # fmt: skip
_TIANGAN = "甲乙丙丁戊己庚辛壬癸"
_DIGITS = "一二三四五六七八九"


@dataclasses.dataclass(frozen=True)
class _Node:
    index_code: str
    name: str
    level: str  # 'L1' / 'L2' / 'L3'
    industry_code: str
    parent: str  # parent's industry_code, '0' for L1
    is_pub: str
    l1: int  # position of the L1 in the tree's list


def _spread(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _tree(l1s: tuple[tuple[str, str], ...], n2: int, n3: int) -> list[_Node]:
    """A Shenwan tree: the real L1 list, n2 L2 and n3 L3 spread as evenly as possible."""
    nodes: list[_Node] = []
    l2_counts = _spread(n2, len(l1s))
    l3_counts = iter(_spread(n3, n2))
    for a, ((code, name), k2) in enumerate(zip(l1s, l2_counts, strict=True)):
        seq1 = a + 1
        ic1 = f"{seq1 + 10}0000"
        nodes.append(_Node(f"{code}.SI", name, "L1", ic1, "0", "1", a))
        for b in range(1, k2 + 1):
            ic2 = f"{seq1 + 10}{b:02d}00"
            name2 = f"{name}{_TIANGAN[b - 1]}Ⅱ"
            nodes.append(_Node(f"{int(code) + b}.SI", name2, "L2", ic2, ic1, "1", a))
            for c in range(1, next(l3_counts) + 1):
                pub = "0" if (seq1 + b + c) % 11 == 0 else "1"
                name3 = f"{name}{_TIANGAN[b - 1]}{_DIGITS[c - 1]}Ⅲ"
                nodes.append(
                    _Node(f"85{seq1:02d}{b}{c}.SI", name3, "L3", f"{seq1 + 10}{b:02d}{c:02d}", ic2, pub, a)
                )
    return nodes


_TREES: dict[str, list[_Node]] = {
    "SW2021": _tree(_SW2021_L1, 134, 346),
    "SW2014": _tree(_SW2014_L1, 104, 227),
}
_SW_CATEGORY = {"L1": "一级行业指数", "L2": "二级行业指数", "L3": "三级行业指数"}


def _sw_indices() -> list[_Index]:
    seen: dict[str, _Index] = {}
    for src in ("SW2021", "SW2014"):
        for n in _TREES[src]:
            if n.index_code in seen:
                continue
            exp = "20211210" if src == "SW2014" else None  # retired with the 2021 revision
            seen[n.index_code] = _Index(
                n.index_code, n.name, f"申万{n.name}行业指数", "申万研究所", _SW_CATEGORY[n.level],
                "19991230", 1000.0, "20040216", "总市值加权", "行业", None, exp,
            )  # fmt: skip
    return list(seen.values())


ALL_INDICES: tuple[_Index, ...] = _BROAD + tuple(_sw_indices())


def frame(market: MarketView, api: str) -> Frame:
    """The whole table of an index API (see INDEX_APIS) as a read-only frame (a fresh dict)."""
    builders: dict[str, Callable[[MarketView], Frame]] = {
        "index_basic": _build_basic,
        "index_daily": lambda m: _quotes(m)[0],
        "index_weight": lambda m: _quotes(m)[1],
        "index_classify": _build_classify,
        "index_member_all": _build_members,
    }
    if api not in builders:
        raise ValueError(f"unknown index api {api!r}")
    return builders[api](market)  # Market.frame caches it


# --------------------------------------------------------------------------------------------------
# index_basic, index_classify
# --------------------------------------------------------------------------------------------------


def _build_basic(market: MarketView) -> Frame:
    ix = ALL_INDICES
    return _finish(
        "index_basic",
        {
            "ts_code": [i.code for i in ix],
            "name": [i.name for i in ix],
            "fullname": [i.fullname for i in ix],
            "market": [i.market for i in ix],
            "publisher": [i.publisher for i in ix],
            "index_type": [i.index_type for i in ix],
            "category": [i.category for i in ix],
            "base_date": [i.base_date for i in ix],
            "base_point": [i.base_point for i in ix],
            "list_date": [i.list_date for i in ix],
            "weight_rule": [i.weight_rule for i in ix],
            "desc": [i.desc for i in ix],
            "exp_date": [i.exp_date for i in ix],
        },
    )


def _build_classify(market: MarketView) -> Frame:
    rows = [(src, n) for src in ("SW2021", "SW2014") for n in _TREES[src]]
    return _finish(
        "index_classify",
        {
            "index_code": [n.index_code for _, n in rows],
            "industry_name": [n.name for _, n in rows],
            "parent_code": [n.parent for _, n in rows],
            "level": [n.level for _, n in rows],
            "industry_code": [n.industry_code for _, n in rows],
            "is_pub": [n.is_pub for _, n in rows],
            "src": [src for src, _ in rows],
        },
    )


# --------------------------------------------------------------------------------------------------
# index_member_all
# --------------------------------------------------------------------------------------------------


def _build_members(market: MarketView) -> Frame:
    basic = market.frame("stock_basic")
    codes = basic["ts_code"].tolist()
    n = len(codes)
    tree = _TREES["SW2021"]
    l3s = [x for x in tree if x.level == "L3"]
    by_ic = {x.industry_code: x for x in tree}
    l1_names = [name for _, name in _SW2021_L1]
    l3_of_l1 = [[j for j, x in enumerate(l3s) if x.l1 == a] for a in range(len(l1_names))]
    rng = _rng(market, _salt("index_member_all"))
    u_l1, u_l3, u_sw, u_day, u_same, u_new = (rng.random(n) for _ in range(6))
    end_ord = market.end.toordinal()
    out: dict[str, list[Any]] = {k: [] for k in ("ts_code", "name", "l3", "in_date", "out_date")}

    def add(i: int, l3: int, lo: int, hi: int | None) -> None:
        out["ts_code"].append(codes[i])
        out["name"].append(basic["name"][i])
        out["l3"].append(l3)
        out["in_date"].append(_ymd(dt.date.fromordinal(lo)))
        out["out_date"].append(None if hi is None else _ymd(dt.date.fromordinal(hi)))

    for i in range(n):  # per stock: thousands at most
        mapped = _TO_SW2021.get(basic["industry"][i] or "")
        a = l1_names.index(mapped) if mapped else int(u_l1[i] * len(l1_names))
        pool = l3_of_l1[a]
        l3 = pool[int(u_l3[i] * len(pool))]
        lo = _ord(basic["list_date"][i])
        delist = basic["delist_date"][i]
        last = min(end_ord, _ord(delist) - 1) if delist else end_ord  # last day the stock is in
        stop = _ord(delist) if delist else None
        if u_sw[i] < 0.10 and last - lo >= 2:
            day = lo + 1 + int(u_day[i] * (last - lo - 1))  # old row ends here, new row starts next
            if u_same[i] < 0.5 and len(pool) > 1:
                others = [j for j in pool if j != l3]
            else:
                others = [j for j in range(len(l3s)) if l3s[j].l1 != a]
            new = others[int(u_new[i] * len(others))]
            add(i, l3, lo, day)
            add(i, new, day + 1, stop)
        else:
            add(i, l3, lo, stop)

    leaf = [l3s[j] for j in out["l3"]]
    mid = [by_ic[x.parent] for x in leaf]
    top = [by_ic[x.parent] for x in mid]
    return _finish(
        "index_member_all",
        {
            "l1_code": [x.index_code for x in top],
            "l1_name": [x.name for x in top],
            "l2_code": [x.index_code for x in mid],
            "l2_name": [x.name for x in mid],
            "l3_code": [x.index_code for x in leaf],
            "l3_name": [x.name for x in leaf],
            "ts_code": out["ts_code"],
            "name": out["name"],
            "in_date": out["in_date"],
            "out_date": out["out_date"],
            "is_new": ["Y" if o is None else "N" for o in out["out_date"]],
        },
    )


# --------------------------------------------------------------------------------------------------
# index_weight and index_daily
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Prep:
    """The market's stocks and bars as integer-indexed arrays."""

    day_str: np.ndarray  # 'U8' per open day
    codes: np.ndarray  # object, stock_basic order
    exchange: np.ndarray
    board: np.ndarray
    list_s: np.ndarray  # 'U8'
    delist_s: np.ndarray  # 'U8', '99999999' when not delisted
    # daily rows sorted by (stock, day)
    d_si: np.ndarray
    d_ti: np.ndarray
    d_r: np.ndarray  # close / pre_close
    d_ro: np.ndarray
    d_rh: np.ndarray
    d_rl: np.ndarray
    d_vol: np.ndarray
    d_amt: np.ndarray
    # daily_basic rows sorted by (day, stock) with day bounds
    b_si: np.ndarray
    b_ti: np.ndarray
    b_total: np.ndarray
    b_circ: np.ndarray
    b_bounds: np.ndarray  # b_bounds[t]..b_bounds[t+1] are the rows of day t


def _prep(market: MarketView) -> _Prep:
    days = market.trade_days
    day_str = np.array([_ymd(d) for d in days], dtype="U8")
    basic = market.frame("stock_basic")
    codes = basic["ts_code"]
    order = np.argsort(codes.astype("U"))
    sorted_codes = codes.astype("U")[order]

    def stock_idx(col: np.ndarray) -> np.ndarray:
        return order[np.searchsorted(sorted_codes, col.astype("U"))]

    def day_idx(col: np.ndarray) -> np.ndarray:
        return np.searchsorted(day_str, col.astype("U8"))

    d = market.frame("daily")
    si, ti = stock_idx(d["ts_code"]), day_idx(d["trade_date"])
    o = np.lexsort((ti, si))
    pc = d["pre_close"][o]
    b = market.frame("daily_basic")
    bsi, bti = stock_idx(b["ts_code"]), day_idx(b["trade_date"])
    ob = np.lexsort((bsi, bti))
    return _Prep(
        day_str=day_str,
        codes=codes,
        exchange=basic["exchange"],
        board=basic["market"],
        list_s=basic["list_date"].astype("U8"),
        delist_s=np.array([x or "99999999" for x in basic["delist_date"]], dtype="U8"),
        d_si=si[o],
        d_ti=ti[o],
        d_r=d["close"][o] / pc,
        d_ro=d["open"][o] / pc,
        d_rh=d["high"][o] / pc,
        d_rl=d["low"][o] / pc,
        d_vol=d["vol"][o],
        d_amt=d["amount"][o],
        b_si=bsi[ob],
        b_ti=bti[ob],
        b_total=b["total_mv"][ob],
        b_circ=b["circ_mv"][ob],
        b_bounds=np.searchsorted(bti[ob], np.arange(len(days) + 1)),
    )


def _snapshot_days(days: list[dt.date]) -> np.ndarray:
    """Open-day indices of the regular snapshots: first open day of each month, plus the first
    open day on/after the 16th from 2024 on, plus the market's first day."""
    out = {0} if days else set()
    prev: tuple[int, int] | None = None
    mid_seen: set[tuple[int, int]] = set()
    for t, d in enumerate(days):
        ym = (d.year, d.month)
        if ym != prev:
            out.add(t)
            prev = ym
        if d.year >= 2024 and d.day >= 16 and ym not in mid_seen:
            mid_seen.add(ym)
            out.add(t)
    return np.array(sorted(out), dtype=np.int64)


def _eligible(p: _Prep, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(eligible mask, total_mv, circ_mv) per stock for a snapshot on open day s."""
    n = len(p.codes)
    lo, hi = (0, 1) if s == 0 else (max(0, s - _MV_WINDOW), s)
    rows = np.arange(p.b_bounds[lo], p.b_bounds[hi])
    total = np.full(n, np.nan)
    circ = np.full(n, np.nan)
    # rows ascend by day, so the last assignment per stock is its latest row in the window
    total[p.b_si[rows]] = p.b_total[rows]
    circ[p.b_si[rows]] = p.b_circ[rows]
    ds = p.day_str[s]
    listed = (p.list_s <= ds) & (ds < p.delist_s)
    ok = listed & np.isfinite(total) & np.isfinite(circ) & (total > 0) & (circ > 0)
    return ok, total, circ


def _members(
    ix: _Index, p: _Prep, elig: tuple[np.ndarray, np.ndarray, np.ndarray], stocks: int
) -> np.ndarray:
    ok, total, _ = elig
    mask = ok & np.isin(p.exchange, ix.exchanges)
    if ix.boards:
        mask &= np.isin(p.board, ix.boards)
    cand = np.flatnonzero(mask)
    if ix.band is None and not ix.top:
        return cand
    # Rank by total_mv, largest first; ties by code so the order never depends on the draw order.
    rank = cand[np.lexsort((p.codes[cand].astype("U"), -total[cand]))]
    if ix.top:
        return rank[: max(round(ix.top * stocks / REAL_UNIVERSE), MIN_MEMBERS)]
    a, b = ix.band  # type: ignore[misc]
    return rank[scaled_rank(a, stocks) if a else 0 : scaled_rank(b, stocks)]


def _quotes(market: MarketView) -> tuple[Frame, Frame]:
    # index_daily and index_weight come out of one build: cache it in the market's state.
    return market.state.once("index:quotes", lambda: _build_quotes(market))  # type: ignore[no-any-return]


def _build_quotes(market: MarketView) -> tuple[Frame, Frame]:
    p = _prep(market)
    days = market.trade_days
    T = len(days)
    snaps = _snapshot_days(days)
    elig_cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    w_cols: dict[str, list[np.ndarray]] = {k: [] for k in ("index_code", "con_code", "trade_date", "weight")}
    q_cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("ts_code", "trade_date", "close", "open", "high", "low", "pre_close", "change",
                        "pct_chg", "vol", "amount")
    }  # fmt: skip
    for ix in _BROAD:
        if not ix.quoted or T == 0:
            continue
        first = int(np.searchsorted(p.day_str, ix.base_date))  # first open day on/after the base date
        if first >= T:
            continue
        cand_days = sorted({first, *snaps[snaps >= first].tolist()})
        own: list[tuple[int, np.ndarray, np.ndarray]] = []
        for s in cand_days:
            if s not in elig_cache:
                elig_cache[s] = _eligible(p, s)
            mem = _members(ix, p, elig_cache[s], market.stocks)
            if len(mem) == 0:
                continue  # nothing to hold: the previous snapshot stays in force
            base = (elig_cache[s][2] if ix.circ else elig_cache[s][1])[mem]
            w = np.round(100.0 * base / base.sum(), 4)
            if w.sum() <= 0:
                continue
            own.append((s, mem, w))
            w_cols["index_code"].append(np.full(len(mem), ix.code, dtype=object))
            w_cols["con_code"].append(p.codes[mem])
            w_cols["trade_date"].append(np.full(len(mem), str(p.day_str[s]), dtype=object))
            w_cols["weight"].append(w)
        if not own:
            continue
        level0 = _start_level(market, ix)
        q = _index_series(p, own, T, level0)
        n = len(q["close"])
        q_cols["ts_code"].append(np.full(n, ix.code, dtype=object))
        q_cols["trade_date"].append(p.day_str[own[0][0] :].astype(object))
        for k, v in q.items():
            q_cols[k].append(v)

    def cat(cols: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
        return {k: (np.concatenate(v) if v else np.empty(0)) for k, v in cols.items()}

    return _finish("index_daily", cat(q_cols)), _finish("index_weight", cat(w_cols))


def _start_level(market: MarketView, ix: _Index) -> float:
    if ix.base_date >= _ymd(market.start):  # the index starts inside the range, at its base point
        return ix.base_point
    # Keyed by the index name, so the .SH and .SZ codes of one index share their level.
    rng = _rng(market, _salt("index_level"), _salt(ix.name))
    return float(ix.level * np.exp(rng.normal(0.0, 0.1)))


def _index_series(
    p: _Prep, own: list[tuple[int, np.ndarray, np.ndarray]], T: int, level0: float
) -> dict[str, np.ndarray]:
    """Levels from the first snapshot to the last open day (see the module docstring)."""
    n = len(p.codes)
    starts = np.array([s for s, _, _ in own], dtype=np.int64)
    W = np.zeros((len(own), n))
    for k, (_, mem, w) in enumerate(own):
        W[k, mem] = w / w.sum()
    keep = p.d_ti >= starts[0]
    si, ti = p.d_si[keep], p.d_ti[keep]
    period = np.searchsorted(starts, ti, side="right") - 1
    w_row = W[period, si]
    member = w_row > 0
    si, ti, period, w_row = si[member], ti[member], period[member], w_row[member]
    r, ro, rh, rl = (x[keep][member] for x in (p.d_r, p.d_ro, p.d_rh, p.d_rl))
    vol, amt = p.d_vol[keep][member], p.d_amt[keep][member]
    # Drift since the snapshot: exclusive running product of R per (stock, period); rows are
    # sorted by (stock, day), so each group is one contiguous run.
    m = len(si)
    if m:
        logr = np.log(r)
        excl = np.cumsum(logr) - logr
        new = np.ones(m, dtype=bool)
        new[1:] = (si[1:] != si[:-1]) | (period[1:] != period[:-1])
        head = np.maximum.accumulate(np.where(new, np.arange(m), 0))
        g = np.exp(excl - excl[head])
    else:
        g = np.empty(0)
    a = w_row * g
    L = T - int(starts[0])
    t0 = ti - starts[0]

    def day_sum(x: np.ndarray) -> np.ndarray:
        return np.bincount(t0, weights=x, minlength=L)[:L]

    num, num_o, num_h, num_l = (day_sum(a * (x - 1.0)) for x in (r, ro, rh, rl))
    vol_d, amt_d = day_sum(vol), day_sum(amt)
    is_snap = np.zeros(L, dtype=bool)
    is_snap[starts - starts[0]] = True
    close = np.empty(L)
    open_ = np.empty(L)
    high = np.empty(L)
    low = np.empty(L)
    pre = np.empty(L)
    level = level0
    pub_prev = round(level0, 4)
    denom = 1.0
    for t in range(L):  # per day per index: a few thousand steps
        if is_snap[t]:
            denom = 1.0  # sum of the fresh (normalised) snapshot weights
        ret = num[t] / denom
        new_level = level * (1.0 + ret)
        pre[t] = pub_prev
        close[t] = round(new_level, 4)
        open_[t] = round(level * (1.0 + num_o[t] / denom), 4)
        high[t] = max(round(level * (1.0 + num_h[t] / denom), 4), open_[t], close[t])
        low[t] = min(round(level * (1.0 + num_l[t] / denom), 4), open_[t], close[t])
        denom += num[t]
        level = new_level
        pub_prev = close[t]
    change = np.round(close - pre, 4)
    return {
        "close": close,
        "open": open_,
        "high": high,
        "low": low,
        "pre_close": pre,
        "change": change,
        "pct_chg": np.round(change / pre * 100.0, 4),
        "vol": np.round(vol_d, 2),
        "amount": np.round(amt_d, 3),
    }


def _served(api: str) -> Dataset:
    return Dataset(api, lambda m: frame(m, api))


DATASETS: tuple[Dataset, ...] = (
    _served("index_basic"),
    _served("index_daily"),
    _served("index_weight"),
    _served("index_classify"),
    _served("index_member_all"),
)
