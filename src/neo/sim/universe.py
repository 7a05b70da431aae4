"""The universe of the simulated market: boards, names and per-stock economics (``stock_basic``),
the exchange calendar as a frame (``trade_cal``), and the fundamentals that bars and statements
share (``econ``, ``annual``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np

from neo.sim import calendar as cal
from neo.sim.state import NEVER, Dataset, Frame, State, Universe, api_fields, obj, readonly, salt

# --------------------------------------------------------------------------------------------------
# Static vocabulary for the universe
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Board:
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


BOARDS: tuple[Board, ...] = (
    Board("600", ((600000, 600999),), "SH", "SSE", "主板", 0.14, 0.10, dt.date(1994, 1, 1)),
    Board("601", ((601000, 601999),), "SH", "SSE", "主板", 0.06, 0.10, dt.date(2006, 6, 1)),
    Board("603", ((603000, 603999),), "SH", "SSE", "主板", 0.10, 0.10, dt.date(2011, 6, 1)),
    Board("688", ((688000, 688999),), "SH", "SSE", "科创板", 0.11, 0.20, dt.date(2019, 7, 22)),
    Board("000", ((1, 999),), "SZ", "SZSE", "主板", 0.09, 0.10, dt.date(1993, 1, 1)),
    Board("001", ((1201, 1999),), "SZ", "SZSE", "主板", 0.03, 0.10, dt.date(2016, 1, 4)),
    Board("002", ((2001, 2999),), "SZ", "SZSE", "主板", 0.17, 0.10, dt.date(2004, 6, 25)),
    Board("300", ((300001, 300999),), "SZ", "SZSE", "创业板", 0.18, 0.20, dt.date(2009, 10, 30)),
    Board(
        "8", ((830000, 839999), (870000, 873999)), "BJ", "BSE", "北交所", 0.03, 0.30, dt.date(2021, 11, 15)
    ),
    Board("920", ((920000, 920999),), "BJ", "BSE", "北交所", 0.012, 0.30, dt.date(2021, 11, 15)),
)


def table_rows(text: str, sep: str | None = None) -> list[list[str]]:
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
    for row in table_rows(
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
    for ind, w, ct, sfx in table_rows(
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
    for a, p, w, k in table_rows(
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


def build_universe(s: State) -> Universe:
    n = s.stocks
    rng = s.rng(salt("universe"))
    weights = np.array([b.weight for b in BOARDS])
    counts = _allocate(n, weights / weights.sum(), np.array([b.capacity for b in BOARDS]))
    nums: list[np.ndarray] = []
    boards: list[np.ndarray] = []
    for bi, (board, k) in enumerate(zip(BOARDS, counts, strict=True)):
        if k == 0:
            continue
        pool = np.concatenate([np.arange(lo, hi + 1) for lo, hi in board.ranges])
        nums.append(pool[rng.choice(len(pool), size=k, replace=False)])
        boards.append(np.full(k, bi))
    num = np.concatenate(nums)
    board = np.concatenate(boards)
    symbols = [f"{x:06d}" for x in num]
    codes = [f"{sym}.{BOARDS[b].suffix}" for sym, b in zip(symbols, board, strict=True)]
    order = sorted(range(n), key=codes.__getitem__)
    codes = [codes[i] for i in order]
    symbols = [symbols[i] for i in order]
    board = board[order]

    rng = s.rng(salt("attributes"))
    T = len(s.days)
    start_ord = s.start.toordinal()

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
        b = BOARDS[board[i]]
        hi = start_ord - 15
        lo = min(b.first_list.toordinal(), hi - 400)
        d = dt.date.fromordinal(lo + int(u_list[i] * (hi - lo)))
        list_ord[i] = (d if cal.is_open(d) else cal.prev_open_day(d)).toordinal()
    ipo_idx = rng.integers(1, max(T - 3, 2), size=n)
    if n_ipo:
        list_ord[ipo] = s.ords[ipo_idx[ipo]]
    list_idx = np.searchsorted(s.ords, list_ord).astype(np.int64)

    end_idx = np.full(n, T, dtype=np.int64)
    delist_ord = np.full(n, NEVER, dtype=np.int64)
    del_idx = rng.integers(min(5, max(T - 1, 0)), max(T, 1), size=n)
    if n_del:
        end_idx[delisted] = del_idx[delisted]
        delist_ord[delisted] = s.ords[del_idx[delisted]]
    pause_idx = np.full(n, T, dtype=np.int64)
    p_idx = rng.integers(T // 2, max(T - 2, T // 2 + 1), size=n)
    pause_idx[paused] = p_idx[paused]
    status = obj(["D" if d else "P" if p else "L" for d, p in zip(delisted, paused, strict=True)])

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
    growth = np.array([BOARDS[b].growth for b in board])
    # Banks, brokers and insurers list on the main boards only.
    redraw = rng.choice(np.arange(3, len(_INDUSTRIES)), size=n, p=ind_w[3:] / ind_w[3:].sum())
    industry = np.where(financial & growth, redraw, industry)
    comp_type = obj([_INDUSTRIES[k][2] for k in industry])
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
        b = BOARDS[board[i]]
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
    basic = readonly({k: obj(v) for k, v in cols.items()})
    return Universe(
        codes=obj(codes),
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


def trade_cal(s: State) -> Frame:
    # Like the real service, the calendar runs past "today" (end) to the end of its year:
    # exchanges publish their holidays in advance.
    last = dt.date(s.end.year, 12, 31)
    days = [dt.date.fromordinal(o) for o in range(s.start.toordinal(), last.toordinal() + 1)]
    cal_date: list[str] = []
    is_open: list[str] = []
    pretrade: list[str] = []
    prev = cal.prev_open_day(s.start)
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
    return readonly(
        {
            "exchange": obj([e for e in exchanges for _ in range(k)]),
            "cal_date": obj(cal_date * len(exchanges)),
            "is_open": obj(is_open * len(exchanges)),
            "pretrade_date": obj(pretrade * len(exchanges)),
        }
    )


def econ(s: State) -> dict[str, np.ndarray]:
    """Per-stock fundamentals that statements and daily_basic share (cheap, cached)."""

    def build() -> dict[str, np.ndarray]:
        u = s.u
        n = s.stocks
        rng = s.rng(salt("economics"))
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

    table: dict[str, np.ndarray] = s.once("econ", build)
    return table


def annual(s: State, year: int) -> dict[str, np.ndarray]:
    """Full-year revenue, net income and equity per stock (CNY) for ``year``."""
    e = econ(s)
    rng = s.rng(salt("annual"), year % (1 << 32))
    n = s.stocks
    k = year - (s.start.year - 1)
    revenue = e["revenue0"] * np.exp(e["growth"] * k + rng.normal(0.0, 0.08, size=n))
    margin = e["margin"] + rng.normal(0.0, 0.03, size=n)
    equity = revenue * e["eq_ratio"] * np.exp(rng.normal(0.0, 0.05, size=n))
    return {"revenue": revenue, "n_income": revenue * margin, "equity": equity}


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


# stock_basic is served by tradability.py: its names carry the ST prefix the name history decides.
DATASETS: tuple[Dataset, ...] = (Dataset("trade_cal", lambda m: trade_cal(m.state)),)
