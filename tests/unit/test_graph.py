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


def test_order_is_notebook_order():
    assert Graph(DIAMOND).order == ("a", "b", "c", "d")
    assert Graph([Node("z"), Node("y"), Node("x")]).order == ("z", "y", "x")


def N(name, reads="", writes=""):
    return Node(name, tuple(reads.split()), tuple(writes.split()), where=f"cell {name}")


# The naming rule: a step reads each name from the nearest step above it that writes it.
# (steps in notebook order, {(consumer, name): producer})
NAMING = [
    ("rebinding chain", [N("load", "", "df"), N("clean", "df", "df"), N("total", "df", "s")],
     {("clean", "df"): "load", ("total", "df"): "clean"}),
    ("rebinding in a branch: siblings read the version above them",
     [N("load", "", "df"), N("a", "df", "x"), N("clean", "df", "df"), N("b", "df", "y")],
     {("a", "df"): "load", ("clean", "df"): "load", ("b", "df"): "clean"}),
    ("throwaway names written twice are two versions",
     [N("p1", "", "fig ax"), N("p2", "", "fig ax"), N("show", "fig", "")],
     {("show", "fig"): "p2"}),
    ("a step that changes its input in place passes it on",
     [N("load", "", "df"), N("mutate", "df", "df"), N("use", "df", "total")],
     {("mutate", "df"): "load", ("use", "df"): "mutate"}),
    ("two names from two producers", [N("a", "", "x"), N("b", "", "y"), N("c", "x y", "z")],
     {("c", "x"): "a", ("c", "y"): "b"}),
]


@pytest.mark.parametrize("nodes, sources", [c[1:] for c in NAMING], ids=[c[0] for c in NAMING])
def test_naming_rule(nodes, sources):
    g = Graph(nodes)
    assert {(c, i): g.source(c, i) for c, i in sources} == sources
    assert sorted(g.edges()) == sorted((p, c, i) for (c, i), p in sources.items())


def test_moving_a_cell_rewires_versions():
    before = Graph([N("load", "", "df"), N("clean", "df", "df"), N("total", "df", "s")])
    after = Graph([N("load", "", "df"), N("total", "df", "s"), N("clean", "df", "df")])
    assert before.source("total", "df") == "clean"
    assert after.source("total", "df") == "load"
    assert after.parents("clean") == ("load",)


def test_deleting_a_rebinding_cell_falls_back_to_the_version_above():
    g = Graph([N("load", "", "df"), N("total", "df", "s")])
    assert g.source("total", "df") == "load"


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
    ([Node("a", where="cell [1]"), Node("a", where="cell [2]")], ["two steps are named `a`", "cell [2]"]),
    ([Node("a", (), ("raw",)), Node("b", ("rwa",), ())], ["reads `rwa`, which no step above it writes",
                                                          "did you mean `raw`"]),
    ([Node("a", ("x",), ("x",))], ["step `a` reads `x`, which no step above it writes"]),
    ([N("use", "df", "t"), N("load", "", "df")], ["step `use` reads `df` before any step above it writes"
                                                  " it (step `load`, cell load, below, writes it first)"]),
])
def test_problems(nodes, fragments):
    with pytest.raises(GraphError) as e:
        Graph(nodes)
    for f in fragments:
        assert f in str(e.value)


def test_all_problems_reported_at_once():
    # the example of the real-notebooks issue: rebinding is not a problem any more; what is
    # left is reported together
    nodes = [N("a", "", "x"), N("b", "x", "x"), N("c", "x", "x y"), N("d", "", "y"),
             N("e", "nowhere", ""), N("f", "late", ""), N("g", "", "late"), N("a")]
    with pytest.raises(GraphError) as e:
        Graph(nodes)
    assert len(e.value.problems) == 3
    assert [p.split(" ")[:2] for p in e.value.problems] == [["two", "steps"], ["step", "`e`"],
                                                             ["step", "`f`"]]


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
