"""The immutable DAG of steps, wired by notebook order.

Notebook order is the semantics: a step that reads ``x`` gets ``x`` from the
nearest step *above it* that writes ``x``.  A later step may write ``x`` again
(a new version of ``x``); steps below it then read that version.  So every edge
points down the notebook, the notebook order is already a topological order,
and a headless run gives each step what restart-and-run-all would.

A :class:`Graph` is built once from :class:`Node` s in notebook order and never
changes; it finds *every* problem at construction (duplicate names, reads of a
name no step above writes) and raises them together in one :class:`GraphError`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .errors import GraphError, did_you_mean

_FIX = "fix the steps named above; all problems are listed at once"


def _two_named(first: "Node", second: "Node") -> str:
    return (f"two steps are named `{second.name}` ({first.where or 'earlier'} and"
            f" {second.where or 'later'}); rename one")


@dataclass(frozen=True)
class Node:
    name: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    where: str = ""          # e.g. "cell [4]"; used in messages


class Graph:
    """Steps and the data flowing between them, in notebook order."""

    __slots__ = ("_nodes", "_sources", "producer", "_parents", "_children", "_order", "missing",
                 "below")

    def __init__(self, nodes: Iterable[Node], *, allow_missing: bool = False):
        nodes = tuple(nodes)
        problems: list[str] = []
        seen: dict[str, Node] = {}
        for n in nodes:
            if n.name in seen:
                problems.append(_two_named(seen[n.name], n))
            else:
                seen[n.name] = n
        first_writer: dict[str, Node] = {}
        for n in nodes:
            for o in n.outputs:
                first_writer.setdefault(o, n)
        latest: dict[str, str] = {}                # name -> the step that wrote it last, so far
        sources: dict[tuple[str, str], str] = {}   # (consumer, name) -> producer
        missing: dict[str, tuple[str, ...]] = {}
        below: dict[tuple[str, str], str] = {}     # (consumer, name) -> first writer below it
        parents: dict[str, tuple[str, ...]] = {}
        for n in nodes:
            ps: list[str] = []
            for i in n.inputs:
                p = latest.get(i)
                if p is not None:
                    sources[(n.name, i)] = p
                    if p not in ps:
                        ps.append(p)
                    continue
                missing[n.name] = missing.get(n.name, ()) + (i,)
                later = first_writer.get(i)
                if later is not None and later.name != n.name:
                    below[(n.name, i)] = later.name
                if allow_missing:
                    continue
                if later is not None and later.name != n.name:
                    problems.append(f"step `{n.name}` reads `{i}` before any step above it writes it"
                                    f" (step `{later.name}`{', ' + later.where if later.where else ''},"
                                    " below, writes it first); move that step above, or read it later")
                else:
                    problems.append(f"step `{n.name}` reads `{i}`, which no step above it writes"
                                    + did_you_mean(i, set(first_writer) - {i}))
            parents.setdefault(n.name, tuple(ps))
            for o in n.outputs:
                latest[o] = n.name
        if problems:
            raise GraphError(problems, fix=_FIX)
        children: dict[str, list[str]] = {n.name: [] for n in nodes}
        for name, ps in parents.items():
            for p in ps:
                children[p].append(name)
        self._nodes = {n.name: n for n in nodes}
        self._sources = sources
        self.producer = latest
        self._parents = parents
        self._children = {k: tuple(v) for k, v in children.items()}
        self._order = tuple(n.name for n in nodes)
        self.missing = missing
        self.below = below

    def with_last(self, node: Node) -> "Graph":
        """This graph with ``node`` below every step, its reads resolved against the writers
        above it (all of them): in the time of its edges and a copy of the maps, not a walk
        of every node.  Only for a node whose outputs no step here reads before a step
        writes them (else those reads' sources change: build the graph anew)."""
        if node.name in self._nodes:
            raise GraphError([_two_named(self._nodes[node.name], node)], fix=_FIX)
        g = Graph.__new__(Graph)
        g._nodes = {**self._nodes, node.name: node}
        g._sources = dict(self._sources)
        g.missing = dict(self.missing)
        g.below = dict(self.below)
        parents: list[str] = []
        for i in node.inputs:
            p = self.producer.get(i)
            if p is None:                      # no writer above it, and none below: the last
                g.missing[node.name] = g.missing.get(node.name, ()) + (i,)
                continue
            g._sources[(node.name, i)] = p
            if p not in parents:
                parents.append(p)
        g._parents = {**self._parents, node.name: tuple(parents)}
        g._children = dict(self._children)
        for p in parents:
            g._children[p] = g._children[p] + (node.name,)
        g._children[node.name] = ()
        g.producer = {**self.producer, **{o: node.name for o in node.outputs}}
        g._order = self._order + (node.name,)
        return g

    # -- structure
    def __contains__(self, name: str) -> bool:
        return name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __getitem__(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise GraphError([f"there is no step `{name}`" + did_you_mean(name, self._nodes)]) from None

    @property
    def order(self) -> tuple[str, ...]:
        """Step names in notebook order, which is also a topological order."""
        return self._order

    def parents(self, name: str) -> tuple[str, ...]:
        self[name]
        return self._parents[name]

    def children(self, name: str) -> tuple[str, ...]:
        self[name]
        return self._children[name]

    def source(self, step: str, name: str) -> str | None:
        """The step whose version of ``name`` ``step`` reads (the nearest writer above it)."""
        return self._sources.get((step, name))

    def edges(self) -> list[tuple[str, str, str]]:
        """``(producer, consumer, data name)`` for every data flow."""
        return [(p, c, i) for (c, i), p in self._sources.items()]

    def _closure(self, names: Iterable[str], step) -> set[str]:
        seen: set[str] = set()
        stack = [n for n in names if self[n]]
        while stack:
            for m in step(stack.pop()):
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        return seen

    def ancestors(self, *names: str) -> set[str]:
        return self._closure(names, self._parents.__getitem__)

    def descendants(self, *names: str) -> set[str]:
        return self._closure(names, self._children.__getitem__)

    def upto(self, *names: str) -> tuple[str, ...]:
        """The targets and everything they need, in order."""
        keep = self.ancestors(*names) | set(names)
        return tuple(n for n in self._order if n in keep)

    def downfrom(self, *names: str) -> tuple[str, ...]:
        """The given steps and everything downstream of them, in order."""
        keep = self.descendants(*names) | set(names)
        return tuple(n for n in self._order if n in keep)

