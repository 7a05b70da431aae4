"""What a plan costs before it runs: calls per API and the time the quotas need for them.

Each API has its own quota and the fast queue downloads them concurrently, so the plan takes as
long as its busiest API: calls / quota windows. Paging past a row cap adds calls that only the
replies reveal, so the figures are a lower bound for datasets that page (index_weight, namechange).
Minute-bar calls know their rows (open days x bars a day), and so the bytes they add to the lake.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from neo.core.config import Settings
from neo.datasets import Strategy, get
from neo.strategies import Request


@dataclass
class ApiCost:
    api: str
    datasets: list[str]
    calls: int
    quota: int  # calls per quota window; 0 = unlimited
    minutes: float  # at the quota
    rows: int = 0  # what the calls return, where the plan knows it (minute bars), else 0
    bytes: int = 0  # ... and those rows on disk, by the dataset's measured bytes_per_row


@dataclass
class Estimate:
    apis: list[ApiCost] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(a.calls for a in self.apis)

    @property
    def minutes(self) -> float:
        return max((a.minutes for a in self.apis), default=0.0)

    @property
    def bytes(self) -> int:
        return sum(a.bytes for a in self.apis)

    def line(self) -> str:
        if not self.apis:
            return "plan: nothing to download"
        busiest = max(self.apis, key=lambda a: a.minutes)
        size = f"; about {size_text(self.bytes)} on disk for the minute bars" if self.bytes else ""
        return (
            f"plan: {self.calls:,} calls over {len(self.apis)} APIs; {_duration(self.minutes)} at the "
            f"configured quotas (the busiest API, {busiest.api}: {busiest.calls:,} calls){size}"
        )


def estimate(requests: list[Request], settings: Settings) -> Estimate:
    calls: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    size: Counter[str] = Counter()
    names: dict[str, list[str]] = {}
    for r in requests:
        spec = get(r.dataset)
        calls[spec.api] += len(spec.snapshot_calls) if spec.strategy is Strategy.SNAPSHOT else 1
        rows[spec.api] += r.rows or 0
        size[spec.api] += int((r.rows or 0) * (spec.bytes_per_row or 0))
        if r.dataset not in names.setdefault(spec.api, []):
            names[spec.api].append(r.dataset)
    out = Estimate()
    for api, n in calls.most_common():
        quota = settings.quota_for(api)
        minutes = n / quota * settings.quota_window / 60 if quota else 0.0
        out.apis.append(ApiCost(api, names[api], n, quota, minutes, rows[api], size[api]))
    return out


def size_text(n: int) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} B"


def _duration(minutes: float) -> str:
    if minutes < 1:
        return "under a minute"
    if minutes < 120:
        return f"about {minutes:.0f} min"
    return f"about {minutes / 60:.1f} h"
