#!/usr/bin/env bash
# The package built as the image builds it (HATCH_BUILD_HOOKS_ENABLE=1: the hot-path modules
# compiled with mypyc, see pyproject.toml), in a copy of this working tree. Prints the copy's
# path on stdout.
#
#   bash deploy/local/compiled.sh [DIR]        (default <repo>/build/compiled, replaced)
#
# The build hook compiles in place, so it runs on the copy: there each compiled module's .so
# sits beside its .py and wins the import, and `python -m pytest`, `python -m consumer` or
# `python -m bench` run from the copy run the compiled build, the same extension modules the
# wheel carries. The checkout itself stays pure Python: no stale .so shadows an edited .py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh" test
DIR="${1:-$ROOT/build/compiled}"
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
rm -rf "$DIR"
mkdir -p "$DIR"
tar -C "$ROOT" \
  --exclude=./.git --exclude=./.venv --exclude=./.stack --exclude=./build --exclude=./dist \
  --exclude=./bench/results --exclude=./.pytest_cache --exclude=./.hypothesis \
  --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude=__pycache__ --exclude='*.so' \
  -cf - . | tar -C "$DIR" -xf -
started=$SECONDS
HATCH_BUILD_HOOKS_ENABLE=1 python -m pip wheel -q --no-deps --wheel-dir "$DIR/dist" "$DIR" >&2
(
  cd "$DIR"
  python - <<'PY' >&2
from consumer import build

missing = sorted(set(build.HOT_MODULES) - set(build.compiled_modules()))
if missing:
    raise SystemExit(f"compiled build: these modules did not compile: {missing}")
PY
)
echo "[compiled] $DIR: hot-path modules compiled with mypyc in $((SECONDS - started))s" >&2
echo "$DIR"
