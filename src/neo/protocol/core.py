"""Tushare's protocol, independent of where the rows come from.

A request is a JSON body ``{"api_name", "token", "params", "fields"}`` (the API may also come from
the path ``/dataapi/{api}``). `Service.handle` checks it in Tushare's order (malformed body, token,
unknown API, params not an object), lets a subclass gate it (the simulator's quotas and faults),
resolves ``fields`` (default set, or named ones, each known), normalises the params by the API's
rule (`neo.protocol.rules`: nulls and empty strings dropped, defaults applied, required params
checked, aliases split off), turns them into `Filter`s, and asks its data source for one page
(`limit`/`offset`, capped at the API's row cap, newest first). Errors are replies with Tushare's
codes and exact messages (NOTES.md), always HTTP 200.

A data source implements `Source.page(query) -> Page`; both the simulator's frames
(`neo.sim.query.SimSource`) and the lake (`neo.protocol.lake.LakeSource`) do.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from neo.datasets.spec import api_schemas
from neo.protocol.rules import ApiRule, base_api, rule_for

__all__ = [
    "MSG_API",
    "MSG_CHOICE",
    "MSG_DB",
    "MSG_FIELD",
    "MSG_INTERNAL",
    "MSG_MINUTE",
    "MSG_PERMISSION",
    "MSG_REQUIRED",
    "MSG_TOKEN",
    "Call",
    "EncodedPage",
    "Filter",
    "Page",
    "ProtocolError",
    "Query",
    "Reply",
    "Service",
    "Source",
    "day_text",
    "error_body",
    "int_param",
    "ok_body",
    "ok_data",
    "ok_data_encoded",
    "ok_reply",
    "resolve_fields",
    "split_values",
]

MSG_TOKEN = "您的token不对，请确认。"
MSG_API = "请指定正确的接口名"
MSG_MINUTE = (
    "抱歉，您每分钟最多访问该接口{n}次，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。"
)
MSG_PERMISSION = "抱歉，您没有接口访问权限，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。"
MSG_FIELD = "接口{api}不包含字段{field}"
MSG_DB = "服务器错误(数据库异常)，请稍后再试！期待您能把错误反馈给我们，谢谢！"
MSG_INTERNAL = "系统内部错误"
MSG_REQUIRED = "{params} required"
# No reply to a param value outside its set is on record: the wording is the simulator's own, in the
# style of the one English reply known ("ts_code required"), and -1000 is the code Tushare gives a
# malformed request, which a client must fix rather than retry.
MSG_CHOICE = "{param} must be one of {allowed}, not {value!r}"

PAGING = ("limit", "offset")


class ProtocolError(Exception):
    """A request answered with an error reply: Tushare's `code` and `msg`; `stat` names the
    counter a server with statistics bumps."""

    def __init__(self, code: int, msg: str, stat: str = "errors") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.stat = stat


@dataclass
class Reply:
    status: int
    body: bytes
    delay: float = 0.0  # seconds to stall before answering


@dataclass
class Call:
    """A parsed request whose token, API and params object were accepted."""

    api: str
    token: str
    params: dict[str, Any]
    fields: Any  # as sent: a comma-separated string, a list, or nothing
    extra: dict[str, Any] = field(default_factory=dict)  # what a gate wants to remember for later


@dataclass(frozen=True)
class Filter:
    """Rows whose `column` is one of `values`, or (a range) lies in [lo, hi] ('YYYYMMDD' text
    compared as text; "" and "99999999" mean unbounded). Null values never match."""

    column: str
    values: tuple[str, ...] = ()
    lo: str | None = None
    hi: str | None = None

    @property
    def is_range(self) -> bool:
        return self.lo is not None


@dataclass(frozen=True)
class Query:
    """One request, normalised: what a data source must answer.

    `params` are the call's params that are set (nulls and "" dropped) over the API's defaults,
    without limit/offset and without the aliased ones (in `aliased`, by the column they filter).
    `filters` says which rows match; `periods` (per-period APIs) the report periods asked for,
    None for all; `offset`/`limit` the page (limit already capped)."""

    api: str
    rule: ApiRule
    names: tuple[str, ...]
    params: dict[str, Any]
    aliased: dict[str, Any]
    filters: tuple[Filter, ...]
    periods: tuple[str, ...] | None
    offset: int
    limit: int

    @classmethod
    def build(
        cls, api: str, params: dict[str, Any], names: list[str], cap: int, ignore_offset: bool = False
    ) -> Query:
        """Raises ProtocolError(40101, "<param> required") when a required param is absent, and
        (-1000, MSG_CHOICE) when a param with a fixed set of values has another."""
        rule = rule_for(api)
        if rule is None:
            raise ProtocolError(40101, MSG_API)
        given = {k: v for k, v in params.items() if v is not None and v != ""}
        for group in rule.required:
            if not any(p in given for p in group):
                # The one real reply on record (waditu/tushare#1492) is code 40101, "ts_code required".
                raise ProtocolError(40101, MSG_REQUIRED.format(params=" or ".join(group)))
        for name, allowed in rule.choices.items():
            if name in given and str(given[name]) not in allowed:
                msg = MSG_CHOICE.format(param=name, allowed=", ".join(allowed), value=str(given[name]))
                raise ProtocolError(-1000, msg)
        offset = 0 if ignore_offset else int_param(given.get("offset"), 0)
        limit = min(int_param(given.get("limit"), cap) or cap, cap)
        merged = {**rule.defaults, **{k: v for k, v in given.items() if k not in PAGING}}
        # Moved aside, not renamed: forecast's end_date param bounds ann_date, its period is end_date.
        aliased = {col: merged.pop(name) for name, col in rule.aliases.items() if name in merged}
        periods = tuple(split_values(merged["period"])) if rule.per_period and "period" in merged else None
        return cls(
            api=api,
            rule=rule,
            names=tuple(names),
            params=merged,
            aliased=aliased,
            filters=_filters(api, rule, merged, aliased),
            periods=periods,
            offset=offset,
            limit=limit,
        )

    @property
    def base(self) -> str:
        return self.rule.api


def _filters(api: str, rule: ApiRule, params: dict[str, Any], aliased: dict[str, Any]) -> tuple[Filter, ...]:
    """Unknown params (no column of that name) are ignored, like the real service."""
    columns = {f["name"] for f in api_schemas()[base_api(api)]["fields"]}
    dc = rule.date_column
    out: list[Filter] = []
    if dc is not None and dc in params:
        out.append(Filter(dc, tuple(split_values(params[dc]))))
    elif rule.ranged and dc is not None and ("start_date" in params or "end_date" in params):
        lo, hi = str(params.get("start_date", "")), str(params.get("end_date", "99999999"))
        if not rule.moments:
            lo, hi = day_text(lo), day_text(hi)
        out.append(Filter(dc, lo=lo, hi=hi))
    for name, value in params.items():
        if name == dc or (rule.ranged and name in ("start_date", "end_date")):
            continue
        if rule.per_period and name == "period":
            continue  # selects the report periods (Query.periods)
        if name in columns:
            out.append(Filter(name, tuple(split_values(value))))
    out += [Filter(col, tuple(split_values(value))) for col, value in aliased.items()]
    return tuple(out)


# An ISO date, maybe with a time of day: '2024-01-02', '2024-01-02 09:30:00'.
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?: \d{2}:\d{2}(?::\d{2})?)?")


def day_text(value: str) -> str:
    """A start_date/end_date bounding a date column as 'YYYYMMDD' text: an ISO date or datetime as
    its day, anything else as it is (compared as text). The SDK's pro_bar asks adj_factor for the
    days of minute bars with the minute bounds ('2024-01-02 09:30:00') and adjusts the bars with
    the reply, which waditu/tushare#1756 reports Tushare answers (MINUTES.md, section 3)."""
    m = _ISO_DAY.fullmatch(value.strip())
    return "".join(m.groups()) if m else value


