#!/usr/bin/env bash
# The exported Airflow DAG, checked in its own virtualenv (.venv-airflow): it imports with
# no errors, its tasks render to real settings (pod_override, pool_slots, -p from params and the
# logical date) and dag.test() runs the example pipeline end to end on a temporary sqlite DB.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if [ ! -x .venv-airflow/bin/airflow ]; then
  python3 -m venv .venv-airflow
  .venv-airflow/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv-airflow/bin/python -m pip install -q "apache-airflow>=2.9" 2>&1 | grep -v "^WARNING: Location" || true
fi
# the KubernetesExecutor's pod_override needs the kubernetes client (installed with its provider)
.venv-airflow/bin/python -c "import kubernetes" 2>/dev/null ||
  .venv-airflow/bin/python -m pip install -q kubernetes 2>&1 | grep -v "^WARNING: Location" || true
work=$(mktemp -d)
trap 'rm -rf "$work"; .venv/bin/python -m pip uninstall -y -q analysis >/dev/null 2>&1 || true' EXIT
cp -r examples/sales "$work/sales"
rm -rf "$work/sales/.nb2pipe"
# a step with resources and a date parameter (the logical date reaches it)
sed -i -e 's/"%%step by_region\\n"/"%%step by_region --cpu 2 --memory 1GiB\\n"/' \
       -e 's/"min_units = 1\\n"/"min_units = 1\\n", "ds = \\"2024-01-01\\"\\n"/' "$work/sales/analysis.ipynb"
.venv/bin/nb2pipe export "$work/sales/analysis.ipynb" -o "$work/pkg" --target airflow
.venv/bin/python -m pip install -q --no-deps --no-build-isolation "$work/pkg" 2>&1 | grep -v "^WARNING: Location" || true
export AIRFLOW_HOME="$work/airflow_home"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$work/pkg/airflow"
export NB2PIPE_STORE="$work/store"
export NB2PIPE_PYTHON="$root/.venv/bin/python"      # tasks run the pipeline with its own environment
.venv-airflow/bin/airflow db migrate > "$work/migrate.log" 2>&1 || { tail -20 "$work/migrate.log"; exit 1; }
if .venv-airflow/bin/python tests/airflow/check_dag.py "$work/pkg/airflow" "$work/store" "$NB2PIPE_PYTHON" \
     "$work/pkg/analysis" > "$work/check.log" 2>&1; then
  grep -E "^(DagBag|dag.test|resources|rendered)" "$work/check.log"
  echo "airflow: 1 passed, 0 failed"
else
  tail -40 "$work/check.log"
  echo "airflow: 0 passed, 1 failed"
  exit 1
fi
