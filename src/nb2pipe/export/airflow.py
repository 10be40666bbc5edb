"""An Airflow DAG file for an exported package.  Works with Airflow 2 and 3.

- A first task, `anything_stale`, asks the store (`status --json`) whether any step is stale
  for this run's parameters (code, parameters, data); if none is, the run ends at once with
  every step skipped (no sensor waiting on a fresh store).
- Chains (a step whose only parent has it as only child) are collapsed into one task, which
  pays one process and kernel start instead of one per step.
- Each task runs `python -m <package> run --only LAST_STEP` in bash: `$NB2PIPE_STORE` and
  `$NB2PIPE_PYTHON` are read when the task runs, on the worker; the DAG's `params` and the
  logical date (`{{ ds }}`, for a date parameter) become `-p NAME=VALUE`.
- Resources: `pool_slots` from --cpu; on the KubernetesExecutor a `pod_override` with the
  requests/limits of `k8s_resources()`.
"""
from __future__ import annotations

import json

from ..errors import Nb2pipeError

DATE_NAMES = ("ds", "date", "day", "run_date", "logical_date")


def chains(man: dict) -> dict[str, list[str]]:
    """Task id -> its steps in order.  Steps with `--group NAME` are task NAME; of the others,
    chains (a step whose only parent has it as only child) are one task, the rest alone."""
    order = [s["name"] for s in man["steps"]]
    group = {s["name"]: s.get("group") for s in man["steps"]}
    parents = {n: sorted({a for a, b, *_ in man["edges"] if b == n}) for n in order}
    children = {n: sorted({b for a, b, *_ in man["edges"] if a == n}) for n in order}
    head: dict[str, str] = {}
    runs: dict[str, list[str]] = {}
    named: dict[str, list[str]] = {}
    for n in order:
        p = parents[n]
        if group[n]:
            named.setdefault(group[n], []).append(n)
        elif len(p) == 1 and children[p[0]] == [n] and not group[p[0]]:
            head[n] = head[p[0]]
            runs[head[n]].append(n)
        else:
            head[n] = n
            runs[n] = [n]
    out = {(g[0] if len(g) == 1 else f"{g[0]}__{g[-1]}"): g for g in runs.values()}
    clash = sorted(set(out) & set(named))
    if clash:
        raise Nb2pipeError(f"--group `{clash[0]}` is also the name of a task of other steps",
                           fix="choose another group name")
    return {**out, **named}


def _tasks(man: dict, collapse: bool) -> tuple[dict, list]:
    by_name = {s["name"]: s for s in man["steps"]}
    groups = chains(man) if collapse else {s["name"]: [s["name"]] for s in man["steps"]}
    task_of = {s: t for t, steps in groups.items() for s in steps}
    edges = sorted({(task_of[a], task_of[b]) for a, b, *_ in man["edges"] if task_of[a] != task_of[b]})
    _check_acyclic(groups, edges)
    tasks = {}
    for t, steps in groups.items():
        res: dict = {}
        for s in steps:                     # the group needs what its hungriest step needs
            for k, v in by_name[s].get("resources", {}).items():
                res[k] = max(res.get(k, v), v, key=_size)
        inner = {a for a, b, *_ in man["edges"] if a in steps and b in steps}
        tasks[t] = {"steps": steps, "run": [s for s in steps if s not in inner], "resources": res,
                    "retries": max(by_name[s].get("retries", 0) for s in steps)}
    return tasks, edges


def _check_acyclic(groups: dict, edges: list) -> None:
    """A group with a step outside it between two of its steps would wait on itself."""
    indeg = {t: 0 for t in groups}
    for _, b in edges:
        indeg[b] += 1
    todo = [t for t, d in indeg.items() if d == 0]
    while todo:
        t = todo.pop()
        for a, b in edges:
            if a == t:
                indeg[b] -= 1
                if indeg[b] == 0:
                    todo.append(b)
    stuck = sorted(t for t, d in indeg.items() if d > 0 and len(groups[t]) > 1)
    if stuck:
        raise Nb2pipeError(f"--group `{stuck[0]}` cannot be one task: a step outside it reads one of "
                           f"its steps and feeds another ({', '.join(groups[stuck[0]])})",
                           fix="put the steps between them in the group too, or split the group")


def _size(v) -> float:
    """A resource amount comparable across units: 2, "2", "512MiB", "4GB"."""
    import re
    m = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", str(v))
    units = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
             "t": 1e12, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
    return float(m.group(1)) * units.get(m.group(2).lower(), 1) if m else 0.0


def _date_param(man: dict) -> str | None:
    for name, p in man["params"].items():
        if not p.get("secret") and (p.get("type") in ("date", "datetime") or name in DATE_NAMES):
            return name
    return None


def dag_file(pkg: str, man: dict, *, schedule: str | None = None, sources: list[str] = (),
             collapse: bool = True) -> str:
    tasks, edges = _tasks(man, collapse)
    date_param = _date_param(man)
    params = {k: p.get("default") for k, p in man["params"].items()
              if not p.get("secret") and k != date_param}
    return HEADER.format(pkg=pkg) + f'''
PACKAGE = "{pkg}"
VERSION = "{man["version"]}"
TASKS = {json.dumps(tasks, sort_keys=True)}
EDGES = {json.dumps([list(e) for e in edges])}
PARAMS = {json.dumps(params, sort_keys=True)}
DATE_PARAM = {json.dumps(date_param)}
SOURCES = {json.dumps(list(sources))}
SCHEDULE = {schedule!r}
''' + BODY


