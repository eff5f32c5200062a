#!/usr/bin/env bash
# The main job on a fresh machine: install the package (alone), start the local stack, run the
# demo against it. The stack's ports (KAFKA_PORT, REGISTRY_PORT, --brokers) are the demo's too,
# unless SELFTAUGHT_BOOTSTRAP_SERVERS / SELFTAUGHT_SCHEMA_REGISTRY_URL say otherwise.
set -euo pipefail
HERE="$(dirname "${BASH_SOURCE[0]}")"
# Every prerequisite (Java, curl, Maven, Python, free ports) first, before anything is installed.
bash "$HERE/stack.sh" check
source "$HERE/env.sh" demo
bash "$ROOT/deploy/local/stack.sh" up
while IFS='=' read -r name value; do
  [ -n "${!name:-}" ] || export "$name=$value"
done < <(bash "$ROOT/deploy/local/stack.sh" env)
cd "$ROOT"
# The scripts' own variables are not the service's: it refuses SELFTAUGHT_* names it does not know.
exec env -u SELFTAUGHT_STACK_DIR -u SELFTAUGHT_VENV -u SELFTAUGHT_CACHE selftaught demo "$@"
