"""Printing Arrow tables for people (a Rich table) and for programs (CSV, JSON)."""

from __future__ import annotations

import io
import sys
from enum import StrEnum
from typing import TextIO

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
from rich.console import Console
from rich.table import Table


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def show(
    table: pa.Table, fmt: Format, out: TextIO | None = None, max_rows: int = 30, title: str = ""
) -> None:
    out = out or sys.stdout
    if fmt is Format.csv:
        buf = io.BytesIO()
        pacsv.write_csv(table, buf)
        out.write(buf.getvalue().decode())
    elif fmt is Format.json:
        out.write(orjson.dumps(table.to_pylist(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        Console(file=out, width=200 if not out.isatty() else None).print(rich_table(table, max_rows, title))


def rich_table(table: pa.Table, max_rows: int = 30, title: str = "") -> Table:
    shown = min(max_rows, table.num_rows)
    caption = f"{table.num_rows} rows" + (f", first {shown} shown" if shown < table.num_rows else "")
    out = Table(title=title or None, caption=caption, caption_justify="left")
    for f in table.schema:
        numeric = pa.types.is_floating(f.type) or pa.types.is_integer(f.type)
        out.add_column(f.name, justify="right" if numeric else "left", no_wrap=True)
    for row in table.slice(0, shown).to_pylist():
        out.add_row(
            *("" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in row.values())
        )
    return out
