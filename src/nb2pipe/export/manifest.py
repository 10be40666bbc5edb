"""The package's manifest.json: its steps, edges, parameters and the contracts of their outputs."""
from __future__ import annotations

import hashlib
import json
import os

from .. import __version__, contracts
from ..engine import Engine
from ..fingerprint import hash_json
from ..notebook import PipelineNotebook


def pipeline_hash(nb: PipelineNotebook) -> str:
    return hash_json([[c.kind, c.source] for c in nb.cells if c.kind in ("setup", "params", "step")])


def default_version(nb: PipelineNotebook) -> str:
    return f"0.1.0+p{pipeline_hash(nb)[:10]}"


def _json_default(value):
    """A parameter's default as the manifest shows it: itself when it is JSON, else its repr
    (a date, a tuple, a set...: the package's own parameters cell keeps the real value)."""
    if isinstance(value, (tuple, set, frozenset)):
        return repr(value)
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)


def step_results(engine: Engine) -> dict:
    """Each step's result for its current key when it is fresh (a session's results count
    though the command line never ran them), else the last one it stored."""
    from ..results import Result
    out = {}
    for name, st in engine.plan().items():
        entry = engine.store.get_entry(st.key) if st.key and st.state == "fresh" else None
        res = Result.from_entry(entry) if entry else engine._last_result(name)
        if res is not None:
            out[name] = res
    return out


def _contracts(nb: PipelineNotebook, engine: Engine, order) -> dict[str, dict]:
    """Each step's output contracts: from its result, or as pinned by `contract accept`."""
    contract_map: dict[str, dict] = {}
    results = step_results(engine)
    for n in order:
        last = results.get(n)
        if last:
            contract_map[n] = {o: contracts.contract_of(r) for o, r in sorted(last.outputs.items())}
        pin = contracts.pinned(engine.store, n, nb.pipeline)     # `contract accept` wins
        if pin:
            contract_map[n] = pin
    return contract_map


def _step(engine: Engine, name: str) -> dict:
    s = engine.defs.steps[name]
    return {"name": name, "inputs": list(engine.defs.inputs_of(s)), "outputs": list(s.outputs),
            "srcs": list(engine.sources_of(s)), "code_hash": s.code_hash, "cell_id": s.cell_id,
            "retries": s.spec.retries, "cache": s.spec.cache, "group": s.spec.group,
            "resources": dict(s.spec.resources)}


def manifest(nb: PipelineNotebook, engine: Engine, name: str, version: str,
             out_dir: str | None = None) -> dict:
    graph = engine.graph()
    secret = engine.defs.secret_params
    params = {k: ({"type": type(v).__name__, "secret": True} if k in secret else
                  {"type": type(v).__name__, "default": _json_default(v)})
              for k, v in sorted(engine.defs.params.items())}
    contract_map = _contracts(nb, engine, graph.order)
    steps = [_step(engine, n) for n in graph.order]
    with open(nb.path, "rb") as f:
        nb_sha = hashlib.sha256(f.read()).hexdigest()
    return {"name": name, "version": version, "nb2pipe": __version__,
            "source": {"notebook": os.path.basename(nb.path), "sha256": nb_sha,
                       "pipeline_hash": pipeline_hash(nb),
                       "relpath": os.path.relpath(os.path.abspath(nb.path), os.path.abspath(out_dir))
                       if out_dir else None},
            "steps": steps, "edges": [list(e) for e in graph.edges()], "params": params,
            "contracts": contract_map}
