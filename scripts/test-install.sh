#!/usr/bin/env bash
# Builds the wheel and sdist, then installs the wheel into a fresh venv that already holds a research
# stack (the newest duckdb, polars and pandas) and checks what a user would:
#   - installing neo changes the version of none of the packages already there;
#   - `neo demo` and `neo query` work from the installed package, outside the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=${PYTHON:-python3}
venv=$root/.venv-install
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rm -rf dist "$venv"
"$python" -m pip --version >/dev/null
if ! "${BUILD_PYTHON:-$root/.venv/bin/python}" -m build --outdir dist . > "$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  exit 1
fi
wheel=$(ls dist/*.whl)
ls dist/*.tar.gz >/dev/null
echo "built $(basename "$wheel") and $(basename dist/*.tar.gz)"

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet duckdb polars pandas
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
"$venv/bin/neo" query "SELECT count(*) AS rows, count(DISTINCT ts_code) AS stocks FROM daily"
"$venv/bin/python" -c "import neo, sys; assert neo.__file__.startswith('$venv'), neo.__file__; print('imported from', neo.__file__)"