@dataclass
class Page:
    """One page of an answer: rows (tuples in `names` order, wire values: 'YYYYMMDD' text dates,
    None for missing) and whether more rows follow."""

    names: list[str]
    items: list[tuple[Any, ...]]
    has_more: bool

    def data(self) -> bytes:
        """The reply's `data` member."""
        return ok_data(self.names, self.items, self.has_more)


class EncodedPage(Page):
    """A page whose rows are already JSON (`items_json`, the items array as the wire carries it):
    the reply is put together without converting rows to Python values; `items` decodes them
    for the callers that want rows (in process, e.g. `neo.pro_api()`)."""

    def __init__(self, names: list[str], items_json: bytes, has_more: bool) -> None:
        self.names = names
        self.items_json = items_json
        self.has_more = has_more

    @property  # type: ignore[override]
    def items(self) -> list[Any]:
        return orjson.loads(self.items_json)  # type: ignore[no-any-return]

    def data(self) -> bytes:
        return ok_data_encoded(self.names, self.items_json, self.has_more)


class Source(Protocol):
    def page(self, query: Query) -> Page: ...


def split_values(v: Any) -> list[str]:
    """A param's values: a list, or a comma-separated string."""
    if isinstance(v, list | tuple):
        return [str(x) for x in v]
    return [s.strip() for s in str(v).split(",") if s.strip()]


