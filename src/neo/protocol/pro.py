"""`neo.pro_api()`: the tushare SDK's `pro_api()` interface over the lake, in process (no HTTP).

``pro.daily(trade_date="20240102")``, ``pro.income(ts_code=..., fields="ts_code,revenue")`` or
``pro.query("daily", ...)`` take the SDK's arguments and return the DataFrame the SDK would build
from the same reply of `neo serve`: ``pd.DataFrame(items, columns=fields)``, so columns come in the
`fields` order and dtypes are what pandas infers from the JSON values (text for strings and dates,
float64 for numbers, int64 for integers). An error raises ``Exception(msg)`` as the SDK does,
including the lake's "not downloaded" reply. The object can be passed to the SDK's helpers, e.g.
``ts.pro_bar(ts_code=..., adj="qfq", api=neo.pro_api())``.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from neo.core.config import Settings, load_settings
from neo.protocol.core import MSG_API, Call, ProtocolError
from neo.protocol.serve import LakeService

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ProApi"]


class ProApi:
    """What ``tushare.pro_api()`` returns, answered from the lake. Thread-safe."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.service = LakeService(settings or load_settings())

    def query(self, api_name: str, fields: str | list[str] = "", **kwargs: Any) -> pd.DataFrame:
        import pandas as pd  # an optional dependency: only this interface needs it

        service = self.service
        try:
            if not service.knows(api_name):
                raise ProtocolError(40101, MSG_API)
            page = service.page(service.query(Call(api_name, "", dict(kwargs), fields)))
        except ProtocolError as exc:
            raise Exception(exc.msg) from None  # the SDK raises a bare Exception with the message
        return pd.DataFrame(page.items, columns=page.names)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return partial(self.query, name)

    def close(self) -> None:
        self.service.close()
