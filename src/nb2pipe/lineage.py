"""OpenLineage run events for headless runs: START, then COMPLETE or FAIL, per step that
runs, sent through the openlineage-python client's transports (``pip install
nb2pipe[lineage]``).  Configured per environment in nb2pipe.toml::

    [envs.prod.lineage]
    transport = "file"                  # or "http" (url = ..., api_key_env = "VAR"), "console"
    path = "lineage/events.jsonl"       # file: one JSON event per line (relative to the config)
    namespace = "acme"                  # the jobs' namespace (default "nb2pipe")

A step is the job ``<pipeline>.<step>``; its code version (the hash of its normalized code)
is the version of its source-code-location facet.  Its inputs and outputs are datasets in
the store's namespace, named ``<pipeline>/<step that writes it>/<name>``, so a step's
output and the next step's input are the same dataset; their data versions are facets.
Every step run's parent is the nb2pipe run (job ``<pipeline>``).
"""
from __future__ import annotations

import datetime
import os
import sys
from typing import Any, Callable

from .errors import Nb2pipeError

TRANSPORTS = ("file", "http", "console")


def _producer() -> str:
    from . import __version__
    return f"urn:nb2pipe:{__version__}"


def settings(table: Any, base: str, where: str) -> dict:
    """Check an environment's ``lineage`` table; relative file paths are made absolute."""
    if table is None:
        return {}
    example = 'e.g. lineage = { transport = "file", path = "lineage/events.jsonl" }'
    if not isinstance(table, dict) or table.get("transport") not in TRANSPORTS:
        raise Nb2pipeError(f"{where}: lineage.transport must be one of {', '.join(TRANSPORTS)}", fix=example)
    out = dict(table)
    if out["transport"] == "file":
        if not isinstance(out.get("path"), str) or not out["path"]:
            raise Nb2pipeError(f"{where}: a file lineage transport needs a path", fix=example)
        if "://" not in out["path"]:
            out["path"] = os.path.normpath(os.path.join(base, os.path.expanduser(out["path"])))
    if out["transport"] == "http" and not isinstance(out.get("url"), str):
        raise Nb2pipeError(f"{where}: an http lineage transport needs a url",
                           fix='e.g. lineage = { transport = "http", url = "http://marquez:5000" }')
    return out


