"""neo: a local, always-current copy of Chinese A-share data as a Parquet lake queried with DuckDB."""

__version__ = "0.1.0"


def connect(settings=None):  # type: ignore[no-untyped-def]
    """A read-only DuckDB connection on metadata.db that works from any working directory.

    Every dataset is a view (`daily`, `income`, `income_latest`, `daily_qfq`...); see README.
    Setting it up writes nothing: without metadata.db (never synced, or damaged) the same views
    are built in memory. What the connection then runs is yours: DuckDB lets it COPY results to
    files or ATTACH other databases (docs/guide.md, "Python, pandas, Polars").
    """
    from neo.lake.query import connect as _connect

    return _connect(settings)


def pro_api(settings=None):  # type: ignore[no-untyped-def]
    """The tushare SDK's `pro_api()` over the local lake, in process: `pro.daily(trade_date=...)`,
    `pro.query("income", ts_code=..., fields=...)` return the SDK's DataFrames (needs pandas).

    Requests for data the lake has not downloaded raise, naming the `neo download` that fills them.
    """
    from neo.protocol.pro import ProApi

    return ProApi(settings)
