#!/usr/bin/env bash
# Runs the test suite in a fresh venv on another dependency set than constraints.txt:
#   scripts/test-venv.sh latest   the newest releases pyproject's ranges allow (DuckDB 2.x included)
#   scripts/test-venv.sh oldest   every runtime dependency at its declared lower bound
# and records the versions and the outcome in docs/compatibility.md. The other arguments go to pytest
# (the Makefile passes the ones `make test` uses).
set -euo pipefail
cd "$(dirname "$0")/.."
set_name=${1:?usage: scripts/test-venv.sh latest|oldest [pytest args]}
shift
python=${PYTHON:-python3}
venv=.venv-$set_name
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
case $set_name in
  latest) "$venv/bin/python" -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[dev,pandas]' ;;
  oldest) "$python" scripts/lower_bounds.py pandas > "$venv/lower-bounds.txt"
          "$venv/bin/python" -m pip install --quiet -c "$venv/lower-bounds.txt" -e '.[dev,pandas]' ;;
  *) echo "unknown set '$set_name': use latest or oldest" >&2; exit 2 ;;
esac
scripts/ensure-redis.sh
status=0
"$venv/bin/pytest" --junitxml="$venv/junit.xml" "$@" || status=$?
"$venv/bin/python" scripts/compat_report.py "$set_name" "$venv"
exit $status
