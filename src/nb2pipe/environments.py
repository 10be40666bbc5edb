"""Environments: dev, test, prod... declared once, used by the notebook and every run.

    # nb2pipe.toml  (or [tool.nb2pipe] in pyproject.toml)
    default_env = "dev"

    [envs.dev]
    store = ".nb2pipe"

    [envs.prod]
    store = "s3://acme-pipelines/sales"
    data_root = "/mnt/prod-data"   # an exported package reads its source files under it
    params = { min_units = 5 }
    pickle = "refuse"              # store only Arrow / npy / JSON; never load a pickle
    signing_key = "PROD_NB2PIPE_SIGNING_KEY"   # variable holding the pickle signing key
    credentials = { AWS_ACCESS_KEY_ID = "PROD_AWS_KEY", AWS_SECRET_ACCESS_KEY = "PROD_AWS_SECRET" }

    [envs.explore]                 # the lab on production results, safely
    store = ".nb2pipe"             # what it computes goes here
    read_from = ["prod"]           # prod's cache is reused, never written

Credentials are references only: each maps a variable the store client needs to the name of
an environment variable that holds it (or ``secrets_file`` names a KEY=VALUE file).  Values
are put into the process environment while a command (or the kernel's environment) uses
the store, taken back after, and never written anywhere.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field

from .config import find_config
from .errors import Nb2pipeError, did_you_mean


@dataclass(frozen=True)
class Environment:
    name: str
    store: str
    read_from: tuple[str, ...] = ()          # stores consulted read-only
    params: dict = field(default_factory=dict)
    credentials: dict = field(default_factory=dict)   # VAR -> name of the variable holding it
    secrets_file: str | None = None
    schedule: str | None = None
    pickle: str | None = None                  # "refuse": no pickles written or loaded
    signing_key: str | None = None             # name of the variable holding the signing key
    lineage: dict = field(default_factory=dict)   # OpenLineage transport (see nb2pipe.lineage)
    data_root: str | None = None               # where an exported package reads its sources


def _url(value: str, base: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Nb2pipeError(f"{where}: store must be a path or URL", fix='e.g. store = "s3://bucket/prefix"')
    if "://" in value:
        scheme = value.split("://", 1)[0]
        if not scheme.replace("+", "").replace("-", "").isalnum():
            raise Nb2pipeError(f"{where}: {value!r} is not a valid URL", fix='e.g. "s3://bucket/prefix"')
        return value
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def _lineage(table, base: str, where: str) -> dict:
    from .lineage import settings
    return settings(table, base, where)


def environments(project_dir: str) -> tuple[dict[str, Environment], str | None, str | None]:
    """(environments by name, default name, config file directory)."""
    found = find_config(project_dir)
    if not found:
        return {}, None, None
    base, table = found
    envs = {}
    for name, t in (table.get("envs") or {}).items():
        where = f"environment `{name}` in {base}"
        if not isinstance(t, dict):
            raise Nb2pipeError(f"{where} must be a table", fix=f"[envs.{name}] store = \"...\"")
        settings = ("store", "read_from", "params", "credentials", "secrets_file", "schedule", "pickle",
                    "signing_key", "lineage", "data_root")
        unknown = set(t) - set(settings)
        if unknown:
            raise Nb2pipeError(f"{where}: unknown setting {sorted(unknown)[0]!r}",
                               fix="settings: " + ", ".join(settings))
        if t.get("pickle") not in (None, "allow", "refuse"):
            raise Nb2pipeError(f"{where}: pickle = {t['pickle']!r} is not a pickle mode",
                               fix='pickle = "refuse" (never store or load pickles) or "allow"')
        key_ref = t.get("signing_key")
        if key_ref is not None and (not isinstance(key_ref, str) or not key_ref.replace("_", "").isalnum()):
            raise Nb2pipeError(f"{where}: signing_key must name an environment variable, not hold a"
                               " key", fix='e.g. signing_key = "PROD_NB2PIPE_SIGNING_KEY"')
        creds = t.get("credentials") or {}
        for var, ref in creds.items():
            if not isinstance(ref, str) or not ref.replace("_", "").isalnum():
                raise Nb2pipeError(f"{where}: credentials.{var} must name an environment variable,"
                                   " not hold a value", fix=f'e.g. {var} = "PROD_{var}"')
        envs[name] = Environment(
            name=name, store=_url(t.get("store", ".nb2pipe"), base, where),
            read_from=tuple(t.get("read_from") or ()), params=dict(t.get("params") or {}),
            credentials=dict(creds),
            secrets_file=_url(t["secrets_file"], base, where) if t.get("secrets_file") else None,
            schedule=t.get("schedule") or table.get("schedule"), pickle=t.get("pickle"),
            signing_key=key_ref, lineage=_lineage(t.get("lineage"), base, where),
            data_root=_url(t["data_root"], base, where) if t.get("data_root") else None)
    for e in envs.values():
        for r in e.read_from:
            if r not in envs:
                raise Nb2pipeError(f"environment `{e.name}` reads from `{r}`, which is not declared",
                                   fix=f"declare [envs.{r}] or fix read_from")
    return envs, table.get("default_env"), base


def get(project_dir: str, name: str | None) -> Environment | None:
    """The named (or default) environment; None when the project declares none."""
    envs, default, _ = environments(project_dir)
    name = name or os.environ.get("NB2PIPE_ENV") or default
    if name is None:
        return None
    if name not in envs:
        raise Nb2pipeError(f"unknown environment `{name}`" + did_you_mean(name, envs),
                           fix="environments: " + (", ".join(sorted(envs)) or
                                                   "none declared (add [envs.NAME] to nb2pipe.toml)"))
    return envs[name]


def credential_values(env: Environment, environ=os.environ) -> dict[str, str]:
    """The environment's credentials (and its secrets file's other values), by the variable
    names the store client reads.  A missing one raises, naming the variable to set (never a
    value)."""
    values: dict[str, str] = {}
    if env.secrets_file:
        try:
            with open(env.secrets_file, encoding="utf-8") as f:
                values = read_secrets(f)
        except OSError as e:
            raise Nb2pipeError(f"environment `{env.name}`: cannot read its secrets file ({e.strerror})",
                               where=env.secrets_file, fix="create it, or fix secrets_file") from None
    for var, ref in env.credentials.items():
        if ref in environ:
            values[var] = environ[ref]
        elif ref not in values:
            raise Nb2pipeError(f"environment `{env.name}` needs the credential {var}, but ${ref} is not set",
                               fix=f"export {ref}=... (or add it to the secrets file)")
        else:
            values[var] = values[ref]
    return values


def apply_credentials(env: Environment, environ=os.environ) -> dict[str, str | None]:
    """Put the environment's credentials into ``environ`` (fsspec's store clients and the
    steps read them there); returns what they replaced (None: unset), for :func:`restore_environ`."""
    values = credential_values(env, environ)
    replaced = {k: environ.get(k) for k in values}
    environ.update(values)
    return replaced


def restore_environ(replaced: dict[str, str | None], environ=os.environ) -> None:
    """Undo :func:`apply_credentials`: each variable back to its value before, or unset."""
    for k, v in replaced.items():
        if v is None:
            environ.pop(k, None)
        else:
            environ[k] = v


@contextmanager
def restored_environ(environ=os.environ):
    """Whatever credentials are applied inside (a command's stores) leave with it."""
    before = dict(environ)
    try:
        yield
    finally:
        restore_environ({k: before.get(k) for k in set(environ) | set(before)
                         if environ.get(k) != before.get(k)}, environ)


def read_secrets(f) -> dict[str, str]:
    """A dotenv file (python-dotenv: quotes, escapes, inline comments, ``export``); no
    ``${VAR}`` expansion, so a secret holding ``$`` stays as written."""
    from dotenv import dotenv_values
    return {k: v for k, v in dotenv_values(stream=f, interpolate=False).items() if v is not None}


def _store(env: Environment, read_only: bool = False, environ=os.environ):
    from .store import Store
    key = None
    if env.signing_key:
        key = environ.get(env.signing_key)
        if not key:
            raise Nb2pipeError(f"environment `{env.name}` signs pickles with ${env.signing_key}, which"
                               " is not set", fix=f"export {env.signing_key}=... (a long random value,"
                                                  " the same wherever this environment runs)")
    return Store(env.store, read_only=read_only, signing_key=key, pickle=env.pickle)


def open_store(env: Environment, project_dir: str, replaced: dict | None = None):
    """The environment's store: its own (written) plus read-only layers from ``read_from``.
    Their credentials go into ``os.environ`` (all or, when opening fails, none); what they
    replaced is added to ``replaced`` (the first value seen wins), for :func:`restore_environ`
    when the caller's scope ends."""
    from .store import LayeredStore
    envs, _, _ = environments(project_dir)
    applied: dict[str, str | None] = {}
    try:
        for e in (env, *(envs[r] for r in env.read_from)):
            for k, v in apply_credentials(e).items():
                applied.setdefault(k, v)
        own = _store(env)
        layers = [_store(envs[r], read_only=True) for r in env.read_from]
    except BaseException:
        restore_environ(applied)
        raise
    for k, v in applied.items():
        (replaced if replaced is not None else {}).setdefault(k, v)
    return LayeredStore(own, layers) if layers else own


def switch_store(env: Environment, project_dir: str, replaced: dict):
    """The kernel moves to ``env``: its credentials in, those of the environment before
    (``replaced``, as :func:`open_store` filled it) out.  Returns the store and what to
    restore when the kernel leaves this one; nothing changes when opening fails."""
    fresh: dict[str, str | None] = {}
    store = open_store(env, project_dir, fresh)
    restore_environ({k: v for k, v in replaced.items() if k not in fresh})
    return store, {**fresh, **{k: v for k, v in replaced.items() if k in fresh}}
