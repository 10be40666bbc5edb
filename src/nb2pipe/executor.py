"""Executing one step: its namespace (setup names, parameters, inputs), Python or SQL,
output capture, in-place changes, storing outputs and --save files."""
from __future__ import annotations

import functools
import linecache
import os
import time
import traceback
from typing import Any

from . import capture, contracts, filerefs, inplace, stepfiles
from .errors import CorruptObjectError, Nb2pipeError, StepFailed, StoreError, did_you_mean
from .graph import Graph
from .protocol import StateMsg, StepState
from .results import Result, label
from .steps import StepDef
from .store import ObjectRef


class ChangedInPlace(Exception):
    """A step changed an input in place in a way its code does not show (see Engine._run_one)."""

    def __init__(self, names: list[str]):
        super().__init__(", ".join(names))
        self.names = names


class Executor:
    """Mixed into :class:`~nb2pipe.engine.Engine`: runs a step and stores what it made."""

    def _execute(self, step: StepDef, graph: Graph, parents: dict[str, Result], key: str,
                 comps: dict) -> Result:
        ns, refs_in, passed = self._namespace(step, graph, parents)
        tokens = {i: inplace.token(ns[i]) for i in refs_in}
        try:
            duration, shown = self._run_code(step, ns, refs_in, key)
        finally:
            self._restore_latest_files(step, graph)
        self._check_hidden_changes(step, ns, refs_in, passed, tokens)
        outputs, kept_live = self._outputs(step, graph, ns, refs_in, passed, tokens)
        return self._commit(step, key, comps, ns, outputs, kept_live, duration, shown)

    def _namespace(self, step: StepDef, graph: Graph, parents: dict[str, Result]):
        """The step's globals: setup names, parameters and its inputs, as their producers
        above it made them; also the inputs' refs and the ones it may change in place."""
        name = step.name
        ns: dict[str, Any] = {k: v for k, v in self.setup_ns.items()}
        ns.update(self.defs.params)
        refs_in: dict[str, ObjectRef] = {}
        passed = self.defs.passthrough(step)
        for i in self.defs.inputs_of(step):
            src = graph.source(name, i)
            ref = parents[src].outputs[i]
            if filerefs.is_file(i):       # a file a step above wrote: its version on disk
                self._put_back_file(step, i, ref, src)
                continue
            refs_in[i] = ref
            try:
                # SQL scans cached tables straight from the memory-mapped Arrow file
                ns[i] = (self.store.get_arrow(ref) if step.sql is not None and ref.codec == "arrow"
                         and ref.oid not in self._values else self._load(ref))
            except CorruptObjectError as e:
                raise Nb2pipeError(f"input `{i}` of step `{name}` is damaged in the store ({e.what})",
                                   where=label(step),
                                   fix=f"re-run `{src}` with `%dag run --force {src}`") from None
            if i in passed and ref.type == "numpy.ndarray":
                ns[i] = ns[i].copy()      # it may change it in place: keep the stored version intact
        for i, kind in step.spec.input_types:
            ns[i] = _as_table(ns[i], kind)
        return ns, refs_in, passed

    def _run_code(self, step: StepDef, ns: dict, refs_in: dict, key: str) -> tuple[float, list]:
        """Run the step's Python or SQL in ``ns`` with its outputs captured; (seconds, outputs)."""
        name = step.name
        self.running.add(name)
        self._emit(StateMsg(step=name, state=StepState.RUNNING))
        _register_source(step.filename, step.cell_text if step.cell_text else
                         "\n" * step.line_offset + step.code)
        t0 = time.perf_counter()
        shown: list = []
        try:
            with self.io.capture(self.redactor()) as shown:
                if step.sql is not None:
                    ns[step.outputs[0]] = self._run_sql(step, {i: ns[i] for i in refs_in})
                else:
                    self._exec_python(step, ns, shown)
        except KeyboardInterrupt:
            self.failures[name] = (key, "interrupted")
            self._emit(StateMsg(step=name, state=StepState.FAILED, error="interrupted"))
            raise
        except StepFailed as e:
            raise self.redactor().error(e)
        except Exception as e:  # noqa: BLE001 - the user's code may raise anything
            raise self.redactor().error(self._explain_name_error(_step_failed(step, e))) from None
        finally:
            self.running.discard(name)
        return time.perf_counter() - t0, shown

    def _check_hidden_changes(self, step: StepDef, ns: dict, refs_in: dict, passed, tokens: dict) -> None:
        hidden = [i for i, tok in tokens.items() if i not in passed and tok is not None
                  and i not in step.outputs and inplace.token(ns.get(i)) != tok]
        if hidden:
            # changed in place in a way the code does not show (a numpy view, an object holding
            # it): the steps below are wired to the earlier version, so the engine learns it and
            # runs the step again with those inputs passed on.  The in-memory values it changed
            # are dropped: the store still holds the versions their producers made.
            for i in hidden:
                self._values.drop(refs_in[i].oid)
            raise ChangedInPlace(hidden)
        missing = [o for o in step.outputs if o not in ns and o not in step.info.optional
                   and not filerefs.is_file(o)]
        if missing and step.spec.outputs is not None:
            raise Nb2pipeError(f"step `{step.name}` did not assign {', '.join(f'`{m}`' for m in missing)}"
                               " (a branch that skipped the assignment?)", where=label(step),
                               fix="make sure every --out is assigned on every path")
        for m in missing:             # as in a cell: a `try` whose line raised binds nothing
            self._warn(f"nb2pipe: step `{step.name}` did not assign `{m}` this time (a branch or a"
                       " `try` skipped it); steps below that read it will say so")

    def _outputs(self, step: StepDef, graph: Graph, ns: dict, refs_in: dict, passed,
                 tokens: dict) -> tuple[dict[str, ObjectRef], dict[str, Any]]:
        """Store what the step made (and the inputs it changed in place); (refs, values kept
        only in the notebook's namespace)."""
        name = step.name
        outputs: dict[str, ObjectRef] = {}
        kept_live: dict[str, Any] = {}    # shown in the notebook's namespace, not stored
        for i in passed:
            changed = tokens[i] is None or inplace.token(ns[i]) != tokens[i]
            ref = self._put(step, i, ns[i]) if changed else refs_in[i]
            if ref.oid != refs_in[i].oid:
                self._warn(f"nb2pipe: step `{name}` changed `{i}` in place; the steps below it get the"
                           " changed version")
            outputs[i] = ref
        # what no step reads and the %%step line did not ask for (--out) may be left out
        optional = set() if step.spec.outputs is not None else (
            set(step.outputs) - {i for p, _, i in graph.edges() if p == name})
        for o in step.outputs:
            if filerefs.is_file(o):
                ref = self._put_written_file(step, o, o not in optional)
                if ref is not None:
                    outputs[o] = ref
                continue
            if o not in ns:
                continue              # a loop that did not run bound nothing
            if o in optional and _display_only(ns[o]):
                kept_live[o] = ns[o]  # a figure no step reads: stored as the picture it drew
                continue
            try:
                outputs[o] = self._put(step, o, ns[o])
            except Nb2pipeError:
                if o not in optional:
                    raise
                kept_live[o] = ns[o]
                if o not in step.info.optional:       # `with open(..) as f`: nothing to say
                    self._warn(f"nb2pipe: `{o}` of step `{name}` cannot be stored (a"
                               f" {type(ns[o]).__name__}); no step reads it, so it is not kept")
                continue
            self._values.keep(outputs[o], ns[o])     # tables and arrays
        return outputs, kept_live

    def _commit(self, step: StepDef, key: str, comps: dict, ns: dict, outputs: dict, kept_live: dict,
                duration: float, shown: list) -> Result:
        """Check expectations and contracts, then write the entry: from here the result is good."""
        name = step.name
        if step.spec.expects:          # --expect: must hold before the result counts as good
            from .expectations import check_all
            check_all(step, {o: ns[o] for o in step.outputs if o in ns},
                      {**self.setup_ns, **self.defs.params}, label(step))
        broken = [v for o, r in outputs.items()
                  for v in contracts.violations(name, o, self.contracts.get(name, {}).get(o, {}), r)]
        if broken:
            raise Nb2pipeError("output contract violated: " + "; ".join(broken), where=label(step),
                               fix="fix the step so its output keeps its type and columns, or re-export"
                                   " the pipeline from the notebook to accept the new schema")
        now = time.time()
        res = Result(key, comps, outputs, duration, now)
        entry = {"step": name, "components": comps, "duration": duration, "finished": now,
                 "outputs": {o: r.to_json() for o, r in outputs.items()},
                 "code_text": self.redactor().text(step.cell_text)}     # the sidebar's diff since then
        if shown:
            entry["display"] = self.store.put(self.redactor().scrub(capture.trim(shown))).to_json()
        self.store.put_entry(key, entry)
        self.entry_writes += 1             # what a step was fresh on may have changed (a forced run)
        last = {"key": key, "finished": now, "duration": duration}
        self.store.put_last(name, last, self.pipeline)
        old = self.results.get(name)
        self.results[name] = res
        if old is not None:
            self._forget_values(old)
        if step.spec.saves:
            self._save(step, ns)
        self._publish({**kept_live, **{o: ns[o] for o in outputs if not filerefs.is_file(o)}})
        self._feed_definitions(step, ns)
        self._emit(StateMsg(step=name, state=StepState.FRESH, cached=False, duration=duration))
        return res

    def _explain_name_error(self, err: StepFailed) -> StepFailed:
        """A NameError for a name nothing in the notebook defines reads like the naming rule."""
        name = getattr(err.cause, "name", None) if isinstance(err.cause, NameError) else None
        d = self.defs
        known = set(d._written(d.steps)) | set(d.setup_owner) | set(d.params)
        if name and name not in known:
            err.what = (f"step `{err.step}` reads `{name}`, which no step above it writes and no"
                        " %%setup or %%params cell defines" + did_you_mean(name, known))
            err.fix = ("run the cell that defines it first, keeping it above this one (a step, or"
                       " a %%setup cell for an import), or correct the name")
        return err

    def _exec_python(self, step: StepDef, ns: dict, shown: list) -> None:
        """Run a step's code as a cell runs: the value of a last bare expression is shown."""
        body, last = _compiled(step.code, step.line_offset, step.filename)
        exec(body, ns)
        if last is not None:
            self.io.result(eval(last, ns), shown)

    def _replay(self, name: str, entry: dict) -> None:
        """Show again what the step showed when it ran: prints, figures, last value."""
        if "display" not in entry:
            return
        try:
            outputs = self.store.get(ObjectRef.from_json(entry["display"]))
            if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
                raise ValueError("not a list of outputs")
            self.io.replay(outputs)
        except (ValueError, KeyError, TypeError, CorruptObjectError) as e:
            self._warn(f"nb2pipe: the outputs `{name}` showed when it ran cannot be shown again ({e})")

    def _put(self, step: StepDef, name: str, value: Any) -> ObjectRef:
        try:
            return self.store.put(value)
        except StoreError as e:
            raise Nb2pipeError(f"output `{name}` of step `{step.name}`: {e.what}", where=label(step),
                               fix=e.fix) from None

    def _put_written_file(self, step: StepDef, name: str, read: bool) -> ObjectRef | None:
        """Store the file the step wrote (``file:PATH``) as its bytes."""
        path = filerefs.path_of(name)
        data = stepfiles.read_written(self.project_dir, path, step.name, label(step))
        if data is None:
            if read:           # silent when no step reads it (a `try: df.to_excel(..)` that failed)
                self._warn(f"nb2pipe: step `{step.name}` did not write `{path}` this time (a branch"
                           " skipped it?); steps below that read it will say so")
            return None
        return self._put(step, name, data)

    def _put_back_file(self, step: StepDef, name: str, ref: ObjectRef, writer: str) -> None:
        """Before ``step`` reads the file, the disk holds the version its writer made."""
        path = filerefs.path_of(name)
        try:
            data = self.store.get(ref)
        except CorruptObjectError as e:
            raise Nb2pipeError(f"file `{path}`, written by step `{writer}` and read by step"
                               f" `{step.name}`, is damaged in the store ({e.what})", where=label(step),
                               fix=f"re-run `{writer}` with `%dag run --force {writer}`") from None
        stepfiles.put_back(self.project_dir, path, data)

    def _restore_latest_files(self, step: StepDef, graph: Graph) -> None:
        """After a step read an older version of a file (a step below it rewrites the file),
        the disk holds the last writer's version again, as after restart-and-run-all."""
        for i in self.defs.inputs_of(step):
            last = graph.producer.get(i) if filerefs.is_file(i) else None
            if last is None or last == graph.source(step.name, i):
                continue
            res = self._last_result(last)
            if res is not None and i in res.outputs:
                self._put_back_file(step, i, res.outputs[i], last)

    def _run_sql(self, step: StepDef, tables: dict[str, Any]):
        from . import sql
        if getattr(self, "_duck", None) is None:
            import duckdb
            self._duck = duckdb.connect()
            self._duck.execute("SET file_search_path = " + _sql_string(self.project_dir))
        missing = [p for p in step.sql.params if p not in self.defs.params]
        if missing:
            raise Nb2pipeError(f"SQL step `{step.name}` uses parameter {{{{ {missing[0]} }}}}, which is not"
                               " defined", where=label(step), fix="define it in a %%params cell")
        try:
            return sql.run(self._duck, step.sql, tables, self.defs.params)
        except Exception as e:  # noqa: BLE001 - duckdb.Error and friends
            line = sql.error_line(str(e), step.sql.query)
            where = label(step) + (f", line {line + step.line_offset}" if line else "")
            raise StepFailed(step.name, e, where=where, traceback_text=str(e) + "\n") from None

    def _save(self, step: StepDef, values: dict[str, Any]) -> None:
        """``--save out=path``: also write a table output as Parquet, atomically.  A save is
        part of the step's success: any failure is a clear error (the step fails, and as its
        file is missing, the next run runs it again)."""
        from .codecs import to_arrow, type_tag
        from .saves import save_path
        import pyarrow as pa
        import pyarrow.parquet as pq
        for out, path in step.spec.saves:
            value = values[out]
            tag = type_tag(value)
            try:
                table = to_arrow(value, tag)
            except TypeError:
                raise Nb2pipeError(f"--save {out}=... of step `{step.name}`: `{out}` is a {tag}, not a"
                                   " table", where=label(step), fix="save only table outputs") from None
            full = save_path(path, self.project_dir, step=step.name, out=out, where=label(step))
            tmp = f"{full}.tmp-{os.getpid()}"
            try:
                if "://" in full:
                    import fsspec
                    with fsspec.open(full, "wb") as f:
                        pq.write_table(table, f)
                    continue
                os.makedirs(os.path.dirname(full) or ".", exist_ok=True)
                pq.write_table(table, tmp)
                os.replace(tmp, full)
            except (OSError, pa.ArrowException, ValueError) as e:
                if os.path.exists(tmp):
                    os.remove(tmp)
                raise Nb2pipeError(f"--save {out}={path} of step `{step.name}` failed:"
                                   f" {type(e).__name__}: {e}", where=label(step),
                                   fix="make the folder writable (or the path a folder you can write);"
                                       " the step's result is kept and the file is written on the"
                                       " next run") from None

    def _forget_values(self, replaced: Result) -> None:
        """Drop in-memory values of a replaced result unless a current result still uses them."""
        self._values.forget(replaced.outputs.values(), self.results.uses)

    def _load(self, ref: ObjectRef) -> Any:
        """A value for one consumer: shared when immutable or copy-on-write,
        decoded afresh when it is a plain Python object (so mutation stays local)."""
        return self._values.load(ref, self.store.get)

    def values_of(self, name: str) -> dict[str, Any]:
        """Load the last outputs of a step (e.g. to show them)."""
        res = self._last_result(name)
        if res is None:
            raise Nb2pipeError(f"step `{name}` has no stored result yet", fix=f"run `{name}` first")
        return {o: self._load(r) for o, r in res.outputs.items()}



