"""Parse a ``%%step`` line into a :class:`StepSpec` (pure, no I/O)."""
from __future__ import annotations

import argparse
import functools
import re
import shlex
from dataclasses import dataclass, field

from .errors import SpecError, closest

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,99}$")
USAGE = (
    "%%step NAME [--in A B ...] [--out X Y ...] [--src PATH ...] [--sql]\n"
    "            (--in NAME:pandas or NAME:arrow converts a table input)\n"
    "            [--expect EXPR ...]  (checks on the outputs, e.g. --expect \"len(df) > 0\")\n"
    "            [--sample-skip]  (not run by `check --sample`: it needs the full data)\n"
    "            [--no-cache] [--retries N] [--cpu N] [--memory SIZE] [--gpu N]\n"
    "            [--save OUTPUT=PATH] [--timeout 30m] [--group NAME]\n"
    "examples:\n"
    "  %%step load --src data/sales.csv --out raw\n"
    "  %%step clean --in raw --out df\n"
    "  %%step summary                 # inputs and outputs inferred from the code"
)


@dataclass(frozen=True)
class StepSpec:
    """What the ``%%step`` line declares.  ``None`` means "infer from the code"."""

    name: str
    inputs: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None
    srcs: tuple[str, ...] = ()
    sql: bool = False
    cache: bool = True
    retries: int = 0
    resources: tuple[tuple[str, str], ...] = ()
    saves: tuple[tuple[str, str], ...] = ()
    input_types: tuple[tuple[str, str], ...] = ()   # ("revenue", "pandas"): convert on the way in
    expects: tuple[str, ...] = ()                   # expressions that must hold on the outputs
    timeout: float | None = None                    # seconds; the runner stops the step after it
    group: str | None = None                        # scheduler task shared with other steps
    sample_skip: bool = False                       # `check --sample` does not run it
    line: str = field(default="", compare=False)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would exit the kernel; raise instead
        raise SpecError(f"bad %%step line: {message}", fix="usage:\n" + USAGE)


@functools.lru_cache(maxsize=1)
def _parser() -> _Parser:
    p = _Parser(prog="%%step", add_help=False, allow_abbrev=False)
    p.add_argument("name", nargs="?")
    p.add_argument("--in", dest="inputs", nargs="*", action="extend")
    p.add_argument("--out", dest="outputs", nargs="*", action="extend")
    p.add_argument("--src", dest="srcs", nargs="+", action="extend", default=[])
    p.add_argument("--sql", action="store_true")
    p.add_argument("--no-cache", dest="no_cache", action="store_true")
    p.add_argument("--retries", type=int, default=0)
    p.add_argument("--cpu")
    p.add_argument("--memory")
    p.add_argument("--gpu")
    p.add_argument("--save", dest="saves", nargs="+", action="extend", default=[])
    p.add_argument("--expect", dest="expects", action="append", default=[])
    p.add_argument("--timeout")
    p.add_argument("--group")
    p.add_argument("--sample-skip", dest="sample_skip", action="store_true")
    return p


