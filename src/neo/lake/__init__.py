"""The lake: typed, atomic Parquet files (writer), and metadata.db views over them (catalog)."""