def _kind(value: Any) -> str:
    """What a JSON value is, as a reply says it."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"the number {value}"
    if value is None:
        return "null"
    return f"the text {value!r}"


def _whole(value: Any) -> int | None:
    """A limit or offset as a whole number (the SDK sends numbers, some clients text), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def int_param(value: Any, default: int) -> int:
    try:
        return max(0, int(value)) if value is not None else default
    except (TypeError, ValueError):
        return default


def resolve_fields(api: str, requested: Any) -> list[str]:
    """The fields a reply carries: the API's default set when none are named, else the named ones
    in their order (each once); an unknown one is error -2001."""
    declared = api_schemas()[api]["fields"]
    if isinstance(requested, list):
        names = [str(x).strip() for x in requested]
    else:
        names = [x.strip() for x in str(requested or "").split(",")]
    names = list(dict.fromkeys(n for n in names if n))
    if not names:
        return [f["name"] for f in declared if f["default"]]
    known = {f["name"] for f in declared}
    for n in names:
        if n not in known:
            raise ProtocolError(-2001, MSG_FIELD.format(api=api, field=n))
    return names


def ok_data(names: list[str], items: list[Any], has_more: bool) -> bytes:
    """The `data` member of a reply, as JSON. NaN floats go out as null (orjson's rule), as Tushare
    sends missing numbers."""
    return orjson.dumps({"fields": names, "items": items, "has_more": has_more, "count": -1})


def ok_data_encoded(names: list[str], items_json: bytes, has_more: bool) -> bytes:
    """ok_data around rows already encoded as a JSON array, byte for byte what ok_data makes."""
    return b'{"fields":%s,"items":%s,"has_more":%s,"count":-1}' % (
        orjson.dumps(names),
        items_json,
        b"true" if has_more else b"false",
    )


def ok_reply(data: bytes) -> bytes:
    """A success reply around `data` (from ok_data): every reply gets its own request_id."""
    return b'{"request_id":"%s","code":0,"msg":"","data":%s}' % (uuid.uuid4().hex.encode(), data)


def ok_body(names: list[str], items: list[Any], has_more: bool) -> bytes:
    return ok_reply(ok_data(names, items, has_more))


def error_body(code: int, msg: str) -> bytes:
    return orjson.dumps({"request_id": uuid.uuid4().hex, "code": code, "msg": msg, "data": None})


