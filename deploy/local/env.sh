# Sourced by demo.sh, test.sh and compiled.sh: a project virtualenv with the package.
#   source env.sh test   the package and its test and lint tools (.[test]): test.sh
#   source env.sh demo   the package alone, what the demo runs: demo.sh
# Idempotent and quick when nothing changed, so a fresh machine and CI need nothing by hand.
# PYTHON picks the interpreter that makes the virtualenv (default python3; 3.11+ with venv);
# SELFTAUGHT_VENV where it goes (default <repo>/.venv).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SELFTAUGHT_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
# (A sourced file sees its caller's arguments when given none: the callers name what they want.)
if [ "${1:-}" = demo ]; then _spec="$ROOT"; _kind=demo; else _spec="$ROOT[test]"; _kind=test; fi
if [ ! -x "$VENV/bin/python" ]; then
  # Python 3.11+ with venv, checked before anything is installed (one line if it is missing).
  PYTHON="$PY" bash "$ROOT/deploy/local/stack.sh" check python
  "$PY" -m venv "$VENV"
fi
_hash="$(sha1sum "$ROOT/pyproject.toml" | cut -c1-12)"
# A virtualenv with the test tools has everything the demo needs too.
if [ ! -f "$VENV/.installed-$_hash-$_kind" ] && [ ! -f "$VENV/.installed-$_hash-test" ]; then
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e "$_spec"
  touch "$VENV/.installed-$_hash-$_kind"
fi
unset _spec _kind _hash
export PATH="$VENV/bin:$PATH"