def _split(values: list[str] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        out.extend(x for x in (s.strip() for s in v.split(",")) if x)
    return tuple(dict.fromkeys(out))


def check_name(name: str, what: str = "step name") -> None:
    if not NAME_RE.match(name or ""):
        hint = " (no path separators or dots)" if any(c in name for c in "/\\.") else ""
        raise SpecError(
            f"invalid {what} {name!r}{hint}",
            fix="use letters, digits, '_' or '-', starting with a letter or '_', e.g. `clean_sales`",
        )


def _check_identifiers(names: tuple[str, ...] | None, flag: str, step: str) -> None:
    for n in names or ():
        if not n.isidentifier():
            raise SpecError(f"{flag} {n!r} of step `{step}` is not a Python name",
                            fix=f"{flag} takes variable names, e.g. {flag} raw df")


def parse_step_line(line: str) -> StepSpec:
    """Parse the text after ``%%step``.

    >>> parse_step_line("clean --in raw --out df").inputs
    ('raw',)
    """
    bare = line.strip()
    if bare.isidentifier():           # `%%step clean`, the common line: no parser needed
        check_name(bare)
        return StepSpec(name=bare, line=bare)
    return _parse_with_flags(line)


# the lines the fast path reads: plain words (no quotes, escapes, comments or `=`) and only
# the flags below; anything else goes to argparse, which stays the one definition of the syntax
_PLAIN_LINE = re.compile(r"[A-Za-z0-9_\-./:*,@+ \t]*")
_FAST_SWITCHES = {"--sql": "sql", "--no-cache": "no_cache", "--sample-skip": "sample_skip"}
_FAST_LISTS = {"--in": "inputs", "--out": "outputs", "--src": "srcs"}


def _fast_namespace(line: str) -> argparse.Namespace | None:
    """What argparse would make of a plain line (``t1 --sql``, ``clean --in raw --out df``),
    without argparse; None for any other line."""
    if not _PLAIN_LINE.fullmatch(line):
        return None
    words = line.split()
    if not words or words[0].startswith("-"):
        return None
    ns = argparse.Namespace(name=words[0], inputs=None, outputs=None, srcs=[], sql=False, no_cache=False,
                            retries=0, cpu=None, memory=None, gpu=None, saves=[], expects=[],
                            timeout=None, group=None, sample_skip=False)
    values = None                       # the list the words after --in/--out/--src go to
    src_wanting = False                 # a --src still without its path (argparse: nargs="+")
    for w in words[1:]:
        if not w.startswith("-"):
            if values is None:
                return None             # a second positional: argparse says what is wrong
            values.append(w)
            src_wanting = False
            continue
        if src_wanting:
            return None
        if w in _FAST_SWITCHES:
            setattr(ns, _FAST_SWITCHES[w], True)
            values = None
        elif w in _FAST_LISTS:
            if getattr(ns, _FAST_LISTS[w]) is None:
                setattr(ns, _FAST_LISTS[w], [])
            values = getattr(ns, _FAST_LISTS[w])
            src_wanting = w == "--src"
        else:
            return None
    return None if src_wanting else ns


def _parse_with_flags(line: str) -> StepSpec:
    ns = _fast_namespace(line)
    return _spec_of(ns if ns is not None else _argparse_namespace(line), line)


def _argparse_namespace(line: str) -> argparse.Namespace:
    try:
        argv = shlex.split(line, comments=True)
    except ValueError as e:
        raise SpecError(f"bad %%step line {line!r}: {e}", fix="check the quoting") from None
    flags = [a for a in argv if a.startswith("--")]
    parser = _parser()
    known = {o for a in parser._actions for o in a.option_strings if o.startswith("--")} - {"--help"}
    for f in flags:
        if f.split("=")[0] not in known:
            close = closest(f, known)
            raise SpecError(f"unknown option {f} on the %%step line",
                            fix=(f"did you mean {close}? " if close else "") + "usage:\n" + USAGE)
    return parser.parse_args(argv)


def _spec_of(ns: argparse.Namespace, line: str) -> StepSpec:
    if not ns.name:
        raise SpecError("%%step needs a name", fix="usage:\n" + USAGE)
    check_name(ns.name)
    if ns.retries < 0:
        raise SpecError(f"--retries must be >= 0 (got {ns.retries})", where=f"step `{ns.name}`",
                        fix="e.g. --retries 2")
    inputs, input_types = _typed_inputs(_split(ns.inputs), ns.name)
    outputs = _split(ns.outputs)
    _check_identifiers(inputs, "--in", ns.name)
    _check_identifiers(outputs, "--out", ns.name)
    resources = tuple((k, str(v)) for k, v in (("cpu", ns.cpu), ("memory", ns.memory),
                                                ("gpu", ns.gpu)) if v is not None)
    saves = _saves(ns.saves, ns.name)
    for e in ns.expects:
        _check_expression(e, ns.name)
    from .durations import parse_duration
    timeout = None if ns.timeout is None else parse_duration(ns.timeout, where=f"step `{ns.name}`")
    if ns.group is not None:
        check_name(ns.group, "--group name")
    return StepSpec(
        name=ns.name, inputs=inputs, outputs=outputs,
        srcs=tuple(dict.fromkeys(ns.srcs)), sql=ns.sql, cache=not ns.no_cache,
        retries=ns.retries, resources=resources, saves=tuple(saves), input_types=tuple(input_types),
        expects=tuple(ns.expects),
        timeout=timeout, group=ns.group, sample_skip=ns.sample_skip, line=line.strip(),
    )


def _typed_inputs(inputs: tuple[str, ...] | None, step: str):
    """``--in df:pandas raw`` -> (("df", "raw"), [("df", "pandas")])."""
    if not inputs:
        return inputs, []
    plain, typed = [], []
    for i in inputs:
        name, sep, kind = i.partition(":")
        if sep:
            if kind not in ("pandas", "arrow"):
                raise SpecError(f"--in {i}: unknown type {kind!r}", where=f"step `{step}`",
                                fix="use NAME:pandas or NAME:arrow")
            typed.append((name, kind))
        plain.append(name)
    return tuple(plain), typed


def _saves(values: list[str], step: str) -> list[tuple[str, str]]:
    out = []
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise SpecError(f"--save {v!r} is not OUTPUT=PATH", where=f"step `{step}`",
                            fix="e.g. --save df=exports/df.parquet")
        out.append((name, path))
    return out


def _check_expression(expr: str, step: str) -> None:
    import ast
    try:
        ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        raise SpecError(f"--expect {expr!r} of step `{step}` is not a Python expression ({e.msg})",
                        where=f"step `{step}`", fix='e.g. --expect "df.amount.ge(0).all()"') from None


@dataclass(frozen=True)
class ParamsSpec:
    """What a ``%%params`` line declares: which parameters are secret (their values are kept
    out of outputs, records and exports, and enter keys only as an irreversible digest), and
    which are credentials (secrets declared not to change results: left out of keys)."""

    secret: tuple[str, ...] = ()
    credential: tuple[str, ...] = ()

    @property
    def hidden(self) -> frozenset[str]:
        """Every parameter whose value must never be shown."""
        return frozenset(self.secret + self.credential)


PARAMS_USAGE = "%%params [--secret NAME ...] [--credential NAME ...]"


class _ParamsParser(argparse.ArgumentParser):
    def error(self, message):
        raise SpecError(f"bad %%params line: {message}", fix="usage: " + PARAMS_USAGE)


@functools.lru_cache(maxsize=1)
def _params_parser() -> _ParamsParser:
    p = _ParamsParser(prog="%%params", add_help=False, allow_abbrev=False)
    p.add_argument("--secret", nargs="+", action="extend", default=[])
    p.add_argument("--credential", nargs="+", action="extend", default=[])
    return p


def parse_params_line(line: str) -> ParamsSpec:
    """Parse the arguments of a ``%%params`` line (``--secret a b``, ``--secret=a``)."""
    try:
        argv = shlex.split(line)
    except ValueError as e:
        raise SpecError(f"bad %%params line: {e}", fix="usage: " + PARAMS_USAGE) from None
    if argv and argv[0] == "%%params":
        argv = argv[1:]
    ns = _params_parser().parse_args(argv)
    for n in ns.secret + ns.credential:
        if not n.isidentifier():
            raise SpecError(f"bad %%params line: `{n}` is not a parameter name",
                            fix="usage: " + PARAMS_USAGE)
    return ParamsSpec(tuple(ns.secret), tuple(ns.credential))
