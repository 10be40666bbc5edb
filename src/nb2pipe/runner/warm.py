"""``nb2pipe run --watch``: one kernel kept warm between runs.

The kernel keeps the notebook's ``%%setup``, parameters and environment applied and the values
of the steps it ran in memory; on a change only the stale steps run in it, after the changed
step definitions are sent again.  A fresh kernel replaces it when what it was started with
changed: a ``%%setup`` or parameters cell, the parameters or environment it was given
(nb2pipe.toml), a module file it imported (a local helper, an upgraded package), or when the
kernel is gone.  Each replacement is said in one line.
"""
from __future__ import annotations

import json
import os
from typing import Callable

from ..errors import Nb2pipeError
from .kernel import KernelSession
from .local import prelude, spawn

# asked of the kernel after every run: what a fresh kernel would import anew.  Its library
# directories stand for the files in them (an install or upgrade changes the directory), so
# only the modules outside them (the project's, an editable install's) are stat'ed one by one
# With it, the keys of the results the kernel holds: a fresh step whose key the next plan
# gives again is handed to the stale steps below it from memory, not looked up in the store.
_MODULES = ("import sys as _s, sysconfig as _c, json as _j\n"
            "_d = sorted({_c.get_paths()[k] for k in ('stdlib', 'platstdlib', 'purelib', 'platlib')})\n"
            "print(_j.dumps(_d + sorted({f for f in (getattr(m, '__file__', None) for m in list(_s.modules.values()))"
            " if f and not f.startswith(tuple(_d))})))\n"
            "print(_j.dumps({n: r.key for n, r in get_ipython()._nb2pipe_session.engine.results.items()}))\n"
            "del _s, _c, _j, _d")


class WarmKernel:
    def __init__(self, say: Callable[[str], None] = print) -> None:
        self.session: KernelSession | None = None
        self.identity: dict | None = None
        self.steps: list[dict] = []           # the step definitions the kernel holds, in order
        self.files: dict[str, tuple | None] = {}
        self.say = say
        self.plan = WarmPlan()
        self.keys: dict[str, str] = {}        # step -> key of the result the kernel holds

    def session_for(self, nb, engine, overrides: dict, kernel_name: str | None,
                    define: Callable[[KernelSession, list[str]], None]) -> KernelSession:
        """The warm kernel, with ``nb``'s definitions; started (again) when it has to be."""
        cells = prelude(nb, engine, overrides)
        identity = _identity(nb, engine, cells, kernel_name)
        steps = json.loads(cells[-1].split("\n", 1)[1])
        why = self._stale(identity)
        if why is not None:
            self.say(why or "starting a kernel…")
            self.close()
            self.session = spawn(nb, engine, kernel_name).connect()
            self.session.prelude, self.identity, self.steps, self.keys = cells, None, [], {}
            define(self.session, cells)
            self.say(f"kernel ready (pid {self.session.pid}); it stays warm while watching")
        else:
            self.session.forget_cells()
            self.session.prelude = cells
            try:
                define(self.session, _changes(self.steps, steps))
            except Nb2pipeError:
                self.identity = None       # partly redefined: the next run starts afresh
                raise
        self.identity, self.steps = identity, steps
        return self.session

    def _stale(self, identity: dict) -> str | None:
        """Why the kernel must be (re)started: None when it can be used as it is; "" when
        there is none yet."""
        s = self.session
        if s is None or self.identity is None:
            return ""
        if not s.alive():
            return f"the kernel (pid {s.pid}) has exited; starting a fresh one"
        for part, what in (("setup", "`%%setup`"), ("parameters", "the parameters"),
                           ("environment", "the environment")):
            if identity[part] != self.identity[part]:
                return f"{what} changed: starting a fresh kernel"
        changed = [p for p, st in self.files.items() if _stat(p) != st]
        if changed:
            return f"{os.path.relpath(changed[0])} changed since the kernel imported it: starting a fresh kernel"
        return None

    def after_run(self) -> None:
        """Note the files the kernel has imported so far (a change to one needs a fresh kernel)."""
        if self.session is None or not self.session.alive():
            return
        try:
            cell = self.session.run_cell(_MODULES, timeout=60)
            text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
            paths, self.keys = (json.loads(ln) for ln in text.strip().splitlines()[-2:])
        except Exception:  # noqa: BLE001 - the kernel died meanwhile, or printed no list: start afresh
            self.identity = None
            return
        self.files = {p: _stat(p) for p in paths if p}
        self.session.forget_cells()

    def held(self, planned: dict[str, str | None]) -> set[str]:
        """Of the fresh steps ``planned`` (step -> key), those whose very result the kernel holds."""
        return {n for n, k in planned.items() if k is not None and self.keys.get(n) == k}

    def local_files(self, project_dir: str) -> list[str]:
        """The project's own modules the kernel imported (its helpers)."""
        root = os.path.realpath(project_dir)
        real = {p: os.path.realpath(p) for p in self.files if p.endswith(".py")}
        return sorted(p for p, r in real.items() if r.startswith(root + os.sep)
                      and not any(part.startswith(".") for part in os.path.relpath(r, root).split(os.sep)))

    def close(self, wait: bool = False) -> None:
        if self.session is not None:
            self.session.close(wait=wait)
            self.session = None


