"""Helpers the tests and the benchmarks share, kept out of the shipped package: running neo and its
simulator as processes (processes.py), and writing a legacy database as the old DBOperator did
(legacy_writer.py)."""
