"""Optional parts of nb2pipe and the extra that installs each: a missing one is a one-line
message naming the extra (``pip install 'nb2pipe[s3]'``), never an ImportError traceback."""
from __future__ import annotations

import importlib

from .errors import Nb2pipeError

# URL scheme of a store -> (module fsspec needs, extra)
SCHEMES = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3")}
# what a feature imports -> extra
FEATURES = {"dask": (("distributed",), "dask"),
            "remote": (("jupyter_server", "websocket"), "remote")}


def _missing(modules: tuple[str, ...]) -> str | None:
    for m in modules:
        try:
            importlib.import_module(m)
        except ImportError:
            return m
    return None


def _fail(what: str, module: str, extra: str):
    raise Nb2pipeError(f"{what} needs {module}, which is not installed here: install"
                       f" nb2pipe[{extra}] (pip install 'nb2pipe[{extra}]')")


def require_store(url: str) -> None:
    """Before opening a store URL: its filesystem's module is there, or name the extra."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in SCHEMES:
        module, extra = SCHEMES[scheme]
        if _missing((module,)):
            _fail(f"the store {scheme}://...", module, extra)


def require(feature: str) -> None:
    """Before using an optional feature ("dask", "remote")."""
    modules, extra = FEATURES[feature]
    missing = _missing(modules)
    if missing:
        _fail(f"the {feature} executor", missing, extra)
