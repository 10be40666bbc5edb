"""Environment variables a remote kernel needs (cloud credentials for the store).

A Jupyter gateway passes only ``KERNEL_*`` variables to the kernels it starts, so the
runner sends them as ``KERNEL_NB2PIPE_ENV_<NAME>`` and ``%load_ext nb2pipe`` restores
them under their own names.  Values travel only on the gateway's authenticated
channel; they are never written to the store, records or logs.
"""
from __future__ import annotations

import fnmatch
import os


FORWARD_PREFIX = "KERNEL_NB2PIPE_ENV_"
DEFAULT_FORWARD = ("AWS_*", "AZURE_*", "GOOGLE_*", "GCS_*", "FSSPEC_*")


def forwarded_env(patterns: list[str] | None = None) -> dict[str, str]:
    pats = list(DEFAULT_FORWARD) + list(patterns or ())
    return {FORWARD_PREFIX + k: v for k, v in os.environ.items()
            if any(fnmatch.fnmatchcase(k, p) for p in pats)}


def restore_forwarded_env(environ=os.environ) -> list[str]:
    """In the kernel: give forwarded variables their own names (never overriding); returns
    the names it set, for :func:`drop_restored_env` (``%unload_ext nb2pipe``)."""
    added = []
    for k, v in list(environ.items()):
        name = k[len(FORWARD_PREFIX):]
        if k.startswith(FORWARD_PREFIX) and name not in environ:
            environ[name] = v
            added.append(name)
    return added


def drop_restored_env(names: list[str], environ=os.environ) -> None:
    for name in names:
        environ.pop(name, None)
