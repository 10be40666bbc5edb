"""Durations as people write them: ``90``, ``90s``, ``30m``, ``1h30m``, ``2h``, ``1d``."""
from __future__ import annotations

import re

from .errors import SpecError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str, *, what: str = "--timeout", where: str | None = None) -> float:
    """Seconds in ``text``; a bare number is seconds.

    >>> parse_duration("1h30m")
    5400.0
    """
    t = str(text).strip().lower()
    try:
        seconds = float(t)
    except ValueError:
        parts = _PART.findall(t)
        if not parts or "".join(n + u for n, u in parts) != t:
            raise SpecError(f"{what} {text!r} is not a duration", where=where,
                            fix="write e.g. 90s, 30m, 1h30m or a number of seconds") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise SpecError(f"{what} {text!r} must be more than 0", where=where, fix="e.g. 30m")
    return seconds


def show_duration(seconds: float) -> str:
    """``1800`` -> ``30m``; ``5400`` -> ``1h30m``; ``2.5`` -> ``2.5s``."""
    if seconds != int(seconds) or seconds < 60:
        return f"{seconds:g}s"
    s = int(seconds)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out += f"{s // size}{unit}"
            s %= size
    return out
