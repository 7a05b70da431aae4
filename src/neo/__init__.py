"""neo: a local, always-current copy of Chinese A-share data as a Parquet lake queried with DuckDB."""

__version__ = "0.1.0"
