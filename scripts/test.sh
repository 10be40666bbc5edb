#!/usr/bin/env bash
# Set up, then run the whole test suite: unit, real kernels, integration,
# and the browser tests of the JupyterLab extension when their script exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Every stage runs even when an earlier one failed; the script fails if any did.
# pytest itself fails on a skipped test not listed in tests/allowed_skips.txt.
failed=()
.venv/bin/python -m pytest tests -q -p no:cacheprovider -rs "$@" || failed+=(pytest)
if [ -z "${NB2PIPE_SKIP_AIRFLOW:-}" ]; then
  bash scripts/test-airflow.sh || failed+=(airflow)
fi
if [ -f scripts/test-ui.sh ] && [ -z "${NB2PIPE_SKIP_UI:-}" ]; then
  bash scripts/test-ui.sh || failed+=(ui)
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
