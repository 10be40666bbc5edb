"""Plan a headless run without a kernel: the notebook's steps, setup and parameters
become an :class:`~nb2pipe.engine.Engine` whose keys match the notebook's exactly."""
from __future__ import annotations

import ast
import json
from typing import Any

from ..analysis import analyze
from ..analysiscache import AnalysisCache
from ..engine import Engine
from ..errors import AnalysisError, Nb2pipeError, did_you_mean
from ..notebook import PipelineNotebook
from ..spec import ParamsSpec, parse_params_line, parse_step_line
from ..projectstore import project_store  # noqa: F401 - where callers look for it
from ..store import Store


def python_source(code: str) -> str:
    """Cell code as the kernel runs it: IPython syntax (``!ls``, ``%time``) transformed.
    IPython is imported only when the plain-Python parse fails."""
    try:
        ast.parse(code)
        return code
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(code)


def _explore_provenance(nb: PipelineNotebook):
    origin: dict[str, str] = {}
    for c in nb.of_kind("explore"):
        # line magics and shell escapes define nothing: drop them rather than import IPython
        code = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in c.source.splitlines())
        try:
            info = analyze(code)
        except (AnalysisError, SyntaxError):
            continue
        first = next((ln.strip() for ln in c.source.splitlines() if ln.strip()), "")
        for n in info.defines:
            origin.setdefault(n, f"{c.where} (`{first[:40]}`)")
    return origin.get


def default_params(nb: PipelineNotebook) -> dict[str, Any]:
    ns: dict[str, Any] = {}
    for c in nb.of_kind("params"):
        code = python_source(c.body)
        try:
            exec(compile(code, f"<params {c.where}>", "exec"), {"__builtins__": __builtins__}, ns)
        except Exception as e:  # noqa: BLE001 - the user's parameter cell
            raise Nb2pipeError(f"the parameters cell raised {type(e).__name__}: {e}", where=c.where,
                               fix="parameter cells should only assign plain values") from None
    return {k: v for k, v in ns.items() if not k.startswith("_")}


def params_spec(nb: PipelineNotebook) -> ParamsSpec:
    """The secret and credential parameters all parameter cells declare."""
    secret: tuple[str, ...] = ()
    credential: tuple[str, ...] = ()
    for c in nb.of_kind("params"):
        ps = parse_params_line(c.line)
        secret += ps.secret
        credential += ps.credential
    return ParamsSpec(secret, credential)


def secret_params(nb: PipelineNotebook) -> list[str]:
    return sorted(params_spec(nb).hidden)


def coerce_params(defaults: dict[str, Any], given: dict[str, Any],
                  secret: set[str] = frozenset()) -> dict[str, Any]:
    """Check ``-p`` values against the notebook's parameters: known names, same types."""
    out = {}
    for name, raw in given.items():
        if name not in defaults:
            raise Nb2pipeError(f"unknown parameter `{name}`" + did_you_mean(name, defaults),
                               fix="parameters: " + (", ".join(sorted(defaults)) or "none defined"))
        default = defaults[name]
        value = raw
        if isinstance(raw, str) and not isinstance(default, str):
            try:
                value = json.loads(raw)
            except ValueError:
                try:
                    value = ast.literal_eval(raw)
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    value = raw
        if default is not None:
            value = _as_type_of(default, value)
            if value is _WRONG:
                shown = "a value of another type" if name in secret else repr(raw)
                raise Nb2pipeError(
                    f"parameter `{name}` expects {type(default).__name__}"
                    + ("" if name in secret else f" (default {default!r})") + f", got {shown}",
                    fix=f"e.g. -p {name}=" + ("..." if name in secret else _example(default)))
        out[name] = value
    return out


_WRONG = object()


def _as_type_of(default: Any, value: Any) -> Any:
    """``value`` as the type of ``default``, or _WRONG: an int is not a bool (nor a bool an
    int); an int may be a float; a list (JSON has no tuples or sets) a tuple or a set."""
    want = type(default)
    if isinstance(value, bool) != isinstance(default, bool):
        return _WRONG
    if isinstance(value, want):
        return value
    if want is float and isinstance(value, int):
        return float(value)
    if want in (tuple, set, frozenset) and isinstance(value, (list, tuple, set, frozenset)):
        try:
            return want(value)
        except TypeError:            # unhashable items for a set
            return _WRONG
    return _WRONG


def _example(default: Any) -> str:
    """How to write the default on the command line."""
    if isinstance(default, (tuple, set, frozenset)) or not isinstance(default, (list, dict, str, int, float)):
        return repr(default)
    try:
        return json.dumps(default)
    except (TypeError, ValueError):
        return repr(default)


def engine_for(nb: PipelineNotebook, store: Store, overrides: dict | None = None) -> Engine:
    """An engine holding the notebook's definitions (nothing executed but the parameters cell)."""
    engine = Engine(store, nb.project_dir, provenance=_explore_provenance(nb), warn=lambda m: None,
                    pipeline=nb.pipeline)
    engine.execute_definitions = False      # plan only: imports and functions are not run here
    for c in nb.of_kind("setup"):
        engine.run_setup(python_source(c.body), cell_id=c.cell_id, where=c.where, execute=False)
    defaults = default_params(nb)
    ps = params_spec(nb)
    secret = set(ps.hidden)
    env = getattr(store, "env", None)
    merged = {**(env.params if env else {}), **(overrides or {})}
    engine.set_params(values=defaults, overrides=coerce_params(defaults, merged, secret),
                      secret=ps.secret, credential=ps.credential)
    engine.env_name = env.name if env else None
    cache = engine.analysis_cache = AnalysisCache.of_store(store, nb.pipeline)
    for c in nb.of_kind("step"):
        spec = parse_step_line(c.line)
        engine.define(spec, c.body if spec.sql else cache.python_source(c.body), cell_id=c.cell_id,
                      where=c.where, line_offset=1, cell_text=c.source, validate=False)
    cache.save()
    engine.check_all_reads()
    engine.defs.graph(allow_missing=False)      # every problem of the notebook, at once
    if nb.manifest:
        engine.contracts = nb.manifest.get("contracts", {})
    return engine


def select(engine: Engine, *, only: list[str] = (), start: list[str] = ()) -> tuple[tuple, tuple]:
    """(steps to bring up to date, steps the user asked for — what ``--force`` re-runs)."""
    g = engine.graph()
    for n in list(only) + list(start):
        g[n]   # unknown step: error with did-you-mean
    if only:
        return g.upto(*only), tuple(only)
    if start:
        down = g.downfrom(*start)
        return g.upto(*down), down
    return g.order, g.order
