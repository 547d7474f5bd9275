# Sourced by scripts/run and scripts/test: make sure .venv exists and holds the project.
# Only Python 3.11+, pip and apt are assumed on the machine.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.installed"
if [ ! -x "$PY" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check -e "$ROOT[dev,fast]"
  touch "$STAMP"
fi
