"""The whole table in one or a few calls (spec.snapshot_calls), replaced as a whole each time it is
older than `refresh_hours`. There are no gaps: a snapshot is complete or not there."""

from __future__ import annotations

from datetime import date

from neo.datasets import DatasetSpec
from neo.lake.ledger import request_key
from neo.strategies.base import Context, DownloadStrategy, Gap, Request, Scope, done_requests


class Snapshot(DownloadStrategy):
    def plan(
        self, ctx: Context, spec: DatasetSpec, start: date, end: date, codes: list[str] | None
    ) -> list[Request]:
        if ctx.stale(ctx.entries(spec).get(request_key({}))):
            return [Request(spec.name, {})]
        return []

    def gap(self, ctx: Context, spec: DatasetSpec, scope: Scope) -> Gap | None:
        """A snapshot is whole once downloaded."""
        if done_requests(ctx.entries(spec).values()):
            return None
        return Gap(spec.name, "snapshots", ["never downloaded"], f"neo download {spec.name}")