def _stat(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _identity(nb, engine, cells: list[str], kernel_name: str | None) -> dict:
    """What the kernel was started with, in the three parts a change is reported by."""
    from ..config import find_config
    setup = [c.source for c in nb.of_kind("setup")]
    params = [c.source for c in nb.of_kind("params", "control")]
    found = find_config(nb.project_dir)
    return {"setup": setup, "parameters": [params, cells[2]],
            "environment": [kernel_name or nb.kernel_name, engine.env_name, engine.store.url, cells[:2],
                            [c for c in cells[3:-1] if c.startswith("%nb2pipe contracts")],
                            json.dumps(found, sort_keys=True, default=str) if found else None]}


def _changes(old: list[dict], new: list[dict]) -> list[str]:
    """Cells that turn the kernel's step definitions ``old`` into ``new``: the steps after
    the first change of names or order are forgotten and defined again in order (so the
    kernel's order is the notebook's); before it, only the changed steps are redefined."""
    p = _prefix(old, new)
    cells = []
    gone = [_name(d) for d in old[p:]]
    if gone:
        cells.append("%dag forget " + " ".join(gone))
    again = [d for i, d in enumerate(new) if i >= p or d != old[i]]
    if again:
        cells.append("%%nb2pipe_define\n" + json.dumps(again))
    return cells


def _prefix(old: list[dict], new: list[dict]) -> int:
    """How many leading steps keep their names and order."""
    p = 0
    while p < min(len(old), len(new)) and (old[p]["line"] == new[p]["line"] or _name(old[p]) == _name(new[p])):
        p += 1
    return p


def _name(d: dict) -> str:
    from ..spec import parse_step_line
    return parse_step_line(d["line"]).name


class WarmPlan:
    """run --watch's planning engine, kept between runs like the kernel: when only step cells
    changed, the changed steps are defined again (as in the kernel, in notebook order) instead
    of every step; anything else (the store, -p, a %%setup or parameters cell) builds it anew."""

    def __init__(self) -> None:
        self.engine = None
        self.key: tuple | None = None
        self.steps: list[dict] = []

    def load(self, nb, store, overrides: dict):
        from .plan import engine_for, python_source
        from ..spec import parse_step_line
        env = getattr(store, "env", None)
        key = (store.url, json.dumps([env.name, env.params] if env else None, sort_keys=True, default=str),
               json.dumps(overrides, sort_keys=True, default=str), nb.path,
               [c.source for c in nb.of_kind("setup", "params", "control")],
               json.dumps(nb.manifest, sort_keys=True, default=str))
        steps = [{"line": c.line, "body": c.body, "where": c.where, "cell_id": c.cell_id, "source": c.source}
                 for c in nb.of_kind("step")]
        if self.engine is None or key != self.key:
            self.engine, self.key, self.steps = engine_for(nb, store, overrides), key, steps
            return self.engine
        engine, p = self.engine, _prefix(self.steps, steps)
        for d in self.steps[p:]:
            engine.forget(_name(d), emit=False)
        for i, d in enumerate(steps):
            if i >= p or d != self.steps[i]:
                spec = parse_step_line(d["line"])
                engine.define(spec, d["body"] if spec.sql else python_source(d["body"]), cell_id=d["cell_id"],
                              where=d["where"], line_offset=1, cell_text=d["source"], validate=False)
        self.steps = steps
        engine.check_all_reads()
        engine.defs.graph(allow_missing=False)
        return engine
