"""The planner: the fewest calls that bring the lake up to date, from each dataset's strategy
(neo/strategies), the trade calendar and the ledger.

It is gap-aware: a day (or week, month, report period, window) counts as covered only when the
ledger says its request was durably written and the lake really has rows for it, or the request
legitimately returned none. Anything else in the range is planned again, wherever it sits.
Recent report periods, growing windows and snapshots are re-pulled once they are older than
`refresh_hours`, to pick up restatements; nothing else is fetched twice, so re-running a finished
plan plans nothing. Days whose data is not yet published (Beijing time, per dataset) are left for a
later run. The strategies plan in a Context: the lake's read model (lake/model.py), read once per
plan, and the policy of what counts as covered and stale (strategies/base.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from neo.core.config import Settings
from neo.core.dates import beijing_now, fmt_day, parse_day
from neo.core.errors import UsageError
from neo.datasets import DATASETS, Strategy, get, opted_out
from neo.lake.ledger import Ledger
from neo.lake.model import LakeModel
from neo.strategies import Context, Policy, Request, for_spec

__all__ = ["Planner", "Request"]


class Planner:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        now: datetime | None = None,
        retry_failed: bool = False,
        queued_ttl: float = 0.0,
        refetch: bool = False,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        # --retry-failed: failed requests wait for it, not every run. --refetch: everything in the
        # range again, e.g. after the source revised it. queued_ttl: `neo dl` leaves requests
        # planned less than this many seconds ago alone (probably still on the queue); `neo
        # download` flushes its own queue and plans them again (0).
        self.policy = Policy(now or beijing_now(), retry_failed, refetch, queued_ttl)
        self.ctx = Context(LakeModel(settings, ledger), self.policy)

    def refresh(self) -> None:
        """Read the lake again: after the calendar or the stock list was written."""
        self.ctx.lake.close()
        self.ctx = Context(LakeModel(self.settings, self.ledger), self.policy)

    def plan(
        self,
        datasets: Iterable[str] | None = None,
        start: date | None = None,
        end: date | None = None,
        codes: list[str] | None = None,
    ) -> list[Request]:
        # A bare plan leaves out the opt-in datasets the settings do not ask for (minute bars).
        names = list(datasets or (n for n, s in DATASETS.items() if not opted_out(s, self.settings)))
        start = start or parse_day(self.settings.history_start, "history_start")
        today = self.ctx.today()
        end = min(end or today, today)
        if end < start:
            raise UsageError(f"--end {fmt_day(end)} is before --start {fmt_day(start)}")
        specs = [get(n) for n in names]
        # Snapshots first: the calendar and the stock list are what the other plans are made of.
        specs.sort(key=lambda s: s.date_column is not None)
        out: list[Request] = []
        for spec in specs:
            out += for_spec(spec).plan(self.ctx, spec, start, end, codes)
        return out

    def snapshots_due(self, datasets: Iterable[str]) -> list[Request]:
        """Snapshots never fetched, or older than refresh_hours."""
        return [r for r in self.plan(datasets) if get(r.dataset).strategy is Strategy.SNAPSHOT]
