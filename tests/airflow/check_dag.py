"""Run inside the Airflow virtualenv (scripts/test-airflow.sh): the exported DAG imports
without errors and `dag.test()` runs the pipeline end to end."""
import json
import os
import subprocess
import sys

dag_folder, store, nb2pipe_python, package_dir = sys.argv[1:5]

from airflow.models import DagBag  # noqa: E402

try:
    bag = DagBag(dag_folder=dag_folder, include_examples=False)
except TypeError:            # Airflow 3.3: examples are a config setting only
    bag = DagBag(dag_folder=dag_folder)
assert not bag.import_errors, bag.import_errors
dag = bag.get_dag("analysis")
assert dag is not None, list(bag.dags)
tasks = {t.task_id: t for t in dag.tasks}
assert set(tasks) == {"new_source_data", "load", "clean", "by_region", "by_product", "report",
                     "top_products"}, tasks
assert {u.task_id for u in tasks["load"].upstream_list} == {"new_source_data"}
assert {u.task_id for u in tasks["report"].upstream_list} == {"clean", "by_region", "by_product"}
print(f"DagBag: {len(bag.dags)} DAG, {len(tasks)} tasks, no import errors")

dag.test()

runs = subprocess.run([nb2pipe_python, "-m", "nb2pipe", "status", package_dir, "--store", store, "--json"],
                      capture_output=True, text=True, check=True)
states = {s["step"]: s["state"] for s in json.loads(runs.stdout)}
assert set(states.values()) == {"fresh"}, states
print("dag.test(): every step ran and is fresh in the store:", ", ".join(sorted(states)))
