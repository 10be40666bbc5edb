"""Which Airflow tasks an exported DAG has (no Airflow needed: the task plan is plain data;
tests/airflow/check_dag.py runs the DAG itself in Airflow's own virtualenv)."""
import pytest

from nb2pipe.errors import Nb2pipeError
from nb2pipe.export.airflow import _tasks, dag_file

EDGES = [["a", "b", "x"], ["b", "c", "y"], ["c", "d", "z"], ["c", "e", "w"], ["d", "f", "q"], ["e", "f", "r"]]


def manifest(groups=None, resources=None):
    groups, resources = groups or {}, resources or {}
    return {"version": "1", "edges": EDGES, "params": {"n": {"type": "int", "default": 1}},
            "steps": [{"name": n, "resources": resources.get(n, {}), "group": groups.get(n), "retries": 0}
                      for n in "abcdef"]}


def test_chains_are_one_task_and_branches_stay_apart():
    tasks, edges = _tasks(manifest(), collapse=True)
    assert {t: v["steps"] for t, v in tasks.items()} == {"a__c": ["a", "b", "c"], "d": ["d"], "e": ["e"],
                                                         "f": ["f"]}
    assert tasks["a__c"]["run"] == ["c"]
    assert edges == [("a__c", "d"), ("a__c", "e"), ("d", "f"), ("e", "f")]


def test_group_runs_its_steps_in_one_task_with_the_largest_resources():
    tasks, edges = _tasks(manifest({"d": "fan", "e": "fan"}, {"d": {"memory": "512MiB"},
                                                               "e": {"memory": "1GB", "cpu": "2"}}), True)
    assert tasks["fan"] == {"steps": ["d", "e"], "run": ["d", "e"], "retries": 0,
                            "resources": {"memory": "1GB", "cpu": "2"}}
    assert edges == [("a__c", "fan"), ("fan", "f")]


def test_group_around_an_outside_step_is_refused():
    with pytest.raises(Nb2pipeError) as e:
        _tasks(manifest({"b": "g", "d": "g"}), True)
    assert str(e.value).startswith("--group `g` cannot be one task: a step outside it reads one of its"
                                   " steps and feeds another (b, d)")


def test_dag_file_compiles_with_groups():
    compile(dag_file("pkg", manifest({"d": "fan", "e": "fan"})), "pkg_dag.py", "exec")
