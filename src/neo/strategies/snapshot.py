"""The whole table in one or a few calls (spec.snapshot_calls), replaced as a whole each time it is
older than `refresh_hours`. There are no gaps: a snapshot is complete or not there."""

from __future__ import annotations

from datetime import date

from neo.datasets import DatasetSpec
from neo.lake.ledger import request_key
from neo.strategies.base import Context, DownloadStrategy, Request


class Snapshot(DownloadStrategy):
    def plan(
        self, ctx: Context, spec: DatasetSpec, start: date, end: date, codes: list[str] | None
    ) -> list[Request]:
        if ctx.stale(ctx.entries(spec).get(request_key({}))):
            return [Request(spec.name, {})]
        return []
