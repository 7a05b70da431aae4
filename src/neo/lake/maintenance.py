"""Maintenance as one job: compact, then vacuum past the grace period; and when it pays to run it
without being asked.

Every fresh file costs each query that reads its dataset (DuckDB opens it and reads its footer),
and fresh rows go through the views' latest-wins window. Once a partition holds more than
`compact_after_files` fresh files, `neo download` (at its end) and the maint queue (at each sync)
compact that dataset, so a history download is not left as thousands of small files and a daily
user's lake stays a few large files plus the last few days. So do a dataset's re-pulled files (a
report period or a day downloaded again), so that its view reads plain files again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from neo.core.config import Settings
from neo.core.dates import parse_duration
from neo.datasets import DATASETS, DatasetSpec
from neo.lake import layout, manifest
from neo.lake.compact import CompactResult, PartitionResult, compact
from neo.lake.vacuum import vacuum

log = logging.getLogger("neo.maintenance")


def maintain(
    settings: Settings,
    specs: Iterable[DatasetSpec] | None = None,
    on_partition: Callable[[str, PartitionResult], None] | None = None,
) -> list[CompactResult]:
    """Compact, then delete what compaction replaced more than `vacuum_grace` ago."""
    specs = list(specs) if specs is not None else None
    results = compact(settings, specs, on_partition)
    for r in results:
        if r.partitions:
            log.info("compacted %s: %d partitions in %.1fs", r.dataset, len(r.partitions), r.seconds)
    vacuum(settings, parse_duration(settings.vacuum_grace), specs)
    return results


def due(settings: Settings, specs: Iterable[DatasetSpec] | None = None) -> list[DatasetSpec]:
    """The datasets with a partition holding more than `compact_after_files` fresh files, or a
    fresh file that may share a key with another live file (a re-pulled report period or day):
    until compaction, such files go through the views' latest-wins window, which cost the
    statement shapes 1.2-1.5x a plain read of the same files in docs/BENCHMARKS.md, and merging
    them took 0.0-0.4 s a dataset there. `compact_after_files = 0` turns both off."""
    limit = settings.compact_after_files
    if limit <= 0:
        return []
    out = []
    for spec in specs or DATASETS.values():
        fresh = manifest.live(settings.lake_dir, spec).fresh
        per_partition = Counter(Path(f.rel).parent for f in fresh)
        repulled = not layout.is_snapshot(spec) and any(f.overlaps for f in fresh)  # snapshots: newest wins
        if (per_partition and max(per_partition.values()) > limit) or repulled:
            out.append(spec)
    return out
