"""Cache keys: what goes into a step's key, and why a key changed.

A key is the hash of a small JSON document of *components*; keeping the
components in the entry lets ``status`` explain staleness in words.
"""
from __future__ import annotations

import json

from .fingerprint import hash_bytes

KEY_VERSION = 2   # 2: notebook-order versions, setup keyed by the statements used

# the very text fingerprint.hash_json makes, from one encoder made once (json.dumps with
# options builds an encoder per call: 3 of a key's ~7 µs, paid per step on a first plan)
_KEY_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=repr)


def make_key(components: dict) -> str:
    return hash_bytes(_KEY_JSON.encode({"v": KEY_VERSION, **components}).encode())


def _diff_map(kind: str, label: str, old: dict, new: dict) -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        if k not in old:
            out.append(f"{label} `{k}` added")
        elif k not in new:
            out.append(f"{label} `{k}` removed")
        elif old[k] != new[k]:
            out.append(f"{label} `{k}` changed")
    return out


def explain(old: dict | None, new: dict) -> list[str]:
    """Reasons, in words, why ``new`` components differ from ``old`` ones."""
    if not old:
        return ["never run"]
    reasons = []
    if old.get("code") != new.get("code"):
        reasons.append("code changed")
    if old.get("outputs") != new.get("outputs"):
        reasons.append("outputs changed")
    reasons += _diff_map("inputs", "input", old.get("inputs", {}), new.get("inputs", {}))
    reasons += _diff_map("params", "parameter", old.get("params", {}), new.get("params", {}))
    reasons += _diff_map("srcs", "source", old.get("srcs", {}), new.get("srcs", {}))
    reasons += _diff_map("modules", "module", old.get("modules", {}), new.get("modules", {}))
    if old.get("setup") != new.get("setup"):
        reasons.append("setup code changed")
    if old.get("expects") != new.get("expects"):
        reasons.append("expectations changed")
    return reasons or ["key format changed"]
