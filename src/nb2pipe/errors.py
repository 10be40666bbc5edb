"""The error hierarchy: one root, a handful of kinds.

Every error a user sees answers three questions: what went wrong, where
(step, cell, line), and what to do about it.  ``str(err)`` renders all three.
"""
from __future__ import annotations

import pickle


class Nb2pipeError(Exception):
    """Root of every error nb2pipe raises on purpose."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None):
        super().__init__(what)
        self.what = what
        self.where = where
        self.fix = fix

    def __reduce__(self):
        # pickle (Dask moves errors between processes): rebuild from the attributes, not by
        # calling __init__, whose arguments differ from one subclass to the next
        return _restore, (type(self), self.args, self.__dict__)

    def __str__(self) -> str:
        parts = [self.what]
        if self.where:
            parts.append(f"  where: {self.where}")
        if self.fix:
            parts.append(f"  fix:   {self.fix}")
        return "\n".join(parts)


def _restore(cls: type, args: tuple, state: dict) -> Nb2pipeError:
    err = Exception.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class SpecError(Nb2pipeError):
    """A ``%%step`` line (name or options) is malformed."""


class AnalysisError(Nb2pipeError):
    """The code of a step cannot be parsed or does not match its declaration."""


class GraphError(Nb2pipeError):
    """The DAG is invalid.  ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[str], *, fix: str | None = None):
        self.problems = list(problems)
        n = len(self.problems)
        head = "the pipeline has 1 problem:" if n == 1 else f"the pipeline has {n} problems:"
        super().__init__(head + "".join(f"\n  - {p}" for p in self.problems), fix=fix)


class UntrackedNameError(Nb2pipeError):
    """A step reads a name that only an exploration cell defines."""


class StoreError(Nb2pipeError):
    """The store cannot write or read an object."""


class CorruptObjectError(StoreError):
    """A stored object does not match its checksum or signature."""


class StepFailed(Nb2pipeError):
    """The body of a step raised.  ``cause`` is the user's exception."""

    def __init__(self, step: str, cause: BaseException, *, where: str | None = None,
                 traceback_text: str = ""):
        self.step = step
        self.cause = cause
        self.traceback_text = traceback_text
        super().__init__(
            f"step `{step}` failed: {type(cause).__name__}: {cause}",
            where=where,
            fix="fix the step's code and run the cell again; earlier cached results are intact",
        )

    def __reduce__(self):
        fn, (cls, args, state) = super().__reduce__()
        try:
            pickle.dumps(self.cause)
        except Exception:  # noqa: BLE001 - e.g. a class defined in the notebook: keep its text
            state = {**state, "cause": RuntimeError(f"{type(self.cause).__name__}: {self.cause}")}
        return fn, (cls, args, state)


def closest(name: str, candidates) -> str | None:
    """The candidate closest to a mistyped ``name``, if any is close."""
    import difflib
    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return close[0] if close else None


def did_you_mean(name: str, candidates) -> str:
    """`` (did you mean `x`?)`` for the closest candidate, or an empty string."""
    close = closest(name, candidates)
    return f" (did you mean `{close}`?)" if close else ""