HEADER = '''"""Airflow DAG for the `{pkg}` pipeline, generated by nb2pipe (do not edit: export again).

`anything_stale` asks the store whether any step is stale for this run's parameters; when none
is, the run ends there.  Each other task runs a step, or a chain of steps in one kernel, with
`python -m {pkg} run --only STEP`; upstream steps are already in the store.

Read when a task runs, on its worker: $NB2PIPE_STORE (default: .nb2pipe beside this file; every
task must reach the same store) and $NB2PIPE_PYTHON (default: the Python that parsed this file).
Parsed here: $NB2PIPE_POOL (the Airflow pool of every task; default_pool).
"""
import datetime
import json
import os
import shlex
import subprocess
import sys

try:                                    # Airflow 3
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.python import ShortCircuitOperator
except ImportError:                     # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator
    from airflow.operators.python import ShortCircuitOperator
'''

BODY = '''HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_STORE = os.path.join(HERE, ".nb2pipe")
UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
         "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def k8s_resources(res):
    """--cpu/--memory/--gpu as Kubernetes requests and limits (memory in bytes)."""
    requests, limits = {}, {}
    if "cpu" in res:
        requests["cpu"] = str(res["cpu"])
    if "memory" in res:
        text = str(res["memory"]).strip().lower().replace(" ", "")
        number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        limits["memory"] = requests["memory"] = str(int(float(number) * UNITS[text[len(number):]]))
    if "gpu" in res:
        limits["nvidia.com/gpu"] = requests["nvidia.com/gpu"] = str(int(float(res["gpu"])))
    return {"requests": requests, "limits": limits}


def executor_config(res):
    """A KubernetesExecutor pod_override with the step's requests/limits (None when the
    kubernetes client is not installed: no KubernetesExecutor, pools and pool_slots apply)."""
    if not res:
        return None
    try:
        from kubernetes.client import models as k8s
    except ImportError:
        return None
    return {"pod_override": k8s.V1Pod(spec=k8s.V1PodSpec(containers=[k8s.V1Container(
        name="base", resources=k8s.V1ResourceRequirements(**k8s_resources(res)))]))}


def p_value(v):
    return v if isinstance(v, str) else json.dumps(v)


# Jinja, rendered when the task runs: this run's params (trigger conf or defaults) and date
PARAM_ARGS = ("{% for k, v in params.items() %}{% if v is not none %} -p "
              "{{ (k ~ '=' ~ (v | nb2pipe_value)) | nb2pipe_quote }}{% endif %}{% endfor %}"
              + (f" -p {DATE_PARAM}={{{{ ds }}}}" if DATE_PARAM else ""))


def command(steps):
    """bash: the environment variables expand on the worker, when the task runs."""
    only = "".join(f" --only {s}" for s in steps)
    return (f'"${{NB2PIPE_PYTHON:-{sys.executable}}}" -m {PACKAGE} run{only}'
            f' --store "${{NB2PIPE_STORE:-{DEFAULT_STORE}}}"' + PARAM_ARGS)


def anything_stale(params=None, ds=None, **_):
    """True when a step is stale (code, parameters or data) for this run's parameters."""
    python = os.environ.get("NB2PIPE_PYTHON") or sys.executable
    store = os.environ.get("NB2PIPE_STORE") or DEFAULT_STORE
    args = [python, "-m", PACKAGE, "status", "--json", "--store", store]
    for k, v in (params or {}).items():
        if v is not None:
            args += ["-p", f"{k}={p_value(v)}"]
    if DATE_PARAM and ds:
        args += ["-p", f"{DATE_PARAM}={ds}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    stale = [f"{s['step']}: {s['state']} ({'; '.join(s['reasons'])})" for s in json.loads(out)
             if s["state"] != "fresh"]
    print("stale:\\n  " + "\\n  ".join(stale) if stale else "every step is fresh: nothing to run")
    return bool(stale)


with DAG(
    dag_id=PACKAGE,
    description=f"nb2pipe pipeline {PACKAGE} {VERSION}",
    schedule=SCHEDULE,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    params=PARAMS,
    user_defined_filters={"nb2pipe_value": p_value, "nb2pipe_quote": shlex.quote},
    tags=["nb2pipe"],
) as dag:
    gate = ShortCircuitOperator(task_id="anything_stale", python_callable=anything_stale)
    tasks = {}
    for task_id, opts in TASKS.items():
        res = opts["resources"]
        tasks[task_id] = BashOperator(
            task_id=task_id,
            bash_command=command(opts["run"]),
            retries=opts["retries"],
            pool=os.environ.get("NB2PIPE_POOL") or "default_pool",
            pool_slots=max(1, int(float(res.get("cpu", 1)))),
            executor_config=executor_config(res),
        )
    for upstream, downstream in EDGES:
        tasks[upstream] >> tasks[downstream]
    for task in tasks.values():
        if not task.upstream_list:
            gate >> task
'''
