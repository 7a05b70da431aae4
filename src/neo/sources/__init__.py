"""Data sources. Tushare Pro is the only one; the simulator speaks the same protocol."""
