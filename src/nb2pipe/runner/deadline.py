"""Time limits of a run: a step's own ``--timeout`` and the run's ``--timeout``, whichever
ends first.  Executors ask for the limit before a step starts and, when it passed, for
the message that reports it (a distinct failure, never a hang)."""
from __future__ import annotations

import time

from ..durations import show_duration


class Deadline:
    def __init__(self, run_timeout: float | None, step_timeouts: dict[str, float] | None = None,
                 *, clock=time.monotonic) -> None:
        self.run_timeout = run_timeout
        self.step_timeouts = dict(step_timeouts or {})
        self.clock = clock
        self.end = None if run_timeout is None else clock() + run_timeout

    @classmethod
    def of(cls, engine, run_timeout: float | None) -> "Deadline":
        steps = {n: s.spec.timeout for n, s in engine.defs.steps.items() if s.spec.timeout}
        return cls(run_timeout, steps)

    def remaining(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - self.clock())

    def expired(self) -> bool:
        return self.end is not None and self.clock() >= self.end

    def limit(self, step: str) -> float | None:
        """Seconds ``step`` may take from now (None: no limit)."""
        own, left = self.step_timeouts.get(step), self.remaining()
        limits = [x for x in (own, left) if x is not None]
        return min(limits) if limits else None

    def reason(self, step: str) -> str:
        """What to report if ``step``, starting now, is stopped at :meth:`limit`: its own
        time limit, or the run's."""
        own, left = self.step_timeouts.get(step), self.remaining()
        if own is not None and (left is None or own <= left):
            return f"step `{step}` timed out after {show_duration(own)}"
        return f"step `{step}` stopped: the run timed out after {show_duration(self.run_timeout or 0)} (--timeout)"

    def not_started(self) -> str:
        return f"not started: the run timed out after {show_duration(self.run_timeout or 0)} (--timeout)"
