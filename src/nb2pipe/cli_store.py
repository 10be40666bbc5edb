"""``nb2pipe verify``, ``gc`` and ``store``: checking, cleaning and measuring the store."""
from __future__ import annotations

import json

from .cli_common import _load, _store_line
from .errors import Nb2pipeError

def cmd_verify(args) -> int:
    """Re-hash every object of the notebook's store; damaged ones are moved aside (their
    steps re-run on the next run) unless --dry-run."""
    _, engine = _load(args)
    checked, bad = 0, []
    for rel, problem in engine.store.verify_all(repair=not args.dry_run):
        checked += 1
        if problem:
            bad.append(rel)
            print(f"damaged: {rel} ({problem})" + ("" if args.dry_run else "; moved aside"))
    print(f"verified {checked} objects in {engine.store.url}: "
          + (f"{len(bad)} damaged" if bad else "all intact"))
    return 1 if bad else 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def cmd_gc(args) -> int:
    """Delete objects, entries and stamps that no notebook's last results nor the last N runs
    reach (and that are older than the grace window)."""
    from . import gc
    _, engine = _load(args)
    _store_line(engine, False)
    if args.keep_runs < 0 or args.grace_seconds < 0:
        raise Nb2pipeError("--keep-runs and --grace-seconds must be 0 or more", fix="e.g. --keep-runs 5")
    r = gc.collect(engine.store, keep_runs=args.keep_runs, dry_run=args.dry_run, grace=args.grace_seconds)
    verb = "would delete" if args.dry_run else "deleted"
    for rel, n in r.deleted if args.dry_run else []:
        print(f"  {rel} ({_size(n)})")
    print(f"{verb} {len(r.deleted)} files ({_size(r.freed)}); kept {r.kept_objects} reachable objects"
          + (f"; {r.young} unreachable files are younger than {args.grace_seconds:g} s and were kept"
             if r.young else ""))
    return 0


def cmd_store(args) -> int:
    """The size of each step's last result, per notebook, and of the whole store."""
    from . import gc
    _, engine = _load(args)
    _store_line(engine, args.json)
    rows = gc.sizes(engine.store)
    n, total = gc.total_objects(engine.store)
    if args.json:
        print(json.dumps({"steps": rows, "objects": n, "bytes": total}, indent=2))
        return 0
    width = max([len(f"{r['pipeline']}/{r['step']}") for r in rows] + [4])
    for r in rows:
        print(f"{r['pipeline'] + '/' + r['step']:<{width}}  {r['objects']:>3} objects  {_size(r['bytes']):>9}")
    reach = sum(r["bytes"] for r in rows)
    print(f"{'all':<{width}}  {n:>3} objects  {_size(total):>9}  ({_size(max(total - reach, 0))} not in a"
          " last result: `nb2pipe gc` frees what nothing reaches)")
    return 0
