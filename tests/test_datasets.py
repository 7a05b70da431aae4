import importlib.util
import json
from datetime import date

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.core.errors import SchemaError, UsageError
from neo.datasets import DATASETS, Strategy, get, spec_for_api
from neo.datasets.spec import api_schemas, cast_array, rows_to_table
from tests.conftest import FIRST_DATASETS, ROOT, SHARED

REQUIRED = list(FIRST_DATASETS)


def test_shipped_field_lists_match_shared_schemas() -> None:
    path = SHARED / "tushare" / "schemas.json"
    if not path.exists():
        pytest.skip("../shared is not beside this checkout")
    spec = importlib.util.spec_from_file_location("sync_fields", ROOT / "scripts" / "sync_fields.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.compact(json.loads(path.read_text(encoding="utf-8"))) == api_schemas(), (
        "run: python scripts/sync_fields.py"
    )


@pytest.mark.parametrize("name", REQUIRED)
def test_every_required_dataset_has_a_complete_spec(name: str) -> None:
    s = get(name)
    names = s.field_names
    assert set(s.key) <= set(names)
    assert s.date_column is None or s.schema.field(s.date_column).type == pa.date32()
    assert s.row_cap > 0 and s.api in api_schemas()
    assert all(spec_for_api(a) is s for a in s.apis)
    if s.strategy is Strategy.PERIOD:
        assert s.api == f"{name}_vip" and s.latest_key and set(s.latest_key) <= set(s.key)


def test_types_follow_the_api_field_lists() -> None:
    daily = get("daily").schema
    assert daily.field("trade_date").type == pa.date32()
    assert daily.field("close").type == pa.float64() and daily.field("ts_code").type == pa.string()
    assert get("trade_cal").schema.field("is_open").type == pa.string()
    assert get("income").schema.field("update_flag").type == pa.string()
    assert get("fina_indicator").row_cap == 5000 and spec_for_api("fina_indicator") is get("fina_indicator")
    assert get("stock_basic").snapshot_calls == tuple({"list_status": s} for s in "LDPG")


def test_unknown_dataset_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown dataset 'dialy'"):
        get("dialy")
    assert set(REQUIRED) <= set(DATASETS)


def test_reply_rows_become_typed_columns() -> None:
    t = rows_to_table(
        ["ts_code", "trade_date", "close", "vol"],
        [["000001.SZ", "20240102", 10.5, None], ["600000.SH", 20240103, "11.25", 3]],
        get("daily"),
    )
    assert t.schema.field("trade_date").type == pa.date32()
    assert t.column("trade_date").to_pylist() == [date(2024, 1, 2), date(2024, 1, 3)]
    assert t.column("close").to_pylist() == [10.5, 11.25]
    assert t.column("vol").to_pylist() == [None, 3.0]


def test_conform_adds_missing_columns_and_drops_unknown_ones() -> None:
    spec = get("adj_factor")
    t = pa.table({"ts_code": ["a"], "extra": [1], "trade_date": ["20240105"]})
    out = spec.conform(t)
    assert out.schema == spec.schema and out.column("adj_factor").to_pylist() == [None]


def test_an_all_null_column_and_numbers_as_text_keep_the_declared_type() -> None:
    spec = get("daily")
    nulls = spec.conform(pa.table({"close": pa.nulls(3)}))
    assert nulls.schema.field("close").type == pa.float64()
    text = spec.conform(pa.table({"close": ["1.5", " 2 ", ""]}))
    assert text.column("close").to_pylist() == [1.5, 2.0, None]


def test_uncastable_values_are_a_clear_schema_error() -> None:
    with pytest.raises(SchemaError, match=r"daily\.close: cannot cast string to double"):
        get("daily").conform(pa.table({"close": ["abc"]}))
    with pytest.raises(SchemaError, match="trade_date"):
        get("daily").conform(pa.table({"trade_date": ["2024-13-45"]}))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.floats(allow_nan=False, allow_infinity=False, width=32),
            st.integers(-(10**9), 10**9),
        ),
        max_size=20,
    ),
    st.booleans(),
)
def test_numbers_survive_any_mix_of_json_number_and_text(values: list, as_text: bool) -> None:
    raw = [None if v is None else (str(v) if as_text else v) for v in values]
    t = rows_to_table(["close"], [[v] for v in raw], get("daily"))
    assert t.column("close").type == pa.float64()
    assert t.column("close").to_pylist() == [None if v is None else float(v) for v in values]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.dates(date(1990, 1, 1), date(2099, 12, 31))), max_size=20),
    st.sampled_from(["str", "int"]),
)
def test_dates_parse_from_text_or_integers(values: list, kind: str) -> None:
    raw = [
        None if d is None else (d.strftime("%Y%m%d") if kind == "str" else int(d.strftime("%Y%m%d")))
        for d in values
    ]
    arr = cast_array(pa.array(raw), pa.date32())
    assert arr.to_pylist() == values
