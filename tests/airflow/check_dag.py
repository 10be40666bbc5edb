"""Run inside the Airflow virtualenv (scripts/test-airflow.sh): the exported DAG imports
without errors, its tasks render to real settings, and `dag.test()` runs the pipeline end to
end, then ends at `anything_stale` on a fresh store and runs again for new params.

The DAG is parsed with NB2PIPE_STORE unset: the store is set only for the runs, as on a worker."""
import datetime
import json
import os
import subprocess
import sys

dag_folder, store, nb2pipe_python, package_dir = sys.argv[1:5]
os.environ.pop("NB2PIPE_STORE", None)

from airflow.models import DagBag  # noqa: E402

try:
    bag = DagBag(dag_folder=dag_folder, include_examples=False)
except TypeError:            # Airflow 3.3: examples are a config setting only
    bag = DagBag(dag_folder=dag_folder)
assert not bag.import_errors, bag.import_errors
dag = bag.get_dag("analysis")
assert dag is not None, list(bag.dags)
tasks = {t.task_id: t for t in dag.tasks}
# load -> clean is a chain: one task, one kernel start
assert set(tasks) == {"anything_stale", "load__clean", "by_region", "by_product", "report",
                      "top_products"}, tasks
assert {u.task_id for u in tasks["load__clean"].upstream_list} == {"anything_stale"}
assert {u.task_id for u in tasks["report"].upstream_list} == {"load__clean", "by_region", "by_product"}
print(f"DagBag: {len(bag.dags)} DAG, {len(tasks)} tasks, no import errors")

# resources: `by_region --cpu 2 --memory 1GiB` (test-airflow.sh adds them)
by_region = tasks["by_region"]
assert by_region.pool_slots == 2, by_region.pool_slots
res = by_region.executor_config["pod_override"].spec.containers[0].resources
assert (res.requests, res.limits) == ({"cpu": "2", "memory": str(2**30)}, {"memory": str(2**30)}), res
assert tasks["by_product"].executor_config == {}, tasks["by_product"].executor_config
print("resources: pool_slots 2, pod_override requests", res.requests)

# the command, rendered as for a run: params and the logical date become -p; the store and the
# Python are shell variables, read on the worker when the task runs
env = dag.get_template_env()
cmd = by_region.render_template(by_region.bash_command, {"params": {"min_units": 2, "top_n": 3},
                                                         "ds": "2025-06-01"}, jinja_env=env)
assert cmd.endswith(" run --only by_region --store \"${NB2PIPE_STORE:-%s/.nb2pipe}\""
                    " -p min_units=2 -p top_n=3 -p ds=2025-06-01" % dag_folder), cmd
assert cmd.startswith('"${NB2PIPE_PYTHON:-'), cmd
print("rendered:", cmd)


def states():
    out = subprocess.run([nb2pipe_python, "-m", "nb2pipe", "status", package_dir, "--store", store,
                          "--json", "-p", "ds=2025-01-01"], capture_output=True, text=True, check=True)
    return {s["step"]: s["state"] for s in json.loads(out.stdout)}


def test(day, **conf):
    os.environ["NB2PIPE_STORE"] = store          # set for the run only, after parsing
    try:
        run = dag.test(logical_date=datetime.datetime(2025, 1, day, tzinfo=datetime.timezone.utc),
                       run_conf=conf or None)
    finally:
        os.environ.pop("NB2PIPE_STORE")
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


first = test(1)
assert set(states().values()) == {"fresh"}, states()
assert set(first.values()) == {"success"}, first
print("dag.test(): every step ran and is fresh in the store:", ", ".join(sorted(states())))

again = test(2)       # same parameters: nothing stale, the run ends at once
assert again == {"anything_stale": "success", **{t: "skipped" for t in tasks if t != "anything_stale"}}, again
print("dag.test() on a fresh store: every step task skipped")

new = test(3, min_units=2)     # new params: stale, runs
assert set(new.values()) == {"success"}, new
print("dag.test() with params {min_units: 2}: ran")
