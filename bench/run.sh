#!/usr/bin/env bash
# The benchmark in one command: starts its own local stack if none answers on its ports, runs
# `python -m bench "$@"`, and stops the stack again if it started it.
#
#   bash bench/run.sh            # default sizes (about 8-10 minutes)
#   bash bench/run.sh --quick    # about 4-5 minutes
#   BENCH_BUILD=python bash bench/run.sh   # the checkout's pure Python, not the compiled build
#
# Its own ports and state by default, so it never touches a stack others use:
#   KAFKA_PORT=39092 KAFKA_CONTROLLER_PORT=39093 REGISTRY_PORT=38081
#   SELFTAUGHT_STACK_DIR=/tmp/benchstack
# BENCH_KEEP_STACK=1 leaves a stack it started running.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KAFKA_PORT="${KAFKA_PORT:-39092}"
export KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-39093}"
export REGISTRY_PORT="${REGISTRY_PORT:-38081}"
export SELFTAUGHT_STACK_DIR="${SELFTAUGHT_STACK_DIR:-/tmp/benchstack}"
PY="${PYTHON:-python3}"

started=0
if ! bash "$ROOT/deploy/local/stack.sh" status >/dev/null 2>&1; then
  bash "$ROOT/deploy/local/stack.sh" up
  started=1
fi
stop_stack() {
  if [ "$started" = 1 ] && [ "${BENCH_KEEP_STACK:-0}" != 1 ]; then
    bash "$ROOT/deploy/local/stack.sh" down
  fi
}
trap stop_stack EXIT
# What the image ships: the hot path compiled (deploy/local/compiled.sh builds it into a copy
# of this checkout; the benchmark runs from there and writes its results here).
# BENCH_BUILD=python measures the checkout as it is, pure Python.
if [ "${BENCH_BUILD:-compiled}" = compiled ]; then
  run_root="$(bash "$ROOT/deploy/local/compiled.sh" "$ROOT/build/bench-compiled")"
  PY="${SELFTAUGHT_VENV:-$ROOT/.venv}/bin/python"  # the interpreter it was compiled for
else
  run_root="$ROOT"
fi
export BENCH_SOURCE_ROOT="$ROOT" BENCH_RESULTS="$ROOT/bench/results"
cd "$run_root"
"$PY" -m bench "$@"
