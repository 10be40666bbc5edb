"""``nb2pipe run --watch``: run, then re-run the stale part whenever the notebook or a file
it reads changes (the kernel kept warm between runs: :mod:`nb2pipe.runner.warm`)."""
from __future__ import annotations

import os
import sys
import time

from .errors import Nb2pipeError


def _watched_paths(args, warm=None) -> tuple[str, list[str]]:
    """The notebook's project directory and the paths a run reads: the notebook, every --src
    of its steps, the local files its SQL steps read (existing or not) and the project's
    modules the warm kernel imported."""
    from . import notebook
    from .sources import expand_source
    from .spec import parse_step_line
    nb = notebook.read(args.target)
    paths = [nb.path]
    for c in nb.of_kind("step"):
        try:
            spec = parse_step_line(c.line)
        except Nb2pipeError:
            continue
        srcs = list(spec.srcs)
        if spec.sql:
            from .sql import analyze_sql
            try:
                srcs += [f for f in analyze_sql(c.body).files if "://" not in f]
            except Nb2pipeError:
                pass
        for src in srcs:
            paths += expand_source(src, nb.project_dir) or [os.path.join(nb.project_dir, src)]
    if warm is not None:
        paths += warm.local_files(nb.project_dir)
    return nb.project_dir, paths


def _snapshot(paths: list[str]) -> dict[str, tuple | None]:
    out: dict[str, tuple | None] = {}
    for p in paths:
        try:
            st = os.stat(p)
            out[p] = (st.st_mtime_ns, st.st_size)
        except OSError:
            out[p] = None
    return out


def _watch_roots(project_dir: str, paths: list[str]) -> list[str]:
    """Directories to watch (recursively): the project's and, for a path outside it, the
    nearest existing directory above it."""
    roots = {os.path.realpath(project_dir)}
    for p in paths:
        d = os.path.dirname(os.path.realpath(p))
        while d and not os.path.isdir(d):
            d = os.path.dirname(d)
        if d and not any(d == r or d.startswith(r + os.sep) for r in roots):
            roots.add(d)
    return sorted(r for r in roots if not any(r.startswith(o + os.sep) for o in roots))


def _changed(args, seen: dict, warm=None) -> tuple[dict, list[str]]:
    project_dir, paths = _watched_paths(args, warm)
    now = _snapshot(paths)
    return now, sorted(p for p in set(now) | set(seen) if now.get(p) != seen.get(p))


def _settled(args, now: dict, warm=None, quiet: float = 0.3, most: float = 10.0) -> dict:
    """A file still being written (an editor saving in several writes, a long ``to_csv``) is
    waited for: the watched files must hold still for ``quiet`` seconds (``most`` at most),
    so a run never starts on a half-written source and one save makes one run."""
    deadline = time.monotonic() + most
    while time.monotonic() < deadline:
        time.sleep(quiet)
        later = _snapshot(_watched_paths(args, warm)[1])
        if later == now:
            break
        now = later
    return now


def watch(args) -> int:
    """Run, then re-run the stale part whenever a source file or the notebook changes
    (watchfiles: OS notifications, debounced).  One run at a time; changes during a run
    trigger one more run; Ctrl-C stops cleanly.  The local executor keeps one kernel warm
    between runs (:mod:`nb2pipe.runner.warm`): an edit runs only the stale steps, in it."""
    from .cli_run import _run_once
    from .runner.warm import WarmKernel
    print(f"watching {args.target} and its sources (Ctrl-C to stop)", flush=True)
    local = args.executor != "dask" and not args.gateway_url and args.executor != "remote"
    warm = WarmKernel(say=lambda line: print(line, flush=True)) if local else None
    try:
        seen = _snapshot(_watched_paths(args)[1])
        while True:
            try:
                _run_once(args, warm)
                if warm is not None:
                    warm.after_run()     # and watch the project modules it imported from now on
                    import pyarrow  # noqa: F401 - checks the entries an edit's run writes: imported while idle
                    seen = {**_snapshot(_watched_paths(args, warm)[1]), **seen}
            except Nb2pipeError as e:
                print(f"nb2pipe: {e}", file=sys.stderr, flush=True)
            seen, changed = _next_change(args, seen, warm)
            print(f"changed: {', '.join(os.path.relpath(p) for p in changed[:5])}"
                  + (" …" if len(changed) > 5 else ""), flush=True)
    except KeyboardInterrupt:
        print("stopped watching", flush=True)
        return 0
    finally:
        if warm is not None:
            warm.close(wait=True)       # it may be busy in a step: make sure it is gone


def _next_change(args, seen: dict, warm=None) -> tuple[dict, list[str]]:
    """Wait until a watched file differs from ``seen`` and has settled; (snapshot, changed)."""
    import watchfiles
    while True:
        now, changed = _changed(args, seen, warm)
        if not changed:
            project_dir, paths = _watched_paths(args, warm)

            def relevant(change, path: str) -> bool:     # not the store, .git, checkpoints...
                rel = os.path.relpath(path, project_dir).split(os.sep)
                return not any(part.startswith(".") and part != ".." for part in rel[:-1])
            first = True     # yielded (empty) once the watcher runs: say so, look once more
            for events in watchfiles.watch(*_watch_roots(project_dir, paths), watch_filter=relevant,
                                           yield_on_timeout=True, rust_timeout=500):
                if first:
                    print("waiting for changes…", flush=True)
                if first or events:
                    first = False
                    now, changed = _changed(args, seen, warm)
                    if changed:
                        break
        now = _settled(args, now, warm)
        changed = sorted(p for p in set(now) | set(seen) if now.get(p) != seen.get(p))
        if changed:              # else: written and put back as it was; keep waiting
            return now, changed
