#!/usr/bin/env bash
# The test command of the README: install what is missing, then run the whole suite.
# pytest's exit code 5 ("no tests collected") counts as a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
# Two workers (pytest-xdist) on the 2 cores: much of the suite is single-threaded tracing and subprocess start-up,
# so one worker's tracing overlaps the other's TensorFlow compute. --dist loadfile keeps a file's tests together
# (module fixtures such as the fresh-process and strategy checks run once); --no-loadscope-reorder keeps the
# collection order of tests/conftest.py (slowest files first) instead of xdist's order by test count.
python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder tests "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
