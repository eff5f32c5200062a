#!/usr/bin/env bash
# The main job on a fresh machine: install, start the local stack, run the demo.
set -euo pipefail
# Every prerequisite (Java, curl, Maven, Python, free ports) first, before anything is installed.
bash "$(dirname "${BASH_SOURCE[0]}")/stack.sh" check
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$ROOT/deploy/local/stack.sh" up
cd "$ROOT"
exec selftaught demo "$@"
