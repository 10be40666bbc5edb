"""``%nb2pipe``: session settings (mostly written by headless runs), one handler per command.
Each takes the session and the rest of the line as written (it may be JSON)."""
from __future__ import annotations

import json

from IPython.core.error import UsageError

from .errors import Nb2pipeError
from .protocol import GraphChanged


def _json(cmd: str, text: str):
    try:
        return json.loads(text or "{}")
    except json.JSONDecodeError as e:
        raise UsageError(f"%nb2pipe {cmd}: the value is not JSON ({e.msg} at column {e.colno})\n"
                         f'e.g. %nb2pipe {cmd} {{"n_rows": 5}}') from None


def define_only(session, rest: str) -> None:
    if rest not in ("on", "off"):
        raise UsageError(f"%nb2pipe define-only takes on or off (got {rest!r})")
    session.define_only = rest == "on"


def params(session, rest: str) -> None:
    session.overrides = _json("params", rest)


def use_params(session, rest: str) -> None:
    """Exported notebooks: a `parameters` cell, then this line."""
    ns = session.shell.user_ns
    session.engine.set_params(values={n: ns[n] for n in rest.split() if n in ns},
                              overrides=session.overrides)


def env(session, rest: str) -> None:
    from . import environments
    engine = session.engine
    e = environments.get(engine.project_dir, rest or None)
    if e is None:
        raise Nb2pipeError("this project declares no environments",
                           fix="add [envs.NAME] tables to nb2pipe.toml (see `nb2pipe --help`)")
    engine.store, session.credentials = environments.switch_store(e, engine.project_dir,
                                                                  session.credentials)
    engine.env_name = e.name
    engine.results.clear()
    session.overrides = {**e.params}
    d = engine.defs
    engine.set_params(values=d.params, overrides=e.params, secret=d.secret_params - d.credential_params,
                      credential=d.credential_params)
    print(f"env: {e.name} · store: {engine.store!r}")


def store(session, rest: str) -> None:
    from .store import Store
    engine = session.engine
    if not rest:
        print(engine.store.url)
        return
    engine.store = Store(rest)
    engine.results.clear()
    engine._emit(GraphChanged())
    print(f"store: {engine.store.url}")


def pipeline(session, rest: str) -> None:
    """Headless runs: the notebook's name scopes per-step state."""
    session.engine.pipeline = rest
    session.engine.results.clear()


def contracts(session, rest: str) -> None:
    session.engine.contracts = _json("contracts", rest)


COMMANDS = {"env": env, "store": store, "define-only": define_only, "params": params,
            "use-params": use_params, "contracts": contracts, "pipeline": pipeline}
