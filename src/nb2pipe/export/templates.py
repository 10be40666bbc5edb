"""Text of the files an exported package holds (no timestamps: exports are reproducible)."""
from __future__ import annotations

import json


def init(pkg: str, version: str) -> str:
    return (f'"""The `{pkg}` pipeline, exported by nb2pipe."""\n'
            f'__version__ = "{version}"\n')


def main(pkg: str) -> str:
    return f'''"""`{pkg.replace("_", "-")} run|status|check|dag ...` — nb2pipe on this package's pipeline."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
USAGE = """usage: {pkg.replace("_", "-")} COMMAND [options]

commands:
  run      run the stale steps (-p NAME=VALUE, --only STEP, --from STEP, --force, --store URL, --dry-run,
           --data-root DIR: read the source files under DIR; also $NB2PIPE_DATA_ROOT or the
           environment's data_root in nb2pipe.toml)
  status   what is fresh / stale and why
  check    validate the DAG and parameters without running
  dag      draw the DAG (--format svg|mermaid|dot)

examples:
  {pkg.replace("_", "-")} run
  {pkg.replace("_", "-")} run -p min_units=5 --store s3://bucket/prefix
  python -m {pkg} status
"""


def main(argv=None):
    from nb2pipe.cli import main as nb2pipe_main
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    from nb2pipe.dataroot import target_for
    from nb2pipe.errors import Nb2pipeError
    try:        # the sources resolve under the data root (--data-root, $NB2PIPE_DATA_ROOT, env)
        target, rest = target_for(HERE, argv[1:], os.getcwd())
    except Nb2pipeError as e:
        print(f"nb2pipe: {{e}}", file=sys.stderr)
        return 2
    return nb2pipe_main([argv[0], target, *rest])


if __name__ == "__main__":
    sys.exit(main())
'''


def pyproject(dist: str, pkg: str, version: str, pins: list[str]) -> str:
    runtime = [p for p in pins if not p.lower().startswith("pytest")]
    test = [p for p in pins if p.lower().startswith("pytest")] or ["pytest"]
    deps = "".join(f'    "{p}",\n' for p in runtime)
    return f'''[build-system]
requires = ["hatchling>=1.21"]
build-backend = "hatchling.build"

[project]
name = "{dist}"
version = "{version}"
description = "The {pkg} pipeline, exported from a notebook by nb2pipe"
readme = "README.md"
requires-python = ">=3.10"
# pinned from the notebook kernel's environment; {pkg}/requirements.lock pins what they pull
dependencies = [
{deps}]

[project.optional-dependencies]
test = [{", ".join(json.dumps(t) for t in test)}]

[project.scripts]
{dist} = "{pkg}.__main__:main"

[tool.hatch.build.targets.wheel]
packages = ["{pkg}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''


def _default(v: dict) -> str:
    return "(secret)" if v.get("secret") else f"`{v.get('default')!r}`"


def _readme_intro(dist: str, version: str, notebook: str, mermaid: str) -> str:
    return f'''# {dist} {version}

Exported by nb2pipe from `{notebook}`. Do not edit the pipeline here: change
the notebook and export again (`nb2pipe export {notebook} -o <this folder>
--overwrite`), so the lab and production never drift apart.

```mermaid
{mermaid}
```
'''


def _readme_run(dist: str, pkg: str) -> str:
    return f'''## Run

```bash
pip install --find-links wheels/ -c {pkg}/requirements.lock .   # the lab's exact versions
{dist} run                         # or: python -m {pkg} run
{dist} run -p NAME=VALUE --store s3://bucket/prefix
{dist} status                      # fresh / stale and why, no kernel
pip install --find-links wheels/ -c {pkg}/requirements.lock '.[test]' && python -m pytest
```

