# Two commands for a newcomer: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow test-latest test-oldest test-install dist reliability lint bench bench-sim bench-lake bench-queue bench-compact bench-query bench-serve bench-cli bench-mins constraints clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "neo needs Python 3.11+ (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/neo demo

# Two test processes: most tests wait on servers and child processes, so two halve the wall time even
# on two cores; --dist loadfile keeps a file's tests (and its downloaded lake) on one process.
TEST_ARGS := -q -m "not slow" -n 2 --dist loadfile
test: $(STAMP)
	@scripts/ensure-redis.sh
	@scripts/ensure-chromium.sh
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/lint-imports
	$(BIN)/pytest $(TEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

# The suite on other dependency sets than constraints.txt, each in its own venv, with the outcome
# recorded in docs/compatibility.md: the newest releases pyproject's ranges allow (DuckDB 2.x
# included), and every runtime dependency at its lower bound.
test-latest:
	PYTHON=$(PYTHON) scripts/test-venv.sh latest $(TEST_ARGS)

test-oldest:
	PYTHON=$(PYTHON) scripts/test-venv.sh oldest $(TEST_ARGS)

# The wheel and sdist, in dist/.
dist: $(STAMP)
	rm -rf dist && $(BIN)/python -m build --outdir dist .

# Installs the built wheel into a fresh venv beside the newest duckdb, polars, pandas and pyarrow,
# checks that none of them changes, then runs `neo demo`, `neo query` and neo.pro_api() from there.
test-install: $(STAMP)
	PYTHON=$(PYTHON) scripts/test-install.sh

# The reliability suite at full scale (make test runs it bounded); rewrites docs/RELIABILITY.md.
reliability: $(STAMP)
	RELIABILITY=full $(BIN)/pytest -q tests/reliability

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/ruff format --check src tests scripts bench
	$(BIN)/lint-imports

# The benchmark suite; writes docs/BENCHMARKS.md. make bench SIZE=medium|large, BENCH_ARGS='--rounds 3'.
bench: $(STAMP)
	$(BIN)/python bench/suite.py --size $(or $(SIZE),small) $(BENCH_ARGS)

bench-sim: $(STAMP)
	$(BIN)/python bench/bench_sim.py

bench-lake: $(STAMP)
	$(BIN)/python bench/bench_lake.py

bench-queue: $(STAMP)
	$(BIN)/python bench/bench_queue.py

bench-compact: $(STAMP)
	$(BIN)/python bench/bench_compact.py

# neo serve against the simulator on the same data: whole-market daily calls, interleaved rounds.
bench-serve: $(STAMP)
	$(BIN)/python bench/bench_serve.py $(BENCH_ARGS)

# Analysts' queries: metadata.db against the native DuckDB table and the peer's layout (default size,
# about 20 minutes with the build). BENCH_ARGS='--keep' keeps the built states for the next run.
bench-query: $(STAMP)
	$(BIN)/python bench/bench_query.py $(BENCH_ARGS)

# neo's own commands (status, report, a download with nothing to do, verify) against `neo datasets`,
# on the demo lake; BENCH_ARGS='--lake DATA_ROOT' adds a large lake (e.g. bench-query's kept state b).
bench-cli: $(STAMP)
	$(BIN)/python bench/bench_cli.py $(BENCH_ARGS)

# Minute bars at scale: 1,000 stocks x a year of 1min bars (~58M) downloaded from the simulator, compacted,
# against native DuckDB tables (about an hour on 2 cores); BENCH_ARGS='--workdir DIR --keep'.
bench-mins: $(STAMP)
	$(BIN)/python bench/bench_mins.py $(BENCH_ARGS)

constraints: $(STAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^neo' | \
	  (echo "# Exact versions of everything neo and its dev tools install (pip install -c constraints.txt)."; \
	   echo "# Regenerate after changing pyproject.toml: make constraints"; cat) > constraints.txt

clean:
	rm -rf $(VENV) data .pytest_cache
