"""Real notebooks by other authors, checked against restart-and-run-all.

For each tests/notebooks/real/<slug>/ (original.ipynb as published, tagged.ipynb = the same
cells with only nb2pipe header lines added):
  a. original.ipynb runs top to bottom in a fresh kernel; after every code cell a recording
     cell fingerprints each name the cell writes at top level (found with `ast`);
  b. tagged.ipynb runs the same way in a fresh kernel (cwd: a private temp copy, so the
     store is private); every recorded fingerprint must equal the original's, cell by cell;
  c. one documented edit (EDITS) is defined in the tagged session without running it, then
     `%dag run`: exactly the edited step and the descendants whose inputs changed must run
     (notebook-order semantics with early cutoff, computed here from the AST and the two
     restart-and-run-all records, see rerun_oracle), and every step-written name must equal the edited
     original's restart-and-run-all value;
  d. `nb2pipe run tagged.ipynb` in that folder then executes 0 steps;
  e. `nb2pipe export` of that folder: the package installs in a clean venv and its generated
     tests pass there (export_and_test).
Both kernels get the same global numpy seed before the first cell (some notebooks draw from
np.random unseeded); nothing in the notebooks is changed for that.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from kernelharness import Kernel  # noqa: E402
from tagging import file_writes, parse, writes  # noqa: E402

REAL = Path(__file__).parent / "real"
SLUGS = sorted(p.name for p in REAL.iterdir() if (p / "tagged.ipynb").exists())
BIN = Path(sys.executable).parent

# slug -> (code cell index in original.ipynb, text to replace, replacement): a data change in a
# step whose effect reaches steps below it (checked: the test refuses an edit that reaches none)
EDITS = {
    "handson-ml3-04-linear-models": (8, "[[0], [2]]", "[[0], [3]]"),
    "handson-ml3-tools-numpy": (63, "[1, 5, 3, 19, 13, 7, 3]", "[1, 5, 3, 19, 13, 7, 4]"),
    "handson-ml3-tools-pandas": (21, "4.4,5.1,6.1", "4.4,5.2,6.1"),
    "jvns-cookbook-04-groupby": (2, "bikes[['Berri 1']]", "bikes[['Maisonneuve 1']]"),
    "jvns-cookbook-08-timestamps": (7, "'1970-01-01'", "'2013-01-01'"),
    "mooc-trees-classification": (6, "max_depth=1", "max_depth=2"),
    "mpl-lifecycle-of-a-plot": (0, "'Barton LLC': 109438.50", "'Barton LLC': 149438.50"),
    "numpy-tutorials-mooreslaw": (4, "skiprows=1", "skiprows=2"),
    "pandas-exercises-housing-market": (2, "[s1, s2, s3], axis=1", "[s2, s1, s3], axis=1"),
    "pdsh-03-05-hierarchical-indexing": (1, "37253956", "37253957"),
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
                names = [str(x) for x in idx.names]
                return f"{t.__name__}:{cols}:{dt}:{v.shape}:{names}:" + hashlib.sha1(h + ih).hexdigest()
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

def _nbh_token(v):
    # for type-only values: did the value change between two runs? (the edit oracle only)
    import hashlib, pickle, types
    if isinstance(v, types.ModuleType):
        return "module:" + v.__name__
    try:
        return hashlib.sha1(pickle.dumps(v, protocol=4)).hexdigest()
    except Exception:
        return "unpicklable"

def _nbh_record(names):
    import hashlib, json, os
    ns = get_ipython().user_ns
    out = {}
    for n in names:
        if n.startswith("file:"):            # a file the cell writes: its content
            p = n[5:]
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    out[n] = "file:" + hashlib.sha1(f.read()).hexdigest()
            continue
        if n in ns:
            out[n] = _nbh_fp(ns[n])
            if out[n].startswith("type:"):
                out["~" + n] = _nbh_token(ns[n])
    print("@@NBH@@" + json.dumps(out))
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
    """Names a cell writes at top level, and the files it writes (``file:PATH``)."""
    tree = parse(src)
    if tree is None:
        return []
    bound, muts = writes(tree)
    files = [f"file:{p}" for p in file_writes(tree)]
    return [n for n in dict.fromkeys(bound + muts) if not n.startswith("_")] + files


def fingerprints(reply) -> dict:
    for line in reply.stdout.splitlines():
        if line.startswith("@@NBH@@"):
            return json.loads(line[7:])
    raise AssertionError(f"no fingerprint line in recording output: {reply.text[-2000:]}")


def run_recorded(k: Kernel, sources: list[str], bodies: list[str], ids: list[str], what: str,
                 want: list[dict] | None = None) -> list[dict]:
    """Run cells in order; after each, record the names its body writes. Any error fails; with
    ``want`` (the original's records) the first cell whose values differ fails at once."""
    k.ok(PRELUDE)
    k.ok(SEED)
    out = []
    for i, (src, body, cid) in enumerate(zip(sources, bodies, ids)):
        r = k.run(src, timeout=300, cell_id=cid)
        assert r.status == "ok", f"{what}: code cell {i} ({cid}) failed:\n{src}\n---\n{r.error_text}\n{r.text[-3000:]}"
        got = fingerprints(k.ok(f"_nbh_record({written(body)!r})"))
        if want is not None:
            diffs = [f"`{n}`: original {want[i].get(n)} != {what} {got.get(n)}"
                     for n in sorted(set(want[i]) | set(got)) if n[0] != "~" and want[i].get(n) != got.get(n)]
            assert not diffs, (f"{what}: after code cell {i} ({cid}) values differ from restart-and-run-all:\n"
                               + "\n".join(diffs[:5]) + f"\ncell:\n{src}\n---\n{r.text[-1500:]}")
        out.append(got)
    return out


def free_reads(tree) -> set[str]:
    """Names a cell reads before binding them itself (statement by statement), and the files
    it reads by a literal path (``file:PATH``)."""
    import ast
    from nb2pipe.filerefs import find
    bound: set[str] = set()
    out: set[str] = {f"file:{p}" for p in find(tree).paths}
    for stmt in tree.body:
        loads = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        out |= loads - bound
        b, _ = writes(ast.Module(body=[stmt], type_ignores=[]))
        bound |= set(b)
    return out


def rerun_oracle(bodies: list[str], is_step: list[bool], start: int, before: list[dict],
                 after: list[dict]) -> set[int]:
    """Which steps must re-run after editing step `start`, under notebook order with early
    cutoff: a step reading X depends on the nearest step above it that writes (binds or
    mutates) X, and re-runs iff such a producer re-ran and X's value changed (restart-and-run-
    all before vs after the edit; objects fingerprinted by type only compare by pickle)."""
    def changed(i, x):
        if before[i].get(x) != after[i].get(x):
            return True
        tok = after[i].get("~" + x)
        return tok is not None and (tok == "unpicklable" or before[i].get("~" + x) != tok)

    info = []
    for b in bodies:
        t = parse(b)
        info.append((free_reads(t) if t else set(), set(written(b))))
    rerun = {start}
    for i in range(start + 1, len(bodies)):
        if not is_step[i]:
            continue
        for x in info[i][0]:
            j = next((j for j in range(i - 1, -1, -1) if is_step[j] and x in info[j][1]), None)
            if j in rerun and changed(j, x):
                rerun.add(i)
                break
    return rerun


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("slug", SLUGS)
def test_real_notebook(slug, tmp_path, venv_pool):
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

    # a. restart-and-run-all of the original, and (for c) of the original with the documented
    #    edit applied; both at once, in two fresh kernels
    ci, old, new = EDITS[slug]
    assert is_step[ci], f"EDITS[{slug}] must name a step cell; code cell {ci} is not"
    assert old in bodies[ci], f"EDITS[{slug}]: {old!r} not in code cell {ci}"
    edited = bodies[:ci] + [bodies[ci].replace(old, new)] + bodies[ci + 1:]

    def restart_and_run_all(srcs: list[str], where: str, what: str) -> list[dict]:
        shutil.copytree(src_dir, tmp_path / where)
        kk = Kernel(str(tmp_path / where))
        try:
            return run_recorded(kk, srcs, srcs, [c["id"] for c in orig], what)
        finally:
            kk.shutdown()

    with ThreadPoolExecutor(2) as pool:
        f_want = pool.submit(restart_and_run_all, bodies, "orig", "original")
        f_edit = pool.submit(restart_and_run_all, edited, "edited", "edited original")
        want, want_e = f_want.result(), f_edit.result()

    step_name = heads[ci].split()[1]
    names = {i: heads[i].split()[1] for i in range(len(heads)) if is_step[i]}
    down = rerun_oracle(edited, is_step, ci, want, want_e)
    expect = sorted(names[i] for i in down)
    assert len(down) > 1, f"EDITS[{slug}] is a bad edit: no step below `{step_name}` is affected by it"

    # b. the tagged notebook, cell by cell, in a private copy
    work = tmp_path / "tagged"
    shutil.copytree(src_dir, work)
    k = Kernel(str(work))
    try:
        k.ok("%load_ext nb2pipe", cell_id="nb2pipe-load")
        run_recorded(k, [c["source"] for c in tagged], bodies, [c["id"] for c in tagged], "tagged", want)

        # c. edit one step, `%dag run`, compare with the edited original
        k.ok("%nb2pipe define-only on")
        k.ok(f"{heads[ci]}\n{edited[ci]}", cell_id=tagged[ci]["id"])
        k.ok("%nb2pipe define-only off")
        # which steps got a new result: run, or served from an identical step's fresh result
        # (two cells with the same code and inputs share a key)
        r = k.run("_nbh_ev = []\n"
                  "_nbh_eng = get_ipython()._nb2pipe_session.engine\n"
                  "_nbh_old = {n: r.key for n, r in _nbh_eng.results.items()}\n"
                  "_nbh_un = _nbh_eng.subscribe(_nbh_ev.append)\n"
                  "try:\n    get_ipython().run_line_magic('dag', 'run')\n"
                  "finally:\n    _nbh_un()\n"
                  "_nbh_js = [e.to_json() for e in _nbh_ev]\n"
                  "print('@@RAN@@' + repr(sorted(e['step'] for e in _nbh_js"
                  " if e.get('type') == 'progress' and (e.get('status') == 'ran' or"
                  " e.get('key') != _nbh_old.get(e['step'])))))", timeout=600)
        assert r.status == "ok", f"%dag run after editing `{step_name}` failed:\n{r.error_text}\n{r.text[-3000:]}"
        ran = eval(r.stdout.split("@@RAN@@")[1].splitlines()[0])
        assert ran == expect, (f"after editing `{step_name}` ({old!r} -> {new!r}), %dag run ran {ran};"
                               f" expected the step and its descendants {expect}\n{r.text[-2000:]}")
        last: dict[str, int] = {}
        for i, b in enumerate(edited):
            for n in (x for x in want_e[i] if x[0] != "~"):
                last[n] = i
            for n in _unbound_by(b):        # `except E as e:` / `del x` leave no value behind
                last.pop(n, None)
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
    export_and_test(slug, work, tmp_path, venv_pool)


def _unbound_by(src: str) -> set[str]:
    """Names a cell leaves unbound at top level: ``except ... as NAME`` and ``del NAME``."""
    import ast
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return set()
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
        elif isinstance(node, ast.Delete):
            out.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return out


# e. export: the package installs in a clean venv (no Node on PATH, nb2pipe from the package's
# wheels/, the rest from the index as pinned) and passes its generated tests there.  Packages with
# the same requirements share a venv (exportvenv.VenvPool): what each finds installed is what
# installing it alone gives.
@pytest.fixture(scope="module")
def venv_pool(tmp_path_factory):
    from exportvenv import VenvPool
    return VenvPool(tmp_path_factory.mktemp("venvs"))


def export_and_test(slug: str, work: Path, tmp_path: Path, venv_pool) -> None:
    from exportvenv import run_package_tests
    name = slug.replace("-", "_")
    pkg = tmp_path / "pkg"
    p = subprocess.run([str(BIN / "nb2pipe"), "export", "tagged.ipynb", "-o", str(pkg), "--name", name],
                       cwd=work, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, f"nb2pipe export failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    assert "note:" not in p.stdout, p.stdout        # no file a plain cell writes is read by a step
    venv = venv_pool.install(pkg, tmp_path)
    p = run_package_tests(venv, pkg, tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    man = json.loads((pkg / name / "manifest.json").read_text())
    tables = any(c.get("schema") for outs in man["contracts"].values() for c in outs.values())
    # the contract test needs a table output; without one it says so and skips
    assert p.stdout.strip().splitlines()[-1].startswith("4 passed" if tables else "3 passed, 1 skipped"), p.stdout
