"""What the command line's commands share: parameters from -p/--params, the notebook
and its engine, the store line."""
from __future__ import annotations

import json
import sys

from .errors import Nb2pipeError


def _params(values: list[str], files: list[str]) -> dict:
    out: dict = {}
    for f in files or ():
        try:
            with open(f, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as e:
            raise Nb2pipeError(f"cannot read the parameters file {f}: {getattr(e, 'strerror', None) or e}",
                               where=f"--params {f}", fix="check the path (relative to where you run"
                                                           " nb2pipe) and that it is a text file") from None
        try:
            if f.endswith((".yaml", ".yml")):
                import yaml
                data = yaml.safe_load(text) or {}
            else:
                data = json.loads(text)
        except ValueError as e:        # yaml.YAMLError is not a ValueError: see below
            raise Nb2pipeError(f"the parameters file {f} is not valid JSON: {e}", where=f"--params {f}",
                               fix="correct it, or name it .yaml for YAML") from None
        except Exception as e:  # noqa: BLE001 - yaml.YAMLError and its kinds
            raise Nb2pipeError(f"the parameters file {f} is not valid YAML: "
                               + " ".join(str(e).split())[:300], where=f"--params {f}",
                               fix="correct it (e.g. `name: value`, one per line)") from None
        if not isinstance(data, dict):
            raise Nb2pipeError(f"{f} must hold a mapping of parameter names to values",
                               where=f"--params {f}", fix="e.g. min_units: 5")
        out.update(data)
    for item in values or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise Nb2pipeError(f"-p {item!r} is not NAME=VALUE", fix="e.g. -p n_rows=5000")
        out[name.strip()] = value
    return out


def _load(args, nb=None, store=None):
    """The notebook and its planning engine (``nb`` and ``store``: already read and opened)."""
    from . import notebook
    from .runner import plan
    nb = nb or notebook.read(args.target)
    store = store or plan.project_store(nb, getattr(args, "store", None), getattr(args, "env", None))
    engine = plan.engine_for(nb, store, _params(getattr(args, "param", []), getattr(args, "params", [])))
    return nb, engine


def _store_line(engine, as_json: bool) -> None:
    """One line: which store is in use and where that came from (stderr under --json)."""
    origin = getattr(engine.store, "origin", None)
    print(f"store: {engine.store.url}" + (f" (from {origin})" if origin else ""),
          file=sys.stderr if as_json else sys.stdout, flush=True)

