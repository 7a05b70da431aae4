"""The one list of APIs the simulator serves, built from what each generator module declares.

Every generator module has a ``DATASETS`` tuple of ``neo.sim.state.Dataset`` (API name and
builder). Registering a new family is one line: add its module's ``DATASETS`` to ``_FAMILIES``
below. ``Market.frame``/``Market.statement`` build through it. How each API reads its params (range
column, defaults, required params, aliases, per period) is not here but in the protocol's one table,
``neo.protocol.rules``, which ``neo serve`` shares; every API registered here must have a rule there.
"""

from __future__ import annotations

from types import MappingProxyType

from neo.sim import bars, corporate, index, minutes, statements, tradability, universe
from neo.sim.state import Dataset

__all__ = ["DATASETS", "base_api", "lookup"]

_FAMILIES: tuple[tuple[Dataset, ...], ...] = (
    universe.DATASETS,
    bars.DATASETS,
    statements.DATASETS,
    tradability.DATASETS,
    index.DATASETS,
    corporate.DATASETS,
    minutes.DATASETS,
)


def _collect() -> MappingProxyType[str, Dataset]:
    out: dict[str, Dataset] = {}
    for family in _FAMILIES:
        for ds in family:
            if ds.api in out:
                raise ValueError(f"API {ds.api!r} registered twice")
            ds.rule  # noqa: B018 - fails at import when the protocol has no rule for it
            out[ds.api] = ds
    return MappingProxyType(out)


DATASETS: MappingProxyType[str, Dataset] = _collect()


def base_api(api: str) -> str:
    """The registered name serving ``api``: a ``_vip`` variant is served as its base API unless
    it is registered itself."""
    return api if api in DATASETS else api.removesuffix("_vip")


def lookup(api: str) -> Dataset | None:
    """The Dataset serving ``api`` (``_vip`` variants included), or None when none does."""
    return DATASETS.get(base_api(api))
