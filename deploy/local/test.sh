#!/usr/bin/env bash
# Every test on a fresh machine: install, start the local stack, run the suite, stop the stack.
# With no arguments the unit and integration suites then run a second time on the compiled
# build the image ships (SELFTAUGHT_COMPILED_PASS=0 skips that pass).
set -euo pipefail
# Every prerequisite (Java, curl, Maven, Python, free ports) first, before anything is installed.
bash "$(dirname "${BASH_SOURCE[0]}")/stack.sh" check
source "$(dirname "${BASH_SOURCE[0]}")/env.sh" test
cd "$ROOT"
bash deploy/local/tools.sh  # prometheus and promtool, for the alert and dashboard tests
started=0
if ! bash deploy/local/stack.sh status >/dev/null 2>&1; then
  started=1
fi
bash deploy/local/stack.sh up
cleanup() { if [ "$started" = 1 ]; then bash "$ROOT/deploy/local/stack.sh" down || true; fi; }
trap cleanup EXIT
python -m pytest "$@"
# The image runs the hot path compiled (mypyc). Unless a selection of tests was asked for,
# the unit and integration suites run again on that build, beside the same stack.
if [ "$#" -eq 0 ] && [ "${SELFTAUGHT_COMPILED_PASS:-1}" = 1 ]; then
  compiled="$(bash deploy/local/compiled.sh)"
  export SELFTAUGHT_STACK_DIR="${SELFTAUGHT_STACK_DIR:-$ROOT/.stack}"
  (cd "$compiled" && SELFTAUGHT_EXPECT_COMPILED=1 python -m pytest -p no:cacheprovider \
    tests/unit tests/integration)
fi
# The three-broker scenarios (tests/cluster: faults and the nemesis) start a cluster of their
# own on free ports and take minutes: their own step, unless a selection of tests was asked for.
if [ "$#" -eq 0 ]; then SELFTAUGHT_CLUSTER_TESTS=1 python -m pytest -p no:cacheprovider tests/cluster; fi
