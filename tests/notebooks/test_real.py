"""Real notebooks by other authors, checked against restart-and-run-all.

For each tests/notebooks/real/<slug>/ (original.ipynb as published, tagged.ipynb = the same
cells with only nb2pipe header lines added):
  a. original.ipynb runs top to bottom in a fresh kernel; after every code cell a recording
     cell fingerprints each name the cell writes at top level (found with `ast`);
  b. tagged.ipynb runs the same way in a fresh kernel (cwd: a private temp copy, so the
     store is private); every recorded fingerprint must equal the original's, cell by cell;
  c. one documented edit (EDITS) is defined in the tagged session without running it, then
     `%dag run`: exactly the edited step and its descendants (notebook-order semantics,
     computed here from the AST) must run, and every step-written name must equal the edited
     original's restart-and-run-all value;
  d. `nb2pipe run tagged.ipynb` in that folder then executes 0 steps.
Both kernels get the same global numpy seed before the first cell (some notebooks draw from
np.random unseeded); nothing in the notebooks is changed for that.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from kernelharness import Kernel  # noqa: E402
from tagging import parse, reads, writes  # noqa: E402

REAL = Path(__file__).parent / "real"
SLUGS = sorted(p.name for p in REAL.iterdir() if (p / "tagged.ipynb").exists())
BIN = Path(sys.executable).parent

# slug -> (code cell index in original.ipynb, text to replace, replacement); documented in SOURCE.md
EDITS = {
    "handson-ml3-04-linear-models": (8, "[[0], [2]]", "[[0], [3]]"),
    "handson-ml3-tools-numpy": (3, "np.zeros((3,4))", "np.zeros((3,5))"),
    "handson-ml3-tools-pandas": (1, '[2,-1,3,5]', '[2,-1,3,6]'),
    "pdsh-03-05-hierarchical-indexing": (12, "37253956", "37253957"),
    "pdsh-03-07-merge-join": (1, "'Sue'", "'Sam'"),
    "pdsh-05-04-feature-engineering": (9, "[4, 2, 1, 3, 7]", "[4, 2, 1, 3, 8]"),
    "rasbt-ch04-preprocessing": (3, "5.0,6.0,,8.0", "5.0,6.5,,8.0"),
    "scipy2017-13-cross-validation": (3, "k = 5", "k = 3"),
}

PRELUDE = r'''
def _nbh_fp(v):
    import hashlib
    t = type(v)
    mod = getattr(t, "__module__", "") or ""
    try:
        if mod.startswith("pandas"):
            import pandas as pd
            if isinstance(v, (pd.DataFrame, pd.Series, pd.Index)):
                try:
                    h = pd.util.hash_pandas_object(v, index=True).values.tobytes()
                except Exception:
                    h = repr(v.to_dict() if hasattr(v, "to_dict") else list(v)).encode()
                cols = list(map(str, v.columns)) if isinstance(v, pd.DataFrame) else [str(v.name)]
                dt = [str(x) for x in (v.dtypes if isinstance(v, pd.DataFrame) else [v.dtype])]
                idx = v.index if not isinstance(v, pd.Index) else v
                ih = pd.util.hash_pandas_object(idx.to_frame(index=False) if isinstance(idx, pd.MultiIndex) else pd.Series(idx), index=False).values.tobytes()
                return f"{t.__name__}:{cols}:{dt}:{v.shape}:" + hashlib.sha1(h + ih).hexdigest()
        if mod.startswith("numpy"):
            import numpy as np
            if isinstance(v, np.ndarray):
                b = v.tobytes() if v.dtype != object else repr(v.tolist()).encode()
                return f"ndarray:{v.dtype}:{v.shape}:" + hashlib.sha1(b).hexdigest()
            if isinstance(v, np.generic):
                return f"{t.__name__}:{v!r}"
        if mod.startswith("scipy.sparse"):
            a = v.toarray()
            return f"sparse:{a.dtype}:{a.shape}:" + hashlib.sha1(a.tobytes()).hexdigest()
        if v is None or isinstance(v, (bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset, range)):
            r = repr(v)
            if " at 0x" not in r:
                return f"{t.__name__}:" + hashlib.sha1(r.encode()).hexdigest()
    except Exception as e:
        return f"{t.__name__}:unhashable:{type(e).__name__}"
    return f"type:{t.__module__}.{t.__qualname__}"

def _nbh_record(names):
    import json
    ns = get_ipython().user_ns
    print("@@NBH@@" + json.dumps({n: _nbh_fp(ns[n]) for n in names if n in ns}))
'''
SEED = "import numpy as _nbh_np; _nbh_np.random.seed(0); del _nbh_np"


def code_cells(path: Path) -> list[dict]:
    nb = json.loads(path.read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def split_header(src: str) -> tuple[str | None, str]:
    first, _, rest = src.partition("\n")
    if first.startswith(("%%step", "%%setup", "%%params")):
        return first, rest
    return None, src


def written(src: str) -> list[str]:
    tree = parse(src)
    if tree is None:
        return []
    bound, muts = writes(tree)
    return [n for n in dict.fromkeys(bound + muts) if not n.startswith("_")]


def fingerprints(reply) -> dict:
    for line in reply.stdout.splitlines():
        if line.startswith("@@NBH@@"):
            return json.loads(line[7:])
    raise AssertionError(f"no fingerprint line in recording output: {reply.text[-2000:]}")


def run_recorded(k: Kernel, sources: list[str], bodies: list[str], ids: list[str], what: str) -> list[dict]:
    """Run cells in order; after each, record the names its body writes. Any error fails."""
    k.ok(PRELUDE)
    k.ok(SEED)
    out = []
    for src, body, cid in zip(sources, bodies, ids):
        r = k.run(src, timeout=300, cell_id=cid)
        assert r.status == "ok", f"{what}: cell {cid} failed:\n{src}\n---\n{r.error_text}\n{r.text[-3000:]}"
        out.append(fingerprints(k.ok(f"_nbh_record({written(body)!r})")))
    return out


def descendants(bodies: list[str], is_step: list[bool], start: int) -> set[int]:
    """Steps downstream of step `start` under notebook order: a step reading X depends on the
    nearest step above it that writes (binds or mutates) X."""
    info = []
    for b in bodies:
        t = parse(b)
        info.append((reads(t) if t else set(), set(written(b))))
    deps: dict[int, set[int]] = {}
    for i, s in enumerate(is_step):
        if not s:
            continue
        deps[i] = set()
        for x in info[i][0]:
            for j in range(i - 1, -1, -1):
                if is_step[j] and x in info[j][1]:
                    deps[i].add(j)
                    break
    out = {start}
    for i in sorted(deps):
        if deps[i] & out:
            out.add(i)
    return out


@pytest.mark.timeout(900)
@pytest.mark.parametrize("slug", SLUGS)
def test_real_notebook(slug, tmp_path):
    src_dir = REAL / slug
    orig = code_cells(src_dir / "original.ipynb")
    tagged = code_cells(src_dir / "tagged.ipynb")
    assert tagged[0]["source"].strip() == "%load_ext nb2pipe", "tagged.ipynb must start with %load_ext nb2pipe"
    tagged = tagged[1:]
    heads = [split_header(c["source"])[0] for c in tagged]
    bodies = [c["source"] for c in orig]
    assert [split_header(c["source"])[1] if h else c["source"] for c, h in zip(tagged, heads)] == bodies, \
        "tagged.ipynb must hold the same cells as original.ipynb with only header lines added"
    is_step = [bool(h and h.startswith("%%step")) for h in heads]

    # a. restart-and-run-all of the original
    work_o = tmp_path / "orig"
    shutil.copytree(src_dir, work_o)
    k = Kernel(str(work_o))
    try:
        want = run_recorded(k, bodies, bodies, [c["id"] for c in orig], "original")
    finally:
        k.shutdown()

    # b. the tagged notebook, cell by cell, in a private copy
    work = tmp_path / "tagged"
    shutil.copytree(src_dir, work)
    k = Kernel(str(work))
    try:
        k.ok("%load_ext nb2pipe", cell_id="nb2pipe-load")
        got = run_recorded(k, [c["source"] for c in tagged], bodies, [c["id"] for c in tagged], "tagged")
        diffs = [f"cell {i} `{n}`: original {want[i].get(n)} != tagged {got[i].get(n)}\n  cell: {bodies[i][:300]!r}"
                 for i in range(len(bodies)) for n in sorted(set(want[i]) | set(got[i]))
                 if want[i].get(n) != got[i].get(n)]
        assert not diffs, f"{len(diffs)} values differ from restart-and-run-all; first ones:\n" + "\n".join(diffs[:5])

        # c. edit one step, `%dag run`, compare with the edited original
        ci, old, new = EDITS[slug]
        assert is_step[ci], f"EDITS[{slug}] must name a step cell; cell {ci} is not"
        assert old in bodies[ci], f"EDITS[{slug}]: {old!r} not in cell {ci}"
        edited = bodies[:ci] + [bodies[ci].replace(old, new)] + bodies[ci + 1:]
        step_name = heads[ci].split()[1]
        names = {i: heads[i].split()[1] for i in range(len(heads)) if is_step[i]}
        expect = sorted(names[i] for i in descendants(edited, is_step, ci))
        k.ok("%nb2pipe define-only on")
        k.ok(f"{heads[ci]}\n{edited[ci]}", cell_id=tagged[ci]["id"])
        k.ok("%nb2pipe define-only off")
        r = k.run("_nbh_ev = []\n"
                  "_nbh_un = get_ipython()._nb2pipe_session.engine.subscribe(_nbh_ev.append)\n"
                  "try:\n    get_ipython().run_line_magic('dag', 'run')\n"
                  "finally:\n    _nbh_un()\n"
                  "print('@@RAN@@' + repr(sorted(e['step'] for e in _nbh_ev"
                  " if e.get('type') == 'progress' and e.get('status') == 'ran')))", timeout=600)
        assert r.status == "ok", f"%dag run after editing `{step_name}` failed:\n{r.error_text}\n{r.text[-3000:]}"
        ran = eval(r.stdout.split("@@RAN@@")[1].splitlines()[0])
        assert ran == expect, (f"after editing `{step_name}` ({old!r} -> {new!r}), %dag run ran {ran};"
                               f" expected the step and its descendants {expect}\n{r.text[-2000:]}")
        # the edited original, restart-and-run-all
        work_e = tmp_path / "edited"
        shutil.copytree(src_dir, work_e)
        ke = Kernel(str(work_e))
        try:
            want_e = run_recorded(ke, edited, edited, [c["id"] for c in orig], "edited original")
        finally:
            ke.shutdown()
        last: dict[str, int] = {}
        for i, b in enumerate(edited):
            for n in want_e[i]:
                last[n] = i
        check = sorted(n for n, i in last.items() if is_step[i])
        now = fingerprints(k.ok(f"_nbh_record({check!r})"))
        diffs = [f"`{n}` (last written by cell {last[n]}): edited original {want_e[last[n]][n]} != session {now.get(n)}"
                 for n in check if want_e[last[n]][n] != now.get(n)]
        assert not diffs, f"after editing `{step_name}` and %dag run, {len(diffs)} values differ:\n" + "\n".join(diffs[:5])
    finally:
        k.shutdown()

    # d. headless: everything fresh for the edited notebook
    nb = json.loads((work / "tagged.ipynb").read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"][1:]
    cells[ci]["source"] = f"{heads[ci]}\n{edited[ci]}"
    (work / "tagged.ipynb").write_text(json.dumps(nb, indent=1))
    p = subprocess.run([str(BIN / "nb2pipe"), "run", "tagged.ipynb", "--json"], cwd=work,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"nb2pipe run failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    steps = json.loads(p.stdout[p.stdout.index("{"):])["steps"]
    ran = sorted(st["step"] for st in steps if st["status"] == "ran")
    assert ran == [], f"nb2pipe run executed {ran} after the session had run every step:\n{p.stdout[-3000:]}"
