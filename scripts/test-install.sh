#!/usr/bin/env bash
# Builds the wheel and sdist, then installs the wheel into a fresh venv that already holds a research
# stack (the newest duckdb, polars, pandas and pyarrow) and checks what a user would:
#   - installing neo changes the version of none of the packages already there;
#   - `neo demo`, `neo query` and neo.pro_api() work from the installed package, outside the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=${PYTHON:-python3}
venv=$root/.venv-install
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rm -rf dist "$venv"
if ! "${BUILD_PYTHON:-$root/.venv/bin/python}" -m build --outdir dist . > "$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  exit 1
fi
wheel=$(ls dist/*.whl)
ls dist/*.tar.gz >/dev/null
echo "built $(basename "$wheel") and $(basename dist/*.tar.gz)"

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet duckdb polars pandas pyarrow
"$venv/bin/python" -m pip freeze --all | sort > "$work/before.txt"
echo "research stack: $(grep -iE '^(duckdb|polars|pandas|numpy|pyarrow)==' "$work/before.txt" | tr '\n' ' ')"
"$venv/bin/python" -m pip install --quiet "$wheel"
"$venv/bin/python" -m pip freeze --all | sort > "$work/after.txt"
# Every package that was there before keeps its version (lines only in 'before' were changed).
changed=$(comm -23 "$work/before.txt" "$work/after.txt")
if [ -n "$changed" ]; then
  echo "installing the wheel changed: $changed" >&2
  exit 1
fi
echo "installing the wheel changed none of the $(wc -l < "$work/before.txt") packages already installed"

cd "$work"
export NEO_HOME=$work/data
"$venv/bin/neo" demo
# The demo writes its lake under <NEO_HOME>/demo; query it as its closing hint says.
stocks=$(NEO_HOME=$work/data/demo "$venv/bin/neo" query --format csv \
  "SELECT count(DISTINCT ts_code) AS stocks FROM daily_qfq" | tail -1)
if [ "${stocks:-0}" -le 0 ]; then
  echo "neo query found no stocks in the demo lake" >&2
  exit 1
fi
echo "neo query: the demo lake holds $stocks stocks' qfq bars"
NEO_HOME=$work/data/demo "$venv/bin/python" - <<'PY'
import neo
df = neo.pro_api().daily(trade_date="20241231")
assert len(df) > 0 and list(df.columns)[:2] == ["ts_code", "trade_date"], df
print(f"neo.pro_api().daily(trade_date='20241231'): {len(df)} rows as a pandas DataFrame")
PY
"$venv/bin/python" -c "import neo, sys; assert neo.__file__.startswith('$venv'), neo.__file__; print('imported from', neo.__file__)"
