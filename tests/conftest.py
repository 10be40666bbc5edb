import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

SALES = "region,amount\nEU,1\nUS,2\nEU,\nUS,5\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sales.csv").write_text(SALES)
    (tmp_path / "helpers.py").write_text("def total(df):\n    return float(df['amount'].sum())\n")
    return tmp_path


@pytest.fixture
def kernel(project):
    from kernelharness import Kernel
    k = Kernel(str(project))
    yield k
    k.shutdown()


# ---------------------------------------------------------------- no silent skips
# A skipped test fails the run unless its node id is listed, with the reason, in
# tests/allowed_skips.txt (one "node id | reason" a line; # starts a comment).

ALLOWED_SKIPS = os.path.join(os.path.dirname(__file__), "allowed_skips.txt")
_skipped: dict[str, str] = {}


def _allowed_skips() -> tuple[set[str], list[str]]:
    allowed, bad = set(), []
    if not os.path.exists(ALLOWED_SKIPS):
        return allowed, bad
    with open(ALLOWED_SKIPS, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            node, sep, reason = line.partition("|")
            if not sep or not node.strip() or not reason.strip():
                bad.append(f"{os.path.basename(ALLOWED_SKIPS)}:{n}: expected 'node id | reason': {line!r}")
            else:
                allowed.add(node.strip())
    return allowed, bad


def _note_skip(report) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped[report.nodeid] = reason


def pytest_collectreport(report):
    _note_skip(report)


def pytest_runtest_logreport(report):
    _note_skip(report)


def pytest_sessionfinish(session, exitstatus):
    allowed, bad = _allowed_skips()
    unlisted = {n: r for n, r in _skipped.items() if n not in allowed}
    session.config._nb2pipe_skip_problems = bad + [f"{n}: {r}" for n, r in sorted(unlisted.items())]
    if session.config._nb2pipe_skip_problems and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    problems = getattr(config, "_nb2pipe_skip_problems", [])
    if problems:
        terminalreporter.section("skipped tests not in tests/allowed_skips.txt (the run fails)", red=True)
        for p in problems:
            terminalreporter.line(p, red=True)


class Runs:
    """Processes a test starts (``nb2pipe run`` and the like).  Each gets a token in its
    environment, which its kernel inherits; the fixture kills, by pid, every process still
    carrying it (a run, its kernel even when re-parented), so a failed test leaves none behind."""

    def __init__(self):
        import uuid
        self.token = uuid.uuid4().hex
        self.started: list = []

    def start(self, argv: list[str], env: dict | None = None, **popen_kw):
        import subprocess
        env = {**(os.environ if env is None else env), "NB2PIPE_TEST_RUNS": self.token}
        proc = subprocess.Popen(argv, env=env, **popen_kw)
        self.started.append(proc)
        return proc

    def pids(self) -> list[int]:
        """Processes carrying this fixture's token (Linux: /proc/PID/environ)."""
        mark = f"NB2PIPE_TEST_RUNS={self.token}".encode()
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if mark in f.read().split(b"\0"):
                        found.append(int(pid))
            except OSError:              # gone, or not ours to read
                continue
        return found

    def stop_all(self) -> None:
        import signal
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.started:
            proc.wait()


@pytest.fixture
def runs():
    started = Runs()
    yield started
    started.stop_all()


@pytest.fixture(scope="session")
def clean_venv(tmp_path_factory):
    """A venv with nothing installed, shared by the tests that install exported packages."""
    from exportvenv import make_clean_venv
    return make_clean_venv(str(tmp_path_factory.mktemp("clean")))