`wheels/` holds the nb2pipe runtime this package was exported with, so installing needs
neither Node nor a source checkout of nb2pipe. `{pkg}/requirements.lock` lists every package
the steps import and what they pull, at the versions of the notebook's kernel environment;
`{dist} run` warns in one line when the running environment drifts from it.

Only stale steps run; results go to `.nb2pipe/` in the working directory unless `--store` or
`$NB2PIPE_STORE` says otherwise. Point it at the notebook's store to reuse the lab's results.
'''


def _readme_data(man: dict) -> str:
    sources = "".join(f"- `{s['path']}` (step {', '.join(s['steps'])}): "
                      + ("carried in the package as exported\n" if s["copied_whole"]
                         else "not carried: give a data root\n")
                      for s in man.get("sources", [])) or "The steps read no source file.\n"
    return f'''## Data

{sources}
Give `--data-root DIR` (or `$NB2PIPE_DATA_ROOT`, or `data_root` in the environment of
`nb2pipe.toml`) to `run`/`status` to read these files under `DIR` (same relative paths) instead. The generated tests run on the first rows of each, in
`tests/fixtures/`.
'''


def _readme_tables(man: dict) -> str:
    params = "\n".join(f"| `{k}` | {v['type']} | {_default(v)} |"
                       for k, v in man["params"].items()) or "| (none) | | |"
    steps = "\n".join(f"| `{s['name']}` | {', '.join(s['inputs']) or '-'} | {', '.join(s['outputs']) or '-'} |"
                      for s in man["steps"])
    return f'''## Parameters

| name | type | default |
|---|---|---|
{params}

## Steps

| step | inputs | outputs |
|---|---|---|
{steps}
'''


_README_VERSIONS = '''## Versions

The version defaults to `0.1.0+p<hash of the pipeline cells>`, so it changes whenever a step,
setup or parameter cell changes. Give a release number with `nb2pipe export ... --version 1.2.0`.
'''


def readme(dist: str, pkg: str, version: str, man: dict, mermaid: str) -> str:
    """The package's README: how to run and test it, its data, parameters, steps, versions."""
    return "\n".join([_readme_intro(dist, version, man["source"]["notebook"], mermaid),
                      _readme_run(dist, pkg), _readme_data(man), _readme_tables(man),
                      _README_VERSIONS])


# ------------------------------------------------------------------ tests/test_pipeline.py

def _tests_head(pkg: str) -> str:
    """Imports and the helpers every generated test uses: the package, its samples, nb2pipe."""
    return f'''"""Generated by nb2pipe: the pipeline's own checks.  Run with `python -m pytest`."""
import json
import os
import shutil
import subprocess
import sys
from importlib import resources

import pytest

PKG = "{pkg}"
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def pkg_dir():
    return str(resources.files(PKG))


