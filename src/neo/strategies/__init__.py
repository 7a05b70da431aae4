"""Download strategies: how a dataset is covered by API calls, and what counts as a gap.

One module per strategy. Planning (`neo download`), gap detection (`neo status`, `neo verify`) and
the ledger entries `neo migrate` writes all ask the dataset's strategy, so a new way to download
is one new module registered below, and a new dataset only names its strategy in its spec.
"""

from __future__ import annotations

from neo.datasets import DatasetSpec, Strategy
from neo.strategies.base import Context, DownloadStrategy, Gap, Policy, Request, Scope, Unit, uncovered
from neo.strategies.calendar_days import CalendarDays
from neo.strategies.code_windows import CodeWindows
from neo.strategies.minute_bars import MinuteBars
from neo.strategies.periods import Periods
from neo.strategies.snapshot import Snapshot
from neo.strategies.stock_history import StockHistory

__all__ = [
    "Context",
    "DownloadStrategy",
    "Gap",
    "Policy",
    "Request",
    "Scope",
    "Unit",
    "for_spec",
    "strategies",
    "uncovered",
]

_STRATEGIES: dict[Strategy, DownloadStrategy] = {
    Strategy.TRADE_DATE: CalendarDays("all"),
    Strategy.WEEK_END: CalendarDays("week"),
    Strategy.MONTH_END: CalendarDays("month"),
    Strategy.PERIOD: Periods(),
    Strategy.CODE_WINDOWS: CodeWindows(),
    Strategy.STOCK_HISTORY: StockHistory(),
    Strategy.SNAPSHOT: Snapshot(),
    Strategy.MINUTE_BARS: MinuteBars(),
}


def for_spec(spec: DatasetSpec) -> DownloadStrategy:
    return _STRATEGIES[spec.strategy]


def strategies() -> dict[Strategy, DownloadStrategy]:
    """Every strategy, by the name a spec gives it."""
    return dict(_STRATEGIES)
