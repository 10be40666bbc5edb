"""The immutable DAG of steps: validation, order, ancestry.

A :class:`Graph` is built once from :class:`Node` s and never changes; it finds
*every* problem at construction (duplicate names, two producers of one output,
unknown inputs, cycles) and raises them together in one :class:`GraphError`.
"""
from __future__ import annotations

import difflib
import heapq
from dataclasses import dataclass
from typing import Iterable

from .errors import GraphError


@dataclass(frozen=True)
class Node:
    name: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    where: str = ""          # e.g. "cell [4]"; used in messages


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


class Graph:
    """Steps and the data flowing between them.  Order of ``nodes`` is the tie-breaker
    for topological order, so a notebook's steps run top to bottom where they can."""

    __slots__ = ("_nodes", "_index", "producer", "_parents", "_children", "_order", "missing")

    def __init__(self, nodes: Iterable[Node], *, allow_missing: bool = False):
        nodes = tuple(nodes)
        problems: list[str] = []
        index: dict[str, int] = {}
        for i, n in enumerate(nodes):
            if n.name in index:
                problems.append(f"two steps are named `{n.name}`"
                                f" ({nodes[index[n.name]].where or 'earlier'} and {n.where or 'later'});"
                                " rename one")
            else:
                index[n.name] = i
        producer: dict[str, str] = {}
        for n in nodes:
            for o in n.outputs:
                if o in producer and producer[o] != n.name:
                    problems.append(f"output `{o}` is produced by two steps, `{producer[o]}` and"
                                    f" `{n.name}`; give one of them another name")
                producer.setdefault(o, n.name)
        missing: dict[str, tuple[str, ...]] = {}
        parents: dict[str, tuple[str, ...]] = {}
        for n in nodes:
            ps = []
            for i in n.inputs:
                p = producer.get(i)
                if p is None:
                    missing.setdefault(n.name, ())
                    missing[n.name] += (i,)
                    if not allow_missing:
                        problems.append(f"step `{n.name}` reads `{i}`, which no step produces"
                                        + _did_you_mean(i, producer))
                elif p == n.name:
                    problems.append(f"step `{n.name}` reads its own output `{i}`")
                elif p not in ps:
                    ps.append(p)
            parents[n.name] = tuple(ps)
        children: dict[str, list[str]] = {n.name: [] for n in nodes}
        for name, ps in parents.items():
            for p in ps:
                children[p].append(name)
        order, cycle = _toposort(nodes, index, parents, children)
        if cycle:
            problems.append("cycle: " + " -> ".join(f"`{c}`" for c in cycle + [cycle[0]]))
        if problems:
            raise GraphError(problems, fix="fix the steps named above; all problems are listed at once")
        self._nodes = {n.name: n for n in nodes}
        self._index = index
        self.producer = producer
        self._parents = parents
        self._children = {k: tuple(v) for k, v in children.items()}
        self._order = tuple(order)
        self.missing = missing

    # -- structure
    def __contains__(self, name: str) -> bool:
        return name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __getitem__(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise GraphError([f"there is no step `{name}`" + _did_you_mean(name, self._nodes)]) from None

    @property
    def order(self) -> tuple[str, ...]:
        """Step names in topological order (definition order among independent steps)."""
        return self._order

    def parents(self, name: str) -> tuple[str, ...]:
        self[name]
        return self._parents[name]

    def children(self, name: str) -> tuple[str, ...]:
        self[name]
        return self._children[name]

    def edges(self) -> list[tuple[str, str, str]]:
        """``(producer, consumer, data name)`` for every data flow."""
        return [(self.producer[i], n.name, i) for n in self._nodes.values()
                for i in n.inputs if i in self.producer]

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


def _toposort(nodes, index, parents, children):
    indeg = {n.name: len(parents[n.name]) for n in nodes if n.name in parents}
    heap = [(index[n], n) for n, d in indeg.items() if d == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        _, n = heapq.heappop(heap)
        order.append(n)
        for c in children[n]:
            indeg[c] -= 1
            if indeg[c] == 0:
                heapq.heappush(heap, (index[c], c))
    if len(order) == len(indeg):
        return order, None
    # find one cycle among what is left, to name it
    left = {n for n, d in indeg.items() if d > 0}
    start = min(left, key=index.__getitem__)
    path, pos, node = [], {}, start
    while node not in pos:
        pos[node] = len(path)
        path.append(node)
        node = next(p for p in parents[node] if p in left)
    cyc = path[pos[node]:]
    cyc.reverse()                                  # data-flow direction
    first = min(range(len(cyc)), key=lambda i: index[cyc[i]])
    return order, cyc[first:] + cyc[:first]        # start at the earliest-defined step
