"""Tushare's protocol, shared by the simulator (`neo sim serve`) and the lake server (`neo serve`).

- `neo.protocol.rules`: how each API reads its params (range column, defaults, required, aliases).
- `neo.protocol.core`: request parsing, token, fields, params normalisation, paging, error replies,
  the `Service` base class and the `Source` interface a data source implements.
- `neo.protocol.minutes`: which bars a minute request's start_date/end_date select.
- `neo.protocol.http`: HTTP on Tushare's paths for any `Service`.
- `neo.protocol.lake`, `neo.protocol.coverage`, `neo.protocol.serve`, `neo.protocol.pro`: the lake
  as a data source, the check that the lake holds what a request asks, `neo serve`, and
  `neo.pro_api()` (the SDK's interface in process).
"""
