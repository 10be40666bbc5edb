"""run --watch's warm kernel: which definition cells turn the kernel's steps into the notebook's."""
import json

from nb2pipe.runner.warm import _changes


def step(name, body="x = 1"):
    return {"line": f"{name} --out {name}_out", "body": body, "where": "", "cell_id": name, "source": ""}


def sent(cells):
    """(forgotten names, redefined names) of the cells."""
    forgot = [c.split()[2:] for c in cells if c.startswith("%dag forget")]
    defined = [json.loads(c.split("\n", 1)[1]) for c in cells if c.startswith("%%nb2pipe_define")]
    return (forgot[0] if forgot else []), ([d["line"].split()[0] for d in defined[0]] if defined else [])


def test_nothing_changed_sends_nothing():
    a = [step("a"), step("b"), step("c")]
    assert _changes(a, [dict(s) for s in a]) == []


def test_a_changed_body_redefines_that_step_only():
    old = [step("a"), step("b"), step("c")]
    new = [step("a"), step("b", "x = 2"), step("c")]
    assert sent(_changes(old, new)) == ([], ["b"])


def test_an_inserted_step_keeps_notebook_order():
    old = [step("a"), step("b"), step("c")]
    new = [step("a"), step("n"), step("b"), step("c")]
    assert sent(_changes(old, new)) == (["b", "c"], ["n", "b", "c"])


def test_removed_and_renamed_steps_are_forgotten():
    old = [step("a"), step("b"), step("c")]
    assert sent(_changes(old, [step("a"), step("c")])) == (["b", "c"], ["c"])
    assert sent(_changes(old, [step("a"), step("b"), step("d")])) == (["c"], ["d"])
