import pytest

from nb2pipe.errors import GraphError
from nb2pipe.graph import Graph, Node

DIAMOND = [Node("a", (), ("x",)), Node("b", ("x",), ("y",)), Node("c", ("x",), ("z",)),
           Node("d", ("y", "z"), ("w",))]
CHAIN = [Node("load", (), ("raw",)), Node("clean", ("raw",), ("df",)),
         Node("summary", ("df",), ("by_region",))]


@pytest.mark.parametrize("nodes, step, parents, children, ancestors, descendants", [
    (DIAMOND, "a", (), ("b", "c"), set(), {"b", "c", "d"}),
    (DIAMOND, "d", ("b", "c"), (), {"a", "b", "c"}, set()),
    (DIAMOND, "b", ("a",), ("d",), {"a"}, {"d"}),
    (CHAIN, "clean", ("load",), ("summary",), {"load"}, {"summary"}),
])
def test_structure(nodes, step, parents, children, ancestors, descendants):
    g = Graph(nodes)
    assert g.parents(step) == parents
    assert g.children(step) == children
    assert g.ancestors(step) == ancestors
    assert g.descendants(step) == descendants


@pytest.mark.parametrize("nodes, order", [
    (DIAMOND, ("a", "b", "c", "d")),
    (list(reversed(CHAIN)), ("load", "clean", "summary")),
    ([Node("z"), Node("y"), Node("x")], ("z", "y", "x")),  # independent: definition order
])
def test_order(nodes, order):
    assert Graph(nodes).order == order


@pytest.mark.parametrize("targets, upto, downfrom", [
    (("b",), ("a", "b"), ("b", "d")),
    (("d",), ("a", "b", "c", "d"), ("d",)),
    (("b", "c"), ("a", "b", "c"), ("b", "c", "d")),
])
def test_closures(targets, upto, downfrom):
    g = Graph(DIAMOND)
    assert g.upto(*targets) == upto
    assert g.downfrom(*targets) == downfrom


def test_edges_carry_data_names():
    assert sorted(Graph(DIAMOND).edges()) == [("a", "b", "x"), ("a", "c", "x"), ("b", "d", "y"),
                                              ("c", "d", "z")]


@pytest.mark.parametrize("nodes, fragments", [
    ([Node("a", ("z",), ("x",)), Node("b", ("x",), ("z",))], ["cycle: `a` -> `b` -> `a`"]),
    ([Node("a", (), ("x",)), Node("b", (), ("x",))], ["`x` is produced by two steps, `a` and `b`"]),
    ([Node("a", where="cell [1]"), Node("a", where="cell [2]")], ["two steps are named `a`", "cell [2]"]),
    ([Node("a", (), ("raw",)), Node("b", ("rwa",), ())], ["reads `rwa`, which no step produces",
                                                          "did you mean `raw`"]),
    ([Node("a", ("x",), ("x",))], ["reads its own output `x`"]),
])
def test_problems(nodes, fragments):
    with pytest.raises(GraphError) as e:
        Graph(nodes)
    for f in fragments:
        assert f in str(e.value)


def test_all_problems_reported_at_once():
    nodes = [Node("a", ("c_out",), ("x",)), Node("c", ("x",), ("c_out",)),   # cycle
             Node("d", (), ("dup",)), Node("e", (), ("dup",)),                 # two producers
             Node("f", ("nowhere",), ())]                                      # unknown input
    with pytest.raises(GraphError) as e:
        Graph(nodes)
    assert len(e.value.problems) == 3


def test_allow_missing_records_missing_inputs():
    g = Graph([Node("b", ("x",), ("y",))], allow_missing=True)
    assert g.missing == {"b": ("x",)}


def test_unknown_step_did_you_mean():
    with pytest.raises(GraphError, match="did you mean `clean`"):
        Graph(CHAIN).parents("claen")


def test_thousand_step_graph():
    nodes = [Node(f"s{i}", (f"o{i - 1}",) if i else (), (f"o{i}",)) for i in range(1000)]
    g = Graph(nodes)
    assert g.order[0] == "s0" and g.order[-1] == "s999"
    assert len(g.ancestors("s999")) == 999
