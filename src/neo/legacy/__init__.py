"""The legacy DuckDB database the lake replaces: reading it (`source`), importing it (`migrate`,
`neo migrate`), proving the lake equal to it (`compare`, `neo verify --legacy`), and writing one the
way the old DBOperator.upsert did (`writer`: tests and benchmarks build their legacy databases
with it, as the anchor the lake is compared against)."""
