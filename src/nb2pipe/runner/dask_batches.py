"""Which ready chains of steps share one Dask task (one ``%dag run`` cell in a worker's
kernel).  A task costs about 20-40 ms beyond its steps' work (the scheduler's round trips,
the kernel cell, the worker reading its outputs), so many short independent steps run as
one task each pay it many times over.

Ready chains wait in a :class:`ReadyPool` at the client, at most two tasks per worker
thread leave at once, and the next task is made when one ends.  Until this run has seen
as many steps end as two per thread, each chain is its own task (nothing known: a trivial
root says nothing of its children).  Then the typical duration of the steps that ended
last sizes the next task: its expected work stays under ``TASK_WORK_S`` and it takes at
most half a thread's share of what waits, so the work stays spread and the last tasks
are small.  Chains with a time limit of their own or asking for resources do not go
through the pool (the executor submits each alone).

Grouping changes no step's key, entry or outcome: the cell runs each step as its own task
would, each outcome is published as the step ends, and a failed step does not stop its
independent batch mates."""
from __future__ import annotations

import math
import statistics

TASK_WORK_S = 0.25      # the expected work of a task of grouped steps, at most
MIN_STEP_S = 1e-3       # an estimate below this counts as this


def group(chains: list[list[str]], *, est: float | None, slots: int) -> list[list[list[str]]]:
    """``chains`` (in run order) in tasks, each a list of chains.  ``est``: the typical
    duration (s) of a step (None: unknown, each chain alone); ``slots``: how many tasks
    the cluster runs at once."""
    if est is None:
        return [[c] for c in chains]
    per_task = max(1, int(TASK_WORK_S / max(est, MIN_STEP_S)))        # steps
    most = max(1, math.ceil(len(chains) / (2 * max(1, slots))))       # chains
    out: list[list[list[str]]] = []
    task: list[list[str]] = []
    for c in chains:
        if task and (len(task) >= most or sum(map(len, task)) + len(c) > per_task):
            out.append(task)
            task = []
        task.append(c)
    if task:
        out.append(task)
    return out


class ReadyPool:
    """Ready chains not yet submitted, and the durations of the steps that ended."""

    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self.in_flight = 2 * self.slots        # tasks out at once, at most
        self.chains: list[list[str]] = []
        self.durations: list[float] = []

    def __bool__(self) -> bool:
        return bool(self.chains)

    def add(self, chain: list[str]) -> None:
        self.chains.append(chain)

    def ended(self, duration: float) -> None:
        self.durations.append(duration)

    def estimate(self) -> float | None:
        """The median duration of the last steps that ended, once two per thread did."""
        if len(self.durations) < self.in_flight:
            return None
        return statistics.median(self.durations[-self.in_flight:])

    def take(self, running: int, *, alone: bool = False) -> list[str] | None:
        """The steps of the next task, when fewer than ``in_flight`` tasks are ``running``
        and a chain waits; ``alone``: one chain (e.g. the run's time is up)."""
        if not self.chains or running >= self.in_flight:
            return None
        task = group(self.chains, est=None if alone else self.estimate(), slots=self.slots)[0]
        del self.chains[:len(task)]
        return [s for c in task for s in c]
