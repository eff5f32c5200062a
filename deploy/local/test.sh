#!/usr/bin/env bash
# Every test on a fresh machine: install, start the local stack, run the suite, stop the stack.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
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
