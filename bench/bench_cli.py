"""neo's own commands against the CLI's start-up floor, side by side in one run.

Goal (issue 22): `neo status` and `neo report` within 2x of `neo datasets` (which only starts the
CLI and prints a table: the floor every command pays) on the demo lake, within 3x on a large lake;
`neo download` with nothing to do (a rerun after a complete download) within 3x. `neo verify` reads
every value of every live file: it is reported against a plain DuckDB read of the same files
(every column of every row, fetched as Arrow).

Lakes:
  demo  `neo demo` (40 simulated stocks, June to December 2024, 24 datasets), built fresh in
        --workdir;
  large a data root passed with --lake (e.g. bench_query's state (b): 2,000 stocks x 4 years of
        daily, daily_basic, adj_factor and income, `python bench/bench_query.py --keep` keeps it
        under $TMPDIR/neo-bench-query/<size>/b). Its no-op download names the datasets it holds.

Each command runs as its own process, as a user runs it, with NEO_HOME set to the lake and
NEO_TUSHARE_URL pointing at a closed port, so a download that planned a call would fail (and the
benchmark stops) rather than reach a network. Rounds run every command of a lake one after the
other (interleaved), after one untimed warm-up round; figures are medians of wall time.

Usage: python bench/bench_cli.py [--rounds 7] [--lake DATA_ROOT] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from _results import save

from neo.core.config import load_settings
from neo.datasets import DATASETS
from neo.lake import manifest

NEO = str(Path(sys.executable).with_name("neo"))
DEMO_START, DEMO_END = "20240601", "20241231"  # neo.demo's FIRST_DAY and MARKET_END


def closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lake:
    name: str
    home: Path
    goal: float  # status and report within this many times `neo datasets`
    download: list[str]  # the no-op download's arguments
    env: dict[str, str] = field(default_factory=dict)


def env_for(home: Path, extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "NEO_HOME": str(home),
        "NEO_CONFIG": str(home / "absent.toml"),
        "TUSHARE_TOKEN": "bench",
        "NEO_TUSHARE_URL": f"http://127.0.0.1:{closed_port()}",
        "NEO_RETRIES": "0",
        "COLUMNS": "200",
        **extra,
    }


def commands(lake: Lake, out: Path) -> dict[str, list[str]]:
    return {
        "datasets": ["datasets"],
        "status": ["status"],
        "report": ["report", "--output", str(out / f"{lake.name}-report.html")],
        "download (nothing to do)": ["download", *lake.download],
        "verify": ["verify"],
    }


def timed(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([NEO, *args], env=env, capture_output=True, text=True, timeout=3600)
    return time.perf_counter() - started, done


def plain_read(home: Path) -> float:
    """Every column of every row of every live file, read by DuckDB as Arrow: what verify reads."""
    lake = load_settings(home=home).lake_dir
    files = [str(p) for spec in DATASETS.values() for p in manifest.live_files(lake, spec)]
    con = duckdb.connect()
    started = time.perf_counter()
    for f in files:
        reader = con.sql(f"SELECT * FROM read_parquet('{f}')").to_arrow_reader(65_536)
        for _ in reader:
            pass
    return time.perf_counter() - started


def check(name: str, args: list[str], done: subprocess.CompletedProcess[str]) -> None:
    ok = done.returncode == 0 or (args[0] == "verify" and done.returncode == 1)  # verify may find gaps
    if not ok:
        raise SystemExit(f"{name}: `neo {' '.join(args)}` exited {done.returncode}: {done.stderr[-400:]}")
    if args[0] == "download" and " 0 calls planned" not in done.stdout:
        raise SystemExit(f"{name}: the no-op download planned calls: {done.stdout.strip()}")


def measure(lake: Lake, rounds: int, out: Path) -> dict[str, list[float]]:
    cmds = commands(lake, out)
    times: dict[str, list[float]] = {k: [] for k in [*cmds, "plain DuckDB read of the same files"]}
    for r in range(rounds + 1):
        for name, args in cmds.items():
            seconds, done = timed(args, lake.env)
            check(lake.name, args, done)
            if r:
                times[name].append(seconds)
        if r:
            times["plain DuckDB read of the same files"].append(plain_read(lake.home))
        print(f"  {lake.name}: {'warm-up' if r == 0 else f'round {r}/{rounds}'} done", flush=True)
    return times


def build_demo(workdir: Path) -> Lake:
    root = workdir / "home"
    env = env_for(root / "demo", {})
    env["NEO_HOME"] = str(root)  # neo demo writes <NEO_HOME>/demo
    if not (root / "demo" / "metadata.db").exists():
        print("building the demo lake (neo demo)", flush=True)
        subprocess.run([NEO, "demo"], env=env, check=True, capture_output=True, timeout=1800)
    home = root / "demo"
    extra = {"NEO_HISTORY_START": DEMO_START}
    return Lake("demo", home, 2.0, ["--end", DEMO_END], env_for(home, extra))


def large_lake(home: Path) -> Lake:
    lake = load_settings(home=home).lake_dir
    held = [s.name for s in DATASETS.values() if manifest.live_files(lake, s)]
    ends = duckdb.sql(
        "SELECT strftime(max(cal_date), '%Y%m%d') FROM read_parquet("
        f"{[str(p) for p in manifest.live_files(lake, DATASETS['trade_cal'])]}) WHERE is_open = '1'"
    ).fetchall()
    first = duckdb.sql(
        "SELECT strftime(min(cal_date), '%Y%m%d') FROM read_parquet("
        f"{[str(p) for p in manifest.live_files(lake, DATASETS['trade_cal'])]})"
    ).fetchall()
    end, start = ends[0][0], first[0][0]
    extra = {"NEO_HISTORY_START": start}
    # The last day the lake's daily holds, not the calendar's last open day: bench_query's states
    # (a) and (b) were downloaded to D-1 with a calendar that runs to D.
    if daily := [str(p) for p in manifest.live_files(lake, DATASETS["daily"])]:
        end = duckdb.sql(f"SELECT strftime(max(trade_date), '%Y%m%d') FROM read_parquet({daily})").fetchall()[
            0
        ][0]
    # The indices the lake's index_weight holds (bench_query downloads CSI 300 only), not the default list.
    if weights := [str(p) for p in manifest.live_files(lake, DATASETS["index_weight"])]:
        codes = duckdb.sql(f"SELECT DISTINCT index_code FROM read_parquet({weights}) ORDER BY 1").fetchall()
        extra["NEO_INDICES"] = json.dumps([c[0] for c in codes])
    data = [d for d in held if DATASETS[d].date_column is not None and d not in ("trade_cal",)]
    return Lake("large", home, 3.0, [*data, "--end", end], env_for(home, extra))


def report(results: dict[str, dict[str, list[float]]], lakes: dict[str, Lake], rounds: int) -> list[str]:
    lines = [
        "## neo's own commands against the CLI's start-up floor (`make bench-cli`)",
        "",
        f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}; load average at the end {os.getloadavg()[0]:.1f}. "
        f"Medians of {rounds} interleaved rounds after one warm-up; each command its own process.",
        "",
        "| lake | command | median | / `neo datasets` | goal |",
        "|---|---|---|---|---|",
    ]
    for name, times in results.items():
        lake = lakes[name]
        floor = statistics.median(times["datasets"])
        for cmd, ts in times.items():
            m = statistics.median(ts)
            goal = ""
            if cmd in ("status", "report"):
                goal = f"<= {lake.goal:g}x: {'met' if m / floor <= lake.goal else '**not met**'}"
            elif cmd.startswith("download"):
                goal = f"<= 3x: {'met' if m / floor <= 3 else '**not met**'}"
            ratio = f"{m / floor:.2f}x" if not cmd.startswith("plain") else ""
            lines.append(f"| {name} | {cmd} | {m * 1000:,.0f} ms | {ratio} | {goal} |")
        verify, plain = (
            statistics.median(times["verify"]),
            statistics.median(times["plain DuckDB read of the same files"]),
        )
        lines.append(f"| {name} | verify / plain read | | {verify / plain:.2f}x | |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--lake", type=Path, help="a large data root to measure beside the demo lake")
    ap.add_argument("--workdir", type=Path, help="where the demo lake is built (default: a temporary dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        out = Path(tmp)
        lakes = {"demo": build_demo(workdir)}
        if args.lake:
            lakes["large"] = large_lake(args.lake.resolve())
        results = {name: measure(lake, args.rounds, out) for name, lake in lakes.items()}
    lines = report(results, lakes, args.rounds)
    print("\n".join(lines))
    save("cli", lines)


if __name__ == "__main__":
    main()