@functools.lru_cache(maxsize=512)
def _compiled(code: str, line_offset: int, filename: str):
    """A step's code compiled as a cell runs it: (its statements, its last bare expression or
    None).  Code objects are immutable: a step run again (``run --watch``, a re-run in the
    notebook) reuses them instead of parsing and compiling again (~0.3 ms a step)."""
    import ast
    tree = _offset_tree(code, line_offset)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    return (compile(tree, filename, "exec"),
            None if last is None else compile(ast.Expression(last.value), filename, "eval"))


def _offset_tree(code: str, line_offset: int):
    import ast
    tree = ast.parse(code)
    if line_offset:
        ast.increment_lineno(tree, line_offset)
    return tree


def _register_source(filename: str, text: str) -> None:
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)


def _step_failed(step: StepDef, exc: Exception) -> StepFailed:
    tb = exc.__traceback__
    frames = traceback.extract_tb(tb)
    start = next((i for i, f in enumerate(frames) if f.filename == step.filename), 0)
    line = next((f.lineno for f in reversed(frames) if f.filename == step.filename), None)
    tb_text = "".join(traceback.format_list(frames[start:])) + "".join(
        traceback.format_exception_only(type(exc), exc))
    where = label(step) + (f", line {line}" if line else "")
    return StepFailed(step.name, exc, where=where, traceback_text=tb_text)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _as_table(value: Any, kind: str) -> Any:
    from .codecs import type_tag
    tag = type_tag(value)
    if kind == "pandas" and tag.startswith("pyarrow."):
        return value.to_pandas()
    if kind == "arrow" and tag == "pandas.DataFrame":
        import pyarrow as pa
        return pa.Table.from_pandas(value)
    return value


def _display_only(value: Any) -> bool:
    """Matplotlib figures and axes: their picture is captured with the step's outputs."""
    return type(value).__module__.startswith("matplotlib.")