def _transport_config(cfg: dict) -> dict:
    kind = cfg["transport"]
    extra = {k: v for k, v in cfg.items() if k not in ("transport", "path", "namespace", "api_key_env")}
    if kind == "file":
        return {"type": "file", "log_file_path": cfg["path"], "append": True, **extra}
    if kind == "http":
        out = {"type": "http", **extra}
        if cfg.get("api_key_env"):
            out["auth"] = {"type": "api_key", "api_key": os.environ.get(cfg["api_key_env"], "")}
        return out
    return {"type": "console", **extra}


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class Emitter:
    """Sends a headless run's step events.  ``event(kind, report, n, total)`` has the
    runner's ``on_event`` signature; wrap the terminal printer with :meth:`wrap`."""

    def __init__(self, cfg: dict, engine, nb) -> None:
        try:
            from openlineage.client import OpenLineageClient
            from openlineage.client.transport import get_default_factory
        except ImportError:
            raise Nb2pipeError("this environment sends OpenLineage events, but openlineage-python is"
                               " not installed", fix="pip install 'nb2pipe[lineage]'") from None
        if cfg["transport"] == "file" and "://" not in cfg["path"]:
            os.makedirs(os.path.dirname(cfg["path"]) or ".", exist_ok=True)
        transport = get_default_factory().create(config=_transport_config(cfg))
        self.client = OpenLineageClient(transport=transport)
        self.engine, self.graph = engine, engine.graph()
        url = engine.store.url
        self.pipeline, self.store = nb.pipeline, url if "://" in url else "file://" + url
        self.namespace = cfg.get("namespace") or "nb2pipe"
        self.mask = engine.redactor()
        from openlineage.client.uuid import generate_new_uuid
        self._uuid = generate_new_uuid
        self.parent = str(generate_new_uuid())
        self.runs: dict[str, str] = {}
        self.warned = False

    def wrap(self, on_event: Callable) -> Callable:
        def both(kind, rep, n, total):
            on_event(kind, rep, n, total)
            self.event(kind, rep)
        return both

    def _dataset(self, producer: str | None, name: str, version: str | None, cls):
        from openlineage.client.facet_v2 import dataset_version_dataset
        facets = {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version)} \
            if version else {}
        return cls(namespace=self.store, name=f"{self.pipeline}/{producer or '?'}/{name}", facets=facets)

    def _datasets(self, step: str, entry: dict | None):
        from openlineage.client.event_v2 import InputDataset, OutputDataset

        from .store import ObjectRef
        comps = (entry or {}).get("components", {})
        ins = comps.get("inputs", {})
        reads = sorted({(p, i) for p, c, i in self.graph.edges() if c == step}, key=lambda t: t[1])
        inputs = [self._dataset(p, i, _version(ins.get(i)), InputDataset) for p, i in reads]
        outs = (entry or {}).get("outputs") or {o: None for o in self.engine.defs.steps[step].outputs}
        outputs = [self._dataset(step, o, ObjectRef.from_json(r).version if r else None, OutputDataset)
                   for o, r in sorted(outs.items())]
        return inputs, outputs

    def _job(self, step: str):
        from openlineage.client.event_v2 import Job
        from openlineage.client.facet_v2 import job_type_job, source_code_location_job
        d = self.engine.defs.steps[step]
        return Job(namespace=self.namespace, name=f"{self.pipeline}.{step}", facets={
            "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="NB2PIPE", jobType="STEP"),
            "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(
                type="notebook", url=f"file://{self.pipeline}", path=d.where or None, version=d.code_hash)})

    def _run(self, step: str, failed: str | None):
        from openlineage.client.event_v2 import Run
        from openlineage.client.facet_v2 import error_message_run, parent_run
        facets: dict = {"parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=self.parent),
            job=parent_run.Job(namespace=self.namespace, name=self.pipeline))}
        if failed:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=self.mask.text(failed), programmingLanguage="python")
        return Run(runId=self.runs[step], facets=facets)

    def event(self, kind: str, rep) -> None:
        from openlineage.client.event_v2 import RunEvent, RunState
        if rep is None or rep.step not in self.engine.defs.steps or self.warned:
            return                               # after a failed send, the run's other events are not tried
        if kind == "start":
            self.runs[rep.step] = str(self._uuid())
            state, entry = RunState.START, None
        elif rep.status in ("ran", "cached", "failed"):
            if rep.step not in self.runs:        # no start seen (a step failed before it ran)
                self.event("start", rep)
            failed = rep.status == "failed"
            state = RunState.FAIL if failed else RunState.COMPLETE
            entry = None if failed or not rep.key else self.engine.store.get_entry(rep.key)
        else:
            return                               # skipped or fresh: nothing ran
        inputs, outputs = self._datasets(rep.step, entry)
        try:
            self.client.emit(RunEvent(
                eventType=state, eventTime=_now(), producer=_producer(),
                run=self._run(rep.step, rep.error if state == RunState.FAIL else None),
                job=self._job(rep.step), inputs=inputs, outputs=outputs))
        except Exception as e:  # noqa: BLE001 - lineage is a report on the run, never its failure
            if not self.warned:
                self.warned = True
                print(f"nb2pipe: OpenLineage events could not be sent ({self.mask.text(str(e))[:200]});"
                      " the run goes on without them", file=sys.stderr, flush=True)


def _version(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def emitter(engine, nb) -> Emitter | None:
    """The run's emitter, when its environment configures lineage."""
    env = getattr(engine.store, "env", None)
    cfg = getattr(env, "lineage", None) or {}
    return Emitter(cfg, engine, nb) if cfg else None
