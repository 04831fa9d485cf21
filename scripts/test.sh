#!/usr/bin/env bash
# Run the whole test suite headless (Xvfb: Qt's offscreen platform has no OpenGL), plus ruff.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k darwin`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
log "ruff check + format check"
"$VENV/bin/python" -m ruff check .
"$VENV/bin/python" -m ruff format --check . >/dev/null || { "$VENV/bin/python" -m ruff format --diff . | head -40; exit 1; }
log "mypy on the whole package (strict on the core and the glue: pyproject.toml)"
"$VENV/bin/python" -m mypy --no-error-summary
log "pytest under xvfb-run"
exec xvfb-run -a -s "-screen 0 1600x1000x24" "$VENV/bin/python" -m pytest "$@"
