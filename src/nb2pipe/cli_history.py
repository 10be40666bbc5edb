"""``nb2pipe log`` and ``nb2pipe promote``: the history of runs and deployments, read from
any store (run records are queried with DuckDB; secrets are masked again on the way out)."""
from __future__ import annotations

import json
import os

from .errors import Nb2pipeError

LOG_SQL = """
WITH steps AS (
  SELECT r.run_id, r.finished, r."user", r.kind, unnest(r.steps) AS s,
         generate_subscripts(r.steps, 1) AS i
  FROM read_json_auto(?, union_by_name = true) AS r
)
SELECT run_id, strftime(to_timestamp(finished), '%Y-%m-%d %H:%M:%S') AS finished, "user", kind,
       s.step, s.status, round(s.duration, 3) AS seconds, left(s.key, 12) AS key, s.error
FROM steps
{where}
ORDER BY finished DESC, run_id DESC, i
LIMIT ?
"""


def cmd_log(args) -> int:
    from . import records
    run_id = _run_id_target(args)
    store = _log_store(args)
    if run_id or args.run:
        from .runbook import show_run
        return show_run(store, run_id or args.run, args.step, figures=args.figures,
                        notebook=args.notebook, mask=_log_mask(args))
    recs = records.deployments(store, args.env) if args.deployments else records.runs(store)
    if not recs:
        print(f"no {'deployments' if args.deployments else 'runs'} recorded in {store.url} yet")
        return 0
    import duckdb
    path = records.as_json_lines(recs, records.DEPLOY_COLUMNS) if args.deployments else \
        records.as_json_lines(recs, records.RUN_COLUMNS, records.STEP_COLUMNS)
    try:
        if args.deployments:
            rel = duckdb.connect().execute(DEPLOY_SQL.format(where=""), [path, args.limit])
        else:
            where = "WHERE s.step = ?" if args.step else ""
            params = [path] + ([args.step] if args.step else []) + [args.limit]
            rel = duckdb.connect().execute(LOG_SQL.format(where=where), params)
        return _print_rel(rel, args.json, _log_mask(args))
    finally:
        os.remove(path)


def _run_id_target(args) -> str | None:
    """`nb2pipe log RUN`: a positional that is no file or folder but a run id."""
    from .records import RUN_ID
    t = args.target
    if t and not os.path.exists(t) and not t.endswith(".ipynb") and RUN_ID.fullmatch(t):
        args.target = None
        return t
    return None


def _log_store(args):
    """The store `log` reads (never created or swept: it is opened read-only)."""
    from .store import Store
    if args.target:
        from . import notebook
        from .runner import plan
        store = plan.project_store(notebook.read(args.target), args.store, args.env)
    elif args.env and not args.store:
        from . import environments
        store = environments.open_store(environments.get(os.getcwd(), args.env), os.getcwd())
    else:
        from .config import store_location
        return Store(store_location(os.getcwd(), args.store), read_only=True)
    return getattr(store, "own", store)


def _log_mask(args):
    """Run records are masked when written; this also masks the environment's credentials
    (as set here) in records written before that."""
    from . import environments
    from .redact import Redactor, environment_secrets
    try:
        env = environments.get(os.getcwd(), args.env)
    except Nb2pipeError:
        env = None
    return Redactor(environment_secrets(os.getcwd(), env.name if env else None))


def _print_rel(rel, as_json: bool, mask=None) -> int:
    cols = [d[0] for d in rel.description]
    rows = rel.fetchall()
    if mask:
        rows = [tuple(mask.text(v) if isinstance(v, str) else v for v in r) for r in rows]
    if as_json:
        print(json.dumps([dict(zip(cols, r)) for r in rows], indent=2, default=str))
        return 0
    table = [cols] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [min(max(len(r[i]) for r in table), 60) for i in range(len(cols))]
    for i, r in enumerate(table):
        print("  ".join(c[:60].ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return 0


def cmd_promote(args) -> int:
    from .promote import promote
    r = promote(args.target, args.to, rollback=args.rollback)
    verb = "rolled back to" if r["action"] == "rollback" else "promoted"
    print(f"{verb} {r['package']} {r['version']} in `{r['env']}`"
          + (f" (was {r['replaced']})" if r.get("replaced") else "")
          + (f"; tests: {r['tests']}" if r["action"] == "promote" else ""))
    return 0


DEPLOY_SQL = """
SELECT env, strftime(to_timestamp("when"), '%Y-%m-%d %H:%M:%S') AS "when", action, package, version,
       replaced, "user", tests
FROM read_json_auto(?, union_by_name = true)
{where}
ORDER BY "when" DESC
LIMIT ?
"""
