"""Output contracts: the type (and for tables the Arrow schema) each step output
had when last seen.  Checked right after a step runs, so a type change breaks at
the step that made it, not hours later downstream."""
from __future__ import annotations

from .store import ObjectRef


def contract_of(ref: ObjectRef) -> dict:
    c = {"type": ref.type}
    if ref.codec == "arrow" and ref.meta.get("schema") is not None:
        c["schema"] = [list(col) for col in ref.meta["schema"]]
    if ref.codec == "npy":
        c["dtype"] = ref.meta.get("dtype")
        c["ndim"] = len(ref.meta.get("shape") or [])
    return c


def violations(step: str, output: str, contract: dict, ref: ObjectRef) -> list[str]:
    """Every way ``ref`` breaks ``contract``, each naming the step, output and column."""
    where = f"step `{step}` output `{output}`"
    if contract.get("type") and contract["type"] != ref.type:
        return [f"{where} is a {ref.type}, the contract says {contract['type']}"]
    out = []
    if "schema" in contract:
        want = {c: t for c, t in contract["schema"]}
        got = {c: t for c, t in (ref.meta.get("schema") or [])}
        for col, t in want.items():
            if col not in got:
                out.append(f"{where}: column `{col}` ({t}) is missing")
            elif got[col] != t:
                out.append(f"{where}: column `{col}` is {got[col]}, the contract says {t}")
        for col in got:
            if col not in want:
                out.append(f"{where}: column `{col}` ({got[col]}) is not in the contract")
    if "dtype" in contract and contract["dtype"] != ref.meta.get("dtype"):
        out.append(f"{where}: dtype is {ref.meta.get('dtype')}, the contract says {contract['dtype']}")
    if "ndim" in contract and contract["ndim"] != len(ref.meta.get("shape") or []):
        out.append(f"{where}: has {len(ref.meta.get('shape') or [])} dimensions, the contract says"
                   f" {contract['ndim']}")
    return out
