#!/usr/bin/env bash
# The main job on a fresh machine: install, start the local stack, run the demo.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$ROOT/deploy/local/stack.sh" up
cd "$ROOT"
exec selftaught demo "$@"
