"""Maintenance as one job: compact, then vacuum past the grace period; and when it pays to run it
without being asked.

Every fresh file costs each query that reads its dataset (DuckDB opens it and reads its footer),
and fresh rows go through the views' latest-wins window. Once a partition holds more than
`compact_after_files` fresh files, `neo download` (at its end) and the maint queue (at each sync)
compact that dataset, so a history download is not left as thousands of small files and a daily
user's lake stays a few large files plus the last few days.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable

from neo.core.config import Settings
from neo.core.dates import parse_duration
from neo.datasets import DATASETS, DatasetSpec
from neo.lake import manifest
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
    """The datasets with a partition holding more than `compact_after_files` fresh files."""
    limit = settings.compact_after_files
    if limit <= 0:
        return []
    out = []
    for spec in specs or DATASETS.values():
        state = manifest.read(settings.lake_dir, spec).state
        fresh = manifest.fresh_files(settings.lake_dir, spec, range(state.fresh_from, state.generation + 1))
        per_partition = Counter(f.parent for f in fresh)
        if per_partition and max(per_partition.values()) > limit:
            out.append(spec)
    return out
