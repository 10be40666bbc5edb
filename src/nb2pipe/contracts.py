"""Output contracts: the type (and for tables the Arrow schema) each step output
had when last seen.  Checked right after a step runs, so a type change breaks at
the step that made it, not hours later downstream.

A contract is the step's last real result's, unless one was pinned with
``nb2pipe contract accept STEP`` (kept in the store, per notebook): then that one."""
from __future__ import annotations

import json
from dataclasses import dataclass

from .entries import KEY_RE
from .store import ObjectRef, pipeline_slug


def contract_of(ref: ObjectRef) -> dict:
    c = {"type": ref.type}
    if ref.codec == "arrow" and ref.meta.get("schema") is not None:
        c["schema"] = [list(col) for col in ref.meta["schema"]]
    if ref.codec == "npy":
        c["dtype"] = ref.meta.get("dtype")
        c["ndim"] = len(ref.meta.get("shape") or [])
    return c


@dataclass(frozen=True)
class Break:
    """One way an output differs from its contract."""
    step: str
    output: str
    column: str | None       # None: the whole output (its type, dtype or dimensions)
    got: str                 # what the output is now ("missing" for a dropped column)
    want: str                # what the contract says ("absent" for a new column)

    def __str__(self) -> str:
        where = f"step `{self.step}` output `{self.output}`"
        if self.column is None:
            return f"{where}: {self.got}, the contract says {self.want}"
        if self.got == "missing":
            return f"{where} column `{self.column}` ({self.want}) is missing"
        if self.want == "absent":
            return f"{where} column `{self.column}` ({self.got}) is not in the contract"
        return f"{where} column `{self.column}`: {self.got}, the contract says {self.want}"


def breaks(step: str, output: str, contract: dict, ref: ObjectRef) -> list[Break]:
    """Every way ``ref`` breaks ``contract``."""
    return differences(step, output, contract, contract_of(ref))


def differences(step: str, output: str, contract: dict, got: dict) -> list[Break]:
    """Every way an output of contract ``got`` breaks ``contract``."""
    if contract.get("type") and contract["type"] != got.get("type"):
        return [Break(step, output, None, str(got.get("type")), contract["type"])]
    out = []
    if "schema" in contract:
        out += [Break(step, output, col, g, w)
                for col, g, w in schema_diff(contract["schema"], got.get("schema") or [])]
    if "dtype" in contract and contract["dtype"] != got.get("dtype"):
        out.append(Break(step, output, None, f"dtype {got.get('dtype')}", f"dtype {contract['dtype']}"))
    if "ndim" in contract and contract["ndim"] != got.get("ndim"):
        out.append(Break(step, output, None, f"{got.get('ndim')} dimensions", f"{contract['ndim']} dimensions"))
    return out


def schema_diff(want: list, got: list) -> list[tuple[str, str, str]]:
    """(column, type now or "missing", contract's type or "absent") for each difference."""
    w = {c: t for c, t in want}
    g = {c: t for c, t in got}
    out = [(col, g.get(col, "missing"), t) for col, t in w.items() if g.get(col) != t]
    return out + [(col, t, "absent") for col, t in g.items() if col not in w]


def violations(step: str, output: str, contract: dict, ref: ObjectRef) -> list[str]:
    """Every way ``ref`` breaks ``contract``, each naming the step, output and column."""
    return [str(b) for b in breaks(step, output, contract, ref)]


# ------------------------------------------------------------ last seen and pinned
def _own(store):
    return getattr(store, "own", store)      # a LayeredStore writes to its own store


def _pinned_rel(pipeline: str, step: str) -> str:
    return f"contracts/{pipeline_slug(pipeline)}/{step}.json"


def pinned(store, step: str, pipeline: str) -> dict[str, dict] | None:
    """The contract pinned for ``step`` (output -> contract), if any."""
    data = _own(store).backend.read_bytes(_pinned_rel(pipeline, step))
    try:
        c = json.loads(data) if data else None
    except ValueError:
        return None
    return c if isinstance(c, dict) else None


def last_seen(store, step: str, pipeline: str) -> dict[str, dict] | None:
    """Output -> contract of the step's last result in ``store``, if it has one."""
    return of_entry(last_entry(store, step, pipeline))


def last_entry(store, step: str, pipeline: str) -> dict | None:
    """The entry of the step's last result in ``store``, if it has one."""
    last = store.get_last(step, pipeline)
    key = last and last.get("key")
    return store.get_entry(key) if key and KEY_RE.fullmatch(key) else None


def of_entry(entry: dict | None) -> dict[str, dict] | None:
    """Output -> contract of a stored result."""
    if not entry:
        return None
    return {o: contract_of(ObjectRef.from_json(r)) for o, r in sorted(entry["outputs"].items())}


def current(store, steps, pipeline: str) -> dict[str, dict[str, dict]]:
    """step -> output -> contract: pinned where pinned, else as last seen (steps never run
    have none)."""
    out = {}
    for s in steps:
        c = pinned(store, s, pipeline) or last_seen(store, s, pipeline)
        if c:
            out[s] = c
    return out


def accept(store, step: str, pipeline: str) -> dict[str, dict]:
    """Pin the contract of the step's last result (an intended change becomes the contract)."""
    c = last_seen(store, step, pipeline)
    if c is None:
        from .errors import Nb2pipeError
        raise Nb2pipeError(f"step `{step}` has no result in {store.url} to take its contract from",
                           fix=f"run it first (`nb2pipe run NB --only {step}`), then accept")
    _own(store)._write(_pinned_rel(pipeline, step), json.dumps(c, indent=1, sort_keys=True).encode())
    return c
