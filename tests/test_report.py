"""`neo report`: the coverage it gathers from a lake with deliberate gaps and a failed request, the
page it writes (escaped, self-contained), its command line, and the page in a real headless browser."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.core.config import Settings
from neo.lake.layout import is_placeholder
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.report import LakeReport, Status, gather, render
from neo.report.coverage import DatasetCoverage, Failure, Month, Year
from neo.sim.server import SimConfig, running
from tests.conftest import client_settings
from tests.support.processes import neo_command

END = date(2024, 4, 30)
DATASETS = [
    "trade_cal",
    "stock_basic",
    "daily",
    "daily_basic",
    "income",
    "index_daily",
    "dividend",
    "moneyflow",
]
FAST = {"history_start": "20240101", "task_retry_delay": 0.05, "sync_minutes": 0, "retries": 12}
NOW = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)  # the page's generation time, fixed: no test reads the clock
HOLE = "20240117"  # one day deleted from daily, then its download refused
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _download(settings: Settings, datasets: list[str]) -> runner.Summary:
    with AppContainer(settings) as container:
        return runner.download(container, datasets=datasets, end=END)


def _day(path: Path) -> date:
    return pq.read_table(path, columns=["trade_date"]).column(0)[0].as_py()


def _files(settings: Settings, dataset: str) -> list[Path]:
    return [f for f in (settings.lake_dir / dataset).rglob("*.parquet") if not is_placeholder(f)]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """January to April 2024 of a few datasets, one of each strategy, with deliberate damage: moneyflow
    refused by the server (every call failed), daily missing one day whose download then failed,
    daily_basic missing all of March."""
    home = tmp_path_factory.mktemp("report")
    market = {"stocks": 12, "start": date(2024, 1, 1), "end": END, "seed": 7}
    with running(SimConfig(**market, deny=frozenset({"moneyflow"}))) as server:
        settings = client_settings(server, home, **FAST, compact_after_files=0)  # a file per day
        summary = _download(settings, DATASETS)
    assert summary.failed == summary.progress["moneyflow"].failed > 0
    (hole,) = [f for f in _files(settings, "daily") if f"{_day(f):%Y%m%d}" == HOLE]
    hole.unlink()
    march = [f for f in _files(settings, "daily_basic") if _day(f).month == 3]
    assert len(march) > 15
    for f in march:
        f.unlink()
    with running(SimConfig(**market, deny=frozenset({"daily"}))) as server:  # the hole's re-download fails
        again = _download(client_settings(server, home, **FAST, compact_after_files=0), ["daily"])
    assert (again.planned, again.failed) == (1, 1)
    yield settings


@pytest.fixture(scope="module")
def report(lake: Settings) -> LakeReport:
    return gather(lake, now=NOW)


@pytest.fixture(scope="module")
def page(report: LakeReport, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("page") / "report.html"
    path.write_text(render(report), encoding="utf-8")
    return path


def _by_name(report: LakeReport) -> dict[str, DatasetCoverage]:
    return {d.name: d for d in report.datasets}


def _month(d: DatasetCoverage, year: int, month: int) -> Month:
    (y,) = [y for y in d.years if y.year == year]
    return y.months[month - 1]


# -- the gathered model ----------------------------------------------------------------------------


def test_a_deleted_day_makes_its_month_partial_and_names_the_day(report: LakeReport) -> None:
    daily = _by_name(report)["daily"]
    assert daily.status is Status.PARTIAL and daily.missing == (HOLE,)
    january = _month(daily, 2024, 1)
    assert january.status is Status.PARTIAL and january.missing == (HOLE,)
    assert january.covered == january.expected - 1
    assert [_month(daily, 2024, m).status for m in (2, 3, 4)] == [Status.COMPLETE] * 3
    assert [_month(daily, 2024, m).status for m in range(5, 13)] == [Status.NONE] * 8


def test_a_deleted_month_is_missing_between_complete_ones(report: LakeReport) -> None:
    basic = _by_name(report)["daily_basic"]
    statuses = [_month(basic, 2024, m).status for m in (1, 2, 3, 4)]
    assert statuses == [Status.COMPLETE, Status.COMPLETE, Status.MISSING, Status.COMPLETE]
    march = _month(basic, 2024, 3)
    assert march.covered == 0 and len(march.missing) == march.expected > 15
    assert basic.status is Status.PARTIAL and set(basic.missing) == set(march.missing)


def test_coverage_is_exactly_what_neo_status_reports_missing(lake: Settings, report: LakeReport) -> None:
    from neo.report.status import status

    result = status(lake)
    datasets, failed = result.datasets, result.failed
    assert {d.dataset: tuple(d.missing) for d in datasets} == {d.name: d.missing for d in report.datasets}
    assert sorted((e.dataset, e.request) for e in failed) == sorted(
        (f.dataset, f.request) for f in report.failures
    )


def test_failed_requests_keep_their_reasons(report: LakeReport) -> None:
    by_name = _by_name(report)
    (hole,) = by_name["daily"].failures
    assert hole.request == f'{{"trade_date":"{HOLE}"}}' and "permission" in hole.reason
    moneyflow = by_name["moneyflow"]
    assert moneyflow.status is Status.NOT_DOWNLOADED and moneyflow.rows == 0
    assert len(moneyflow.failures) > 50 and all("permission" in f.reason for f in moneyflow.failures)


def test_rows_per_year_are_the_views_rows_and_other_strategies_are_whole(
    lake: Settings, report: LakeReport
) -> None:
    from neo.lake.catalog import open_lake

    by_name = _by_name(report)
    con = open_lake(lake)
    try:
        for name in ("daily", "daily_basic", "income", "index_daily", "stock_basic"):
            (rows,) = con.sql(f"SELECT count(*) FROM {name}").fetchall()[0]
            assert by_name[name].rows == rows > 0, name
    finally:
        con.close()
    daily = by_name["daily"]
    assert [y.year for y in daily.years] == [2024] and daily.years[0].rows == daily.rows
    for name in ("income", "index_daily", "dividend", "stock_basic", "trade_cal"):
        assert by_name[name].status is Status.COMPLETE, (name, by_name[name].missing[:3])
    income = by_name["income"]  # report periods: only quarter-end months expect anything
    assert [m.month for m in income.years[0].months if m.status is not Status.NONE] == [3]
    assert by_name["stock_basic"].by_month is False and by_name["dividend"].by_month is False
    assert by_name["daily"].updated is not None and by_name["daily"].last_call is not None
    assert report.generated == NOW and report.calendar is not None


# -- the page ----------------------------------------------------------------------------------------


def test_the_page_shows_the_gap_the_missing_month_and_the_failures(page: Path, report: LakeReport) -> None:
    text = page.read_text(encoding="utf-8")
    assert "2030-01-02 03:04 UTC" in text and str(report.root) in text
    # The January cell of daily says partial, and names the day, in its tooltip.
    assert re.search(rf'<td class="c partial" title="January 2024: partial, [^"]*missing {HOLE}"', text)
    assert re.search(r'<td class="c missing" title="March 2024: missing, 0 of \d+ open days covered', text)
    assert (
        "no permission" in text and "moneyflow" in text and f"{{&quot;trade_date&quot;:&quot;{HOLE}" in text
    )
    assert report.summary() in text.replace("&#x27;", "'")
    for status in ("complete", "partial", "missing", "nothing expected"):  # the legend, in words
        assert f"<b>{status}</b>" in text


RESOURCE = re.compile(
    r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//)|url\(\s*["']?\s*(?:https?:)?//"""
    r"|@import|<link\b|<script\b|<iframe\b|<object\b|<embed\b|<img\b",
    re.IGNORECASE,
)


