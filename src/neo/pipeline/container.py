"""AppContainer: the composition root of the pipeline, which builds its components from settings,
once each: the client and its quota gate, the processor and the writer, the ledger, the publisher."""

from __future__ import annotations

from functools import cached_property

from neo.core.config import Settings, load_settings
from neo.core.errors import check_writable
from neo.datasets import DATASETS
from neo.lake import manifest
from neo.lake.catalog import Publisher
from neo.lake.ledger import Ledger
from neo.lake.writer import ParquetWriter
from neo.pipeline.processor import SimpleDataProcessor
from neo.sources.quota import QuotaGate
from neo.sources.tushare import TushareClient


class AppContainer:
    def __init__(self, settings: Settings | None = None) -> None:
        """For the commands that write (download, dl, dp, migrate, demo); reading commands read the
        lake's read model (lake/model.py) and build no container."""
        self.settings = settings or load_settings()
        check_writable(self.settings.home)  # the ledger, queues and quotas all write under it

    @cached_property
    def quota(self) -> QuotaGate:
        return QuotaGate(self.settings)

    @cached_property
    def client(self) -> TushareClient:
        return TushareClient(self.settings, quota=self.quota)

    @cached_property
    def writer(self) -> ParquetWriter:
        s = self.settings
        for spec in DATASETS.values():  # a lake from an older neo: its files recorded first
            manifest.adopt(s.lake_dir, spec)
        return ParquetWriter(s.lake_dir, s.rejected_dir, fsync=s.fsync)

    @cached_property
    def publisher(self) -> Publisher:
        """Syncs metadata.db after writes (catalog.Publisher); closed, so flushed, with the container."""
        return Publisher(self.settings)

    @cached_property
    def processor(self) -> SimpleDataProcessor:
        return SimpleDataProcessor()

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.settings.ledger_path)

    def close(self) -> None:
        if "publisher" in self.__dict__:
            self.publisher.close()
        if "client" in self.__dict__:
            self.client.close()
        if "quota" in self.__dict__:
            self.quota.close()

    def __enter__(self) -> AppContainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