def sample_pkg(tmp_path):
    """The pipeline with each source file it reads replaced by its sample (tests/fixtures/:
    the first rows, size-capped): the tests never need production data."""
    copy = tmp_path / "pkg"
    shutil.copytree(pkg_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    if os.path.isdir(FIXTURES):
        shutil.copytree(FIXTURES, copy, dirs_exist_ok=True)
    return copy


def manifest():
    with open(os.path.join(pkg_dir(), "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


def nb2pipe(*args, cwd):
    p = subprocess.run([sys.executable, "-m", "nb2pipe", *args], cwd=cwd, capture_output=True,
                       text=True, timeout=1800)
    return p.returncode, p.stdout, p.stderr
'''


_TEST_DAG = '''def test_dag_is_valid_and_closed(tmp_path):
    code, out, err = nb2pipe("check", pkg_dir(), cwd=tmp_path)
    assert code == 0, err
    m = manifest()
    produced = {o for s in m["steps"] for o in s["outputs"]}
    for s in m["steps"]:
        assert set(s["inputs"]) <= produced, s["name"]
'''

_TEST_PARAMS = '''def test_parameter_types():
    from nb2pipe import notebook
    from nb2pipe.runner.plan import default_params
    defaults = default_params(notebook.read(pkg_dir()))
    for name, p in manifest()["params"].items():
        if p.get("secret"):
            assert defaults[name] is None, name    # blanked: given at run time, never shipped
        else:
            assert type(defaults[name]).__name__ == p["type"], name
'''

_RUN_HELPERS = '''def _outputs_meet_contracts(store_dir, report):
    from nb2pipe.contracts import violations
    from nb2pipe.store import ObjectRef, Store
    store = Store(store_dir)
    contracts = manifest()["contracts"]
    problems = []
    for step in report["steps"]:
        entry = store.get_entry(step["key"])
        assert entry is not None, step["step"]
        for out, ref in entry["outputs"].items():
            c = contracts.get(step["step"], {}).get(out)
            if c:
                problems += violations(step["step"], out, c, ObjectRef.from_json(ref))
    return problems


def secret_args():
    """Secrets are blanked in the package: the tests give each one from the environment
    (NB2PIPE_TEST_<NAME>) or a placeholder of its type, so no real secret is needed."""
    placeholders = {"str": "test-placeholder", "int": "0", "float": "0.0", "bool": "false"}
    args = []
    for name, p in manifest()["params"].items():
        if p.get("secret"):
            value = os.environ.get("NB2PIPE_TEST_" + name.upper(), placeholders.get(p["type"], "null"))
            args += ["-p", f"{name}={value}"]
    return args
'''

_TEST_END_TO_END = '''def test_end_to_end_with_default_parameters(tmp_path):
    store = tmp_path / "store"
    code, out, err = nb2pipe("run", str(sample_pkg(tmp_path)), "--store", str(store), "--json",
                             *secret_args(), cwd=tmp_path)
    assert code == 0, err + out
    report = json.loads(out)
    assert {s["status"] for s in report["steps"]} <= {"ran", "cached", "fresh"}
    assert _outputs_meet_contracts(store, report) == []
'''

_TEST_CONTRACT_VIOLATION = '''def test_contract_violation_names_step_and_column(tmp_path):
    m = manifest()
    target = next(((step, out, c) for step, outs in m["contracts"].items()
                   for out, c in outs.items() if c.get("schema")), None)
    if target is None:
        pytest.skip("no table outputs with a recorded schema (run the notebook before exporting)")
    step, out, c = target
    copy = sample_pkg(tmp_path)
    column = c["schema"][0][0]
    m["contracts"][step][out]["schema"][0][1] = "a type no table has"
    (copy / "manifest.json").write_text(json.dumps(m))
    # only the step and what it needs run: the steps below it cannot show the violation
    code, out_text, err = nb2pipe("run", str(copy), "--store", str(tmp_path / "s"), "--json",
                                  "--only", step, *secret_args(), cwd=tmp_path)
    assert code == 1
    failed = [s for s in json.loads(out_text)["steps"] if s["status"] == "failed"]
    assert failed and failed[0]["step"] == step
    assert f"column `{column}`" in failed[0]["error"]
'''


def tests(pkg: str) -> str:
    """The package's tests/test_pipeline.py: the DAG is closed, the parameters keep their
    types, a run on the samples meets the recorded contracts, a broken contract names its column."""
    return "\n\n".join([_tests_head(pkg), _TEST_DAG, _TEST_PARAMS, _RUN_HELPERS, _TEST_END_TO_END,
                        _TEST_CONTRACT_VIOLATION])


def ci_workflow(pkg: str, python: str) -> str:
    """A CI workflow for the exported package: install it (on the kernel's Python version, which
    the lock was taken from), run its generated tests."""
    return f"""# Generated by nb2pipe: every change to the {pkg} pipeline is installed and tested.
name: {pkg} pipeline
on:
  push:
  pull_request:
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "{python}"
      - run: python -m pip install --find-links wheels/ -c {pkg}/requirements.lock '.[test]'
      - run: python -m pytest -q
"""
