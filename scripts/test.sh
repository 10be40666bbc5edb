#!/usr/bin/env bash
# Set up, then run the whole test suite: unit, real kernels, integration,
# and the browser tests of the JupyterLab extension when their script exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest tests -q -p no:cacheprovider "$@"
if [ -z "${NB2PIPE_SKIP_AIRFLOW:-}" ]; then
  bash scripts/test-airflow.sh
fi
if [ -f scripts/test-ui.sh ] && [ -z "${NB2PIPE_SKIP_UI:-}" ]; then
  bash scripts/test-ui.sh
fi
