"""The namespace %%setup definitions live in.

Functions and classes defined in a %%setup cell (or a step's imports and functions) run with
this dict as their globals.  While a step runs they see only setup names, as production gives
them.  Called from an exploration cell, a helper that looks a name up in its module globals
(``eval('df1')`` in a display helper) finds the notebook's names, as in a plain notebook:
such calls never reach production, so nothing the pipeline computes can depend on them.
"""
from __future__ import annotations

from typing import Any, Callable


class SetupNamespace(dict):
    def __init__(self, *args: Any, explore: Callable[[str], Any] | None = None,
                 in_step: Callable[[], bool] = lambda: False, **kw: Any):
        super().__init__(*args, **kw)
        self._explore = explore
        self._in_step = in_step

    def __missing__(self, name: str) -> Any:
        if self._explore is None or self._in_step():
            raise KeyError(name)
        return self._explore(name)
