#!/usr/bin/env bash
# Set up, then run the bundled example pipeline headless twice: the second run
# finds every step in the cache and starts no kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd examples/sales
rm -rf .nb2pipe
echo "== first run: every step executes =="
../../.venv/bin/nb2pipe run analysis.ipynb
echo "== second run: nothing changed, everything cached =="
../../.venv/bin/nb2pipe run analysis.ipynb
echo "== status =="
../../.venv/bin/nb2pipe status analysis.ipynb
