# Sourced by demo.sh and test.sh: a project virtualenv with the package and its test tools.
# Idempotent and quick when nothing changed, so a fresh machine and CI need nothing by hand.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SELFTAUGHT_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  # Python 3.11+ with venv, checked before anything is installed (one line if it is missing).
  PYTHON="$PY" bash "$ROOT/deploy/local/stack.sh" check python
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(sha1sum "$ROOT/pyproject.toml" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e "$ROOT[test]"
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
