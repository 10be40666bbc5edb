"""Masking secret values, as Airflow masks them in its logs.

A :class:`Redactor` is built from the values known to be secret (``--secret`` and
``--credential`` parameters, the active environment's credentials; see
``Engine.redactor``) and replaces each occurrence, and each occurrence of its ``repr()`` and
JSON-escaped forms, with ``***``.  It is applied where text leaves a step: errors and
tracebacks, captured outputs stored for replay, run records, logs, comm messages and the
runner's report.  Values shorter than :data:`MIN_LENGTH` are not masked (masking ``"1"``
would destroy every output)."""
from __future__ import annotations

import json
import os
import re
from typing import Any, Iterable

MASK = "***"
MIN_LENGTH = 4


def _forms(value: Any) -> set[str]:
    """The ways a value shows up in text: itself, and the inside of its repr / JSON string
    when escaping changes it (``'it\\'s'``, backslashes, newlines)."""
    if value is None or isinstance(value, bool):
        return set()
    text = value if isinstance(value, str) else str(value)
    forms = {text, repr(text)[1:-1], json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}
    if not isinstance(value, str):
        forms.add(repr(value))
    return {f for f in forms if len(f) >= MIN_LENGTH}


class Redactor:
    """Replaces known secret values in text and in JSON-like data (dicts, lists, tuples)."""

    def __init__(self, values: Iterable[Any] = ()):
        forms: set[str] = set()
        for v in values:
            if isinstance(v, (list, tuple, set, frozenset)):
                for item in v:
                    forms |= _forms(item)
            else:
                forms |= _forms(v)
        # longest first: a value inside another is masked as part of the longer one
        ordered = sorted(forms, key=lambda f: (-len(f), f))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str | None) -> str | None:
        if not text or self._pattern is None or not isinstance(text, str):
            return text
        return self._pattern.sub(MASK, text)

    def scrub(self, data: Any) -> Any:
        """A copy of ``data`` with every string (and dict key) masked."""
        if self._pattern is None:
            return data
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {self.scrub(k): self.scrub(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return type(data)(self.scrub(v) for v in data)
        return data

    def error(self, exc: BaseException) -> BaseException:
        """Mask an nb2pipe error's message, where, fix and traceback, in place; returns it."""
        if self._pattern is None:
            return exc
        for attr in ("what", "where", "fix", "traceback_text"):
            if isinstance(getattr(exc, attr, None), str):
                setattr(exc, attr, self.text(getattr(exc, attr)))
        exc.args = tuple(self.text(a) if isinstance(a, str) else a for a in exc.args)
        return exc


def environment_secrets(project_dir: str, env_name: str | None, environ=os.environ) -> list[str]:
    """The values of an environment's credentials (and of those it reads from), its secrets
    file and its pickle signing key, as they are in ``environ``."""
    if not env_name:
        return []
    from . import environments
    from .errors import Nb2pipeError
    try:
        envs, _, _ = environments.environments(project_dir)
    except Nb2pipeError:
        return []
    values: list[str] = []
    todo, seen = [env_name], set()
    while todo:
        env = envs.get(todo.pop())
        if env is None or env.name in seen:
            continue
        seen.add(env.name)
        todo += list(env.read_from)
        names = set(env.credentials) | set(env.credentials.values())
        if env.signing_key:
            names.add(env.signing_key)
        if env.secrets_file:
            try:
                with open(env.secrets_file, encoding="utf-8") as f:
                    names |= set(environments.read_secrets(f))
            except OSError:
                pass
        values += [environ[n] for n in sorted(names) if environ.get(n)]
    return values


def for_engine(engine) -> Redactor:
    """The engine's secret parameters' values plus its environment's credentials; the
    environment's part is read once per environment name and kept on the engine."""
    d = engine.defs
    params = [d.params[n] for n in sorted(d.secret_params) if n in d.params]
    cached = getattr(engine, "_env_secrets", None)
    if cached is None or cached[0] != engine.env_name:
        cached = (engine.env_name, environment_secrets(engine.project_dir, engine.env_name))
        engine._env_secrets = cached
    return Redactor(params + cached[1])
