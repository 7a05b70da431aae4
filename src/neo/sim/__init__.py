"""A Tushare-compatible simulator: deterministic market data served over the real protocol, with
quotas, row caps, paging and injectable faults. `neo sim serve` runs it; tests attack the client with it.
"""