class Service:
    """A Tushare-protocol server without HTTP: `handle(body, path_api) -> Reply`.

    Subclasses say which APIs they serve (`knows`), their row caps (`cap`) and how they answer a
    query (`answer`); `gate` and `deliver` are hooks around the answer (quotas, faults, latency)."""

    token: str | None = None  # only this token is accepted; None accepts any non-empty token
    ignore_offset: bool = False
    # A malformed request is code -1000; Tushare's text says only 系统内部错误. `neo serve` says
    # what is wrong instead; the simulator keeps Tushare's text.
    explain_malformed: bool = False

    def malformed(self, what: str) -> ProtocolError:
        return ProtocolError(-1000, f"neo serve: {what}" if self.explain_malformed else MSG_INTERNAL)

    def knows(self, api: str) -> bool:
        return api in api_schemas() and rule_for(api) is not None

    def cap(self, api: str) -> int:
        raise NotImplementedError

    def answer(self, call: Call, query: Query) -> bytes:
        raise NotImplementedError

    def gate(self, call: Call, arrived: float) -> Reply | None:
        """A reply to send instead of answering (a quota or a fault), or None to answer."""
        return None

    def deliver(self, call: Call, body: bytes) -> Reply:
        return Reply(200, body)

    def error(self, exc: ProtocolError) -> Reply:
        return Reply(200, error_body(exc.code, exc.msg))

    def parse(self, raw: bytes, path_api: str | None) -> Call:
        """The call a body asks for, checked in Tushare's order: a body that is not a JSON object,
        the token, the API name, then the params and fields (their shape and types)."""
        shape = 'a JSON object {"api_name": ..., "token": ..., "params": {...}, "fields": "a,b"}'
        try:
            req = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise self.malformed(
                f"the request body is {'empty' if not raw.strip() else 'not JSON'}; send {shape}"
            ) from None
        if not isinstance(req, dict):
            raise self.malformed(f"the request body is {_kind(req)}; send {shape}")
        api = str(req.get("api_name") or path_api or "")
        token = req.get("token")
        params = req.get("params") if req.get("params") is not None else {}
        if (
            not isinstance(token, str)
            or not token.strip()
            or (self.token is not None and token != self.token)
        ):
            raise ProtocolError(40101, MSG_TOKEN)
        if not self.knows(api):
            raise ProtocolError(40101, MSG_API)
        if not isinstance(params, dict):
            raise self.malformed(f"params must be a JSON object, {{}} for none; it is {_kind(params)}")
        for name, value in params.items():
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, dict | list) for v in values):
                raise self.malformed(
                    f"params.{name} must be text, a number or a list of them; it is {_kind(value)}"
                )
            if name in PAGING and value is not None and value != "" and _whole(value) is None:
                raise self.malformed(f"params.{name} must be a whole number; it is {value!r}")
        fields = req.get("fields")
        if not (
            fields is None
            or isinstance(fields, str)
            or (isinstance(fields, list) and all(isinstance(f, str) for f in fields))
        ):
            raise self.malformed(
                f"fields must be comma-separated text or a list of names; it is {_kind(fields)}"
            )
        return Call(api, token, params, fields)

    def query(self, call: Call) -> Query:
        names = resolve_fields(call.api, call.fields)
        return Query.build(call.api, call.params, names, self.cap(call.api), self.ignore_offset)

    def handle(self, raw: bytes, path_api: str | None = None, arrived: float | None = None) -> Reply:
        """Answer one request; `arrived` (time.monotonic()) is when it reached the server."""
        arrived = time.monotonic() if arrived is None else arrived
        try:
            call = self.parse(raw, path_api)
            early = self.gate(call, arrived)
            if early is not None:
                return early
            return self.deliver(call, self.answer(call, self.query(call)))
        except ProtocolError as exc:
            return self.error(exc)
