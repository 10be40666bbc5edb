"""``nb2pipe`` command line: run | status | check | dag.

Start-up stays light: planning reads the notebook JSON directly; nbclient and
nbformat are imported only when a kernel is really needed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from .cli_common import _load, _store_line
from .cli_history import cmd_log, cmd_promote
from .cli_run import cmd_run
from .cli_store import cmd_gc, cmd_store, cmd_verify
from .errors import Nb2pipeError

EPILOG = """examples:
  nb2pipe run examples/sales/analysis.ipynb
  nb2pipe run analysis.ipynb -p min_units=5 --only by_region
  nb2pipe status analysis.ipynb
  nb2pipe check analysis.ipynb
  nb2pipe dag analysis.ipynb --format mermaid
  nb2pipe export analysis.ipynb -o build/analysis --version 1.2.0
  nb2pipe log --step clean
  nb2pipe promote build/analysis --to prod
  nb2pipe log --deployments --env prod
"""


def cmd_status(args) -> int:
    from .report import StatusTable
    from .saves import mark_missing_saves
    _, engine = _load(args)
    states = engine.plan()
    mark_missing_saves(engine, states)
    statuses = list(states.values())
    _store_line(engine, args.json)
    if args.json:
        print(json.dumps([s.to_json() for s in statuses], indent=2))
    else:
        print(repr(StatusTable(statuses, engine.store.url, engine.env_name)))
    return 0


def cmd_check(args) -> int:
    kernel = _sample_kernel(args)       # it boots while the notebook is read and planned
    try:
        nb, engine = _load(args)
        g = engine.graph()
        print(f"ok: {len(g)} steps, {len(g.edges())} edges, {len(engine.defs.params)} parameters,"
              f" {len(engine.defs.setup)} setup cells — the DAG is closed and every name resolves")
        code = 0
        if args.schema:
            from . import schemacheck
            check = schemacheck.run(engine)
            print(schemacheck.render(check))
            code = 0 if check.ok else 1
        if args.sample is not None:
            code = max(code, _check_sample(nb, engine, args, kernel))
        return code
    finally:
        if kernel is not None:          # the check did not use it (an error): stopped
            from .samplerun import discard
            discard(kernel)


def _sample_kernel(args):
    """The local kernel of ``check --sample``, started first (the kernel is named or installed,
    the rows are 1 or more): nothing else the command does needs it sooner."""
    if args.sample is None or args.sample < 1 or args.executor != "local":
        return None
    from . import notebook, samplerun
    from .cli_run import _check_kernel
    nb = notebook.read(args.target)
    _check_kernel(args.kernel or nb.kernel_name)
    return samplerun.start(nb, args.kernel)


def _check_sample(nb, engine, args, kernel=None) -> int:
    from . import samplecheck
    from .cli_run import _check_kernel
    if args.sample < 1:
        raise Nb2pipeError(f"--sample takes a number of rows of 1 or more (got {args.sample})",
                           fix="e.g. --sample 1000")
    _check_kernel(args.kernel or nb.kernel_name)
    if args.executor in ("dask", "remote"):
        from .extras import require
        require(args.executor)
    check = samplecheck.run(nb, engine, rows=args.sample, kernel_name=args.kernel, executor=args.executor,
                            scheduler=args.scheduler, gateway=(args.gateway_url, args.token), session=kernel)
    print(engine.redactor().text(samplecheck.render(check, engine.graph())))
    return 0 if check.ok else 1


def cmd_contract(args) -> int:
    """`nb2pipe contract accept STEP`: the step's last result's types become its contract."""
    from . import contracts
    _, engine = _load(args)
    for step in args.steps:
        engine.graph()[step]              # an unknown step: did-you-mean
        c = contracts.accept(engine.store, step, engine.pipeline)
        print(f"contract of step `{step}` pinned: " + "; ".join(
            f"`{o}` {_contract_text(v)}" for o, v in c.items()))
    return 0


def _contract_text(c: dict) -> str:
    if "schema" in c:
        return "(" + ", ".join(f"{n} {t}" for n, t in c["schema"]) + ")"
    if "dtype" in c:
        return f"{c['type']} {c['dtype']} {c['ndim']}-d"
    return c.get("type", "?")


def cmd_dag(args) -> int:
    from . import render
    _, engine = _load(args)
    g = engine.graph()
    steps = [s.to_json() for s in engine.plan(g).values()]
    fn = {"svg": render.to_svg, "mermaid": render.to_mermaid, "dot": render.to_dot}[args.format]
    text = fn(steps, g.edges(), direction=args.direction)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        print(text)
    return 0


def cmd_export(args) -> int:
    from .export.summary import export_described
    nb, engine = _load(args)
    _, lines = export_described(nb, engine, args.output, name=args.name, version=args.version,
                                overwrite=args.overwrite, targets=tuple(args.target_kind or ()),
                                schedule=args.schedule, runtime_wheel_path=args.runtime_wheel,
                                extras=tuple(args.extra or ()))
    print("\n".join(lines))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nb2pipe", description="Notebook steps as a cached pipeline.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_run, _add_planning, _add_packaging, _add_store):
        add(sub)
    return p


def _target(sp) -> None:
    """The notebook and where its store, parameters and environment come from."""
    sp.add_argument("target", help="a notebook (.ipynb)")
    sp.add_argument("--store", help="store location: a path or fsspec URL (default .nb2pipe/ beside"
                                    " the notebook, or $NB2PIPE_STORE)")
    sp.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    sp.add_argument("--params", action="append", default=[], metavar="FILE",
                    help="parameters from a YAML or JSON file")
    sp.add_argument("--env", help="environment from nb2pipe.toml / [tool.nb2pipe] (store,"
                                  " parameters, credentials); default $NB2PIPE_ENV or default_env")


def _add_run(sub) -> None:
    """nb2pipe run."""
    r = sub.add_parser("run", help="run the stale steps headless (one kernel)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _target(r)
    r.add_argument("--only", action="append", default=[], metavar="STEP", help="this step and what it needs")
    r.add_argument("--from", action="append", default=[], metavar="STEP", help="this step and downstream")
    r.add_argument("--force", action="store_true", help="re-run the selected steps even if cached")
    r.add_argument("--dry-run", action="store_true", help="show what would run, run nothing")
    r.add_argument("--retries", type=int, default=0, help="retry a failing step N times")
    r.add_argument("--timeout", help="stop the run after this long (90s, 30m, 2h); steps still"
                                      " running or not started fail as timed out")
    r.add_argument("--kernel", help="kernel name (default: the notebook's)")
    r.add_argument("--gateway-url", help="run on a kernel of this Jupyter Server / Kernel Gateway"
                                         " (default $JUPYTER_GATEWAY_URL with --executor remote)")
    r.add_argument("--token", help="its auth token (default $JUPYTER_GATEWAY_AUTH_TOKEN)")
    r.add_argument("--executor", choices=["local", "remote", "dask"], default="local",
                   help="where kernels run: one local kernel, a remote server's kernel, or a warm"
                        " kernel per Dask worker with independent steps in parallel")
    r.add_argument("--scheduler", help="Dask scheduler address (default: a local cluster)")
    r.add_argument("--workers", type=int, help="workers of the local Dask cluster (default 2)")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.add_argument("--watch", action="store_true",
                   help="keep running: re-run what is stale whenever a --src file or the notebook changes")
    r.add_argument("--output-notebook", metavar="PATH",
                   help="write the executed notebook (each step cell with its outputs) here; also kept"
                        " with the run record (`nb2pipe log RUN --notebook PATH`)")
    r.set_defaults(fn=cmd_run)


def _add_planning(sub) -> None:
    """nb2pipe status, check, contract, dag: planning without running."""
    s = sub.add_parser("status", help="what is fresh / stale and why (no kernel)")
    _target(s)
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_status)

    c = sub.add_parser("check", help="validate without running: DAG closed, names resolve;"
                                     " --sample runs every step on the first rows of its sources")
    _target(c)
    c.add_argument("--sample", type=int, nargs="?", const=1000, metavar="ROWS",
                   help="run every step headless on the first ROWS rows (default 1000) of each source"
                        " file, in a store of its own, and report every output that breaks its"
                        " contract (exit status 1)")
    c.add_argument("--schema", action="store_true",
                   help="without running Python: plan SQL steps with DuckDB on zero-row tables of their"
                        " inputs' contracts, and list Python steps whose inputs' schemas changed since"
                        " their cached run (exit status 1 on any break)")
    c.add_argument("--kernel", help="kernel name for --sample (default: the notebook's)")
    c.add_argument("--executor", choices=["local", "remote", "dask"], default="local",
                   help="where --sample runs the steps: one local kernel, a remote server's kernel, or Dask"
                        " (same samples, same report)")
    c.add_argument("--scheduler", help="Dask scheduler address for --executor dask (default: a local cluster)")
    c.add_argument("--gateway-url", help="Jupyter Server / Kernel Gateway for --executor remote"
                                         " (default $JUPYTER_GATEWAY_URL)")
    c.add_argument("--token", help="its auth token (default $JUPYTER_GATEWAY_AUTH_TOKEN)")
    c.set_defaults(fn=cmd_check)

    ct = sub.add_parser("contract", help="pin output contracts: `contract accept NB STEP`: the"
                                         " step's last result's types become its contract")
    ct.add_argument("action", choices=["accept"])
    ct.add_argument("target", help="the notebook (.ipynb)")
    ct.add_argument("steps", nargs="+", metavar="STEP")
    ct.add_argument("--store", help="store location")
    ct.add_argument("--env", help="environment")
    ct.set_defaults(fn=cmd_contract, param=[], params=[])

    d = sub.add_parser("dag", help="draw the DAG")
    _target(d)
    d.add_argument("--format", choices=["svg", "mermaid", "dot"], default="mermaid")
    d.add_argument("--direction", choices=["TB", "LR"], default="TB")
    d.add_argument("-o", "--output", help="write to a file")
    d.set_defaults(fn=cmd_dag)


def _add_packaging(sub) -> None:
    """nb2pipe export, log, promote: packages, runs and deployments."""
    e = sub.add_parser("export", help="compile the notebook into a tested pipeline package")
    _target(e)
    e.add_argument("-o", "--output", required=True, help="output folder")
    e.add_argument("--name", help="package name (default: the notebook's name)")
    e.add_argument("--version", help="package version (default: 0.1.0+p<hash of the pipeline cells>)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing export")
    e.add_argument("--target", dest="target_kind", action="append", choices=["airflow"],
                   help="also write a scheduler's DAG file (airflow/<name>_dag.py)")
    e.add_argument("--schedule", help="the Airflow schedule, e.g. '@daily' (default: none, manual)")
    e.add_argument("--runtime-wheel", help="the nb2pipe wheel to ship in wheels/ (a .whl or a folder"
                   " holding one; default: the running nb2pipe, packed)")
    e.add_argument("--extra", action="append", choices=["s3", "dask", "remote"],
                   help="an nb2pipe extra the package needs (s3 is added for s3:// stores)")
    e.set_defaults(fn=cmd_export)

    lg = sub.add_parser("log", help="run history, queried with DuckDB")
    lg.add_argument("target", nargs="?", help="notebook or exported package (its store)")
    lg.add_argument("--store", help="store location")
    lg.add_argument("--step", help="only this step")
    lg.add_argument("--limit", type=int, default=50)
    lg.add_argument("--json", action="store_true")
    lg.add_argument("--env", help="the environment whose store to read")
    lg.add_argument("--deployments", action="store_true", help="promotion history instead of runs")
    lg.add_argument("--run", metavar="RUN", help="one run: its steps' outputs (also `nb2pipe log RUN`)")
    lg.add_argument("--figures", metavar="DIR", help="with a run: write its figures as PNG files here")
    lg.add_argument("--notebook", metavar="PATH", help="with a run: write its executed notebook here")
    lg.set_defaults(fn=cmd_log)

    pr = sub.add_parser("promote", help="make an exported package version live in an environment")
    pr.add_argument("target", help="an exported package folder")
    pr.add_argument("--to", required=True, metavar="ENV", help="the environment, e.g. prod")
    pr.add_argument("--rollback", action="store_true", help="return to the previously live version")
    pr.set_defaults(fn=cmd_promote)


def _add_store(sub) -> None:
    """nb2pipe verify, gc, store: the store itself."""
    v = sub.add_parser("verify", help="re-hash every object in the store; move damaged ones aside")
    _target(v)
    v.add_argument("--dry-run", action="store_true", help="only report")
    v.set_defaults(fn=cmd_verify)

    g = sub.add_parser("gc", help="delete what no last result and no recent run reaches")
    _target(g)
    g.add_argument("--keep-runs", type=int, default=5, metavar="N",
                   help="also keep what the last N run records reach (default 5)")
    g.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    g.add_argument("--grace-seconds", type=float, default=3600.0, metavar="S",
                   help="never delete a file younger than this: a concurrent run may be writing it"
                        " (default 3600)")
    g.set_defaults(fn=cmd_gc)

    st = sub.add_parser("store", help="size of each step's last result, and of the whole store")
    _target(st)
    st.add_argument("--json", action="store_true")
    st.set_defaults(fn=cmd_store)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .environments import restored_environ
    try:
        with restored_environ():      # an environment's credentials leave with the command
            return args.fn(args)
    except BrokenPipeError:
        # the reader went away (`nb2pipe status | head -1`): stop quietly, as `cat` does; stdout
        # is pointed at /dev/null so the interpreter's final flush cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Nb2pipeError as e:
        print(f"nb2pipe: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nb2pipe: interrupted; the store is consistent and the next run resumes", file=sys.stderr)
        return 130
    finally:
        if argv is None:              # the program's own command line: the process ends now
            _exit_soon()


def _exit_soon() -> None:
    """Collect what is garbage now, then freeze what is left: the interpreter's exit then
    does not walk the objects of nbclient, jsonschema and pyarrow again and again (0.3-1 s
    after a command that imported them; `check --sample` measured in bench/README.md)."""
    import gc
    gc.collect()
    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
