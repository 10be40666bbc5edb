#!/usr/bin/env bash
# Create .venv (if needed) and install nb2pipe with its test extras, editable.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import nb2pipe, nbclient, pyarrow, duckdb; print('nb2pipe', nb2pipe.__version__, 'installed in .venv')"