def test_the_page_is_self_contained(page: Path) -> None:
    assert RESOURCE.search(page.read_text(encoding="utf-8")) is None


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.text += [v or "" for _, v in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parsed(page: str) -> _Collector:
    parser = _Collector()
    parser.feed(page)
    return parser


def _report_with(text: str) -> LakeReport:
    months = tuple(Month(2024, m, Status.PARTIAL, 2, 1, (text,)) for m in range(1, 13))
    failure = Failure(text, text, text, NOW)
    dataset = DatasetCoverage(
        name=text, description=text, units="open days", status=Status.PARTIAL, rows=3, files=1,
        first=date(2024, 1, 2), last=date(2024, 12, 31), updated=NOW, last_call=NOW, expected=24,
        covered=12, missing=(text,) * 12, years=(Year(2024, 3, months),), undated_rows=1, failures=(failure,),
    )  # fmt: skip
    return LakeReport(Path("/data") / text.replace("/", "_").replace("\0", "_"), NOW, None, (dataset,))


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_every_string_is_escaped(text: str) -> None:
    """Whatever a dataset name, request, reason or path holds, it adds no tag to the page and comes
    back as the same text."""
    plain = _parsed(render(_report_with("x")))
    tricky = _parsed(render(_report_with(text)))
    assert tricky.tags == plain.tags
    assert any(text in chunk for chunk in tricky.text)


# -- the command line ---------------------------------------------------------------------------------


def neo(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_") and k != "TUSHARE_TOKEN"}
    env |= {"NEO_HOME": str(home), "NEO_CONFIG": str(home / "absent.toml")}
    return subprocess.run([*neo_command(), *args], capture_output=True, text=True, env=env, timeout=120)


def test_an_empty_lake_gives_a_page_saying_nothing_is_downloaded(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    out = neo("report", home=tmp_path / "data")
    target = tmp_path / "data" / "report.html"
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"wrote {target} (nothing downloaded yet; 0 failed requests)"
    text = target.read_text(encoding="utf-8")
    assert 'id="nothing"' in text and "Nothing is downloaded yet" in text and 'class="heat"' not in text
    assert RESOURCE.search(text) is None


@pytest.mark.parametrize("where", ["no-such-dir/report.html", "a-file/report.html", "."])
def test_an_unwritable_output_is_one_line_and_non_zero(tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "data").mkdir()
    out = neo("report", "--output", str(tmp_path / where), home=tmp_path / "data")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.startswith("error: cannot write the report to ") and out.stderr.count("\n") == 1
    assert not list(tmp_path.rglob(".*.tmp")), "a temporary file was left behind"


def test_help_names_the_default_output() -> None:
    out = subprocess.run([*neo_command(), "report", "--help"], capture_output=True, text=True, timeout=60)
    words = " ".join(re.sub(r"[│╭╮╰╯─]", " ", out.stdout).split())  # rich's box, wrapped to its width
    assert out.returncode == 0 and "--output" in words and "default: report.html in the data root" in words


# -- a real browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through its own chromedriver (scripts/ensure-chromium.sh)."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("chromium not installed: run scripts/ensure-chromium.sh as root (make test does)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


READABILITY = """
const heat = document.querySelector('table.heat');
const box = heat ? heat.getBoundingClientRect() : null;
const cell = document.querySelector('table.heat td.c');
const small = [...document.querySelectorAll('body *')]
  .filter(e => e.offsetParent !== null && e.childNodes.length && [...e.childNodes].some(
    n => n.nodeType === 3 && n.textContent.trim()) && !e.closest('.sr'))
  .map(e => parseFloat(getComputedStyle(e).fontSize)).filter(px => px < 12);
return {
  scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
  bodyFont: parseFloat(getComputedStyle(document.body).fontSize), smallest: small,
  heat: box && box.width > 100 && box.height > 20 && box.right <= window.innerWidth,
  cell: cell ? cell.getBoundingClientRect().width : 0,
  height: document.documentElement.scrollHeight,
};
"""


@pytest.mark.parametrize(("width", "mobile"), [(1280, False), (390, True)])
def test_the_page_in_headless_chromium_is_readable_at_desktop_and_phone_widths(
    browser: Any, page: Path, width: int, mobile: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    started = time.monotonic()
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    browser.get(page.as_uri())
    found = browser.execute_script(READABILITY)
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    # The whole page, for a person to look at: under the pytest tmp dir (shown by -v at the end).
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {**metrics, "height": min(found["height"], 8000)}
    )
    shot = _screenshots(tmp_path_factory) / f"report-{width}.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"screenshot: {shot} ({time.monotonic() - started:.1f}s)")
    assert errors == [], errors
    assert found["innerWidth"] == width
    assert found["scrollWidth"] <= width, f"horizontal overflow at {width}px: {found['scrollWidth']}px"
    assert found["bodyFont"] >= 14 and found["smallest"] == [], found["smallest"]
    assert found["heat"], "the heatmap is not visible within the viewport"
    assert found["cell"] >= 14, f"month cells are {found['cell']}px wide"


def _screenshots(factory: pytest.TempPathFactory) -> Path:
    path = factory.getbasetemp() / "screenshots"
    path.mkdir(exist_ok=True)
    return path
