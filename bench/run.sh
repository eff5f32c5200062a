#!/usr/bin/env bash
# The benchmark in one command: starts its own local stack if none answers on its ports, runs
# `python -m bench "$@"`, and stops the stack again if it started it.
#
#   bash bench/run.sh            # default sizes (about 8-10 minutes)
#   bash bench/run.sh --quick    # about 4-5 minutes
#   BENCH_BUILD=python bash bench/run.sh   # the checkout's pure Python, not the compiled build
#   BENCH_BROKERS=3 bash bench/run.sh      # on a cluster of three (stack.sh up --brokers 3):
#                                          # topics replicated 3 times, min.insync.replicas 2
#
# Its own ports and state by default, so it never touches a stack others use:
#   KAFKA_PORT=39092 KAFKA_CONTROLLER_PORT=39093 REGISTRY_PORT=38081 (node i of a cluster on
#   KAFKA_PORT+2(i-1) and KAFKA_CONTROLLER_PORT+2(i-1))
#   SELFTAUGHT_STACK_DIR=/tmp/benchstack, or /tmp/benchstack-3brokers for BENCH_BROKERS=3
# BENCH_KEEP_STACK=1 leaves a stack it started running.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BENCH_BROKERS="${BENCH_BROKERS:-1}"
export KAFKA_PORT="${KAFKA_PORT:-39092}"
export KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-39093}"
export REGISTRY_PORT="${REGISTRY_PORT:-38081}"
# A stack's number of nodes is fixed when its storage is made: each size keeps its own state.
if [ "$BENCH_BROKERS" = 1 ]; then
  export SELFTAUGHT_STACK_DIR="${SELFTAUGHT_STACK_DIR:-/tmp/benchstack}"
else
  export SELFTAUGHT_STACK_DIR="${SELFTAUGHT_STACK_DIR:-/tmp/benchstack-${BENCH_BROKERS}brokers}"
fi
# The project's virtualenv with its test tools (as the test command makes it), and py-spy for
# the profile section (pinned: its output format is what bench/profile.py reads).
source "$ROOT/deploy/local/env.sh" test
PY="$VENV/bin/python"
[ -x "$VENV/bin/py-spy" ] || "$VENV/bin/pip" install -q "py-spy==0.4.1"
stack() { bash "$ROOT/deploy/local/stack.sh" --brokers "$BENCH_BROKERS" "$@"; }

started=0
# status fails, saying why, for a stack of another size in the same state dir; up then stops
# with the same line instead of benchmarking the wrong cluster.
if ! stack status >/dev/null 2>&1; then
  stack up
  started=1
fi
stop_stack() {
  if [ "$started" = 1 ] && [ "${BENCH_KEEP_STACK:-0}" != 1 ]; then
    stack down
  fi
}
trap stop_stack EXIT
# Every node, so the benchmark's clients start from any of them.
export BENCH_BOOTSTRAP="${BENCH_BOOTSTRAP:-$(stack bootstrap)}"
# What the image ships: the hot path compiled (deploy/local/compiled.sh builds it into a copy
# of this checkout; the benchmark runs from there and writes its results here).
# BENCH_BUILD=python measures the checkout as it is, pure Python.
if [ "${BENCH_BUILD:-compiled}" = compiled ]; then
  run_root="$(bash "$ROOT/deploy/local/compiled.sh" "$ROOT/build/bench-compiled")"
else
  run_root="$ROOT"
fi
export BENCH_SOURCE_ROOT="$ROOT" BENCH_RESULTS="$ROOT/bench/results"
cd "$run_root"
"$PY" -m bench "$@"
