"""Printing Arrow tables for people (a Rich table) and for programs (CSV, JSON, Parquet files)."""

from __future__ import annotations

import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import TextIO

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from neo.core.errors import UsageError


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def emit(table: pa.Table, fmt: Format, output: Path | None, max_rows: int = 30, title: str = "") -> None:
    """Print a result, or write it to `output` in full (Parquet only goes to a file)."""
    if output is None:
        show(table, fmt, max_rows=max_rows, title=title)
        return
    try:
        if fmt is Format.parquet:
            pq.write_table(table, output, compression="zstd")
        else:
            with open(output, "w", encoding="utf-8", newline="") as f:
                show(table, fmt, f, max_rows=table.num_rows, title=title)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    print(f"wrote {table.num_rows} rows to {output}", file=sys.stderr)


def show(
    table: pa.Table, fmt: Format, out: TextIO | None = None, max_rows: int = 30, title: str = ""
) -> None:
    out = out or sys.stdout
    if fmt is Format.parquet:
        raise UsageError("--format parquet writes a file: add --output FILE")
    if fmt is Format.csv:
        buf = io.BytesIO()
        pacsv.write_csv(table, buf)
        out.write(buf.getvalue().decode())
    elif fmt is Format.json:
        rows = table.to_pylist()
        out.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
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
