"""A sample check on a remote kernel (a real Jupyter Kernel Gateway on 127.0.0.1) finds what the
local one finds, and its kernel knows it runs on a sample."""
from sampleproject import broken_after_a_real_run
from test_remote import TOKEN, Gateway, kernels

from nbfiles import nb2pipe

CELLS = [
    "%load_ext nb2pipe",
    "%%setup\nimport os\nimport pandas as pd\nfrom nb2pipe import sampling",
    "%%step load\nraw = pd.read_csv('data/people.csv')",
    "%%step guard\nif not sampling.active():\n    assert len(raw) > 1000, 'needs the full data'\nn = len(raw)",
    "%%step clean\ndf = raw[raw.amount >= 0].copy()\ndf['older'] = df.age + 1",
    "%%step bad\nassert len(df) > 1000, 'fails on a sample'\ny = 1",
    "%%step after_bad\nz = y + 1",
    # a str where the real (local) run left it, an int on a gateway's kernel (the runner gives it
    # KERNEL_* variables only): a break there only
    "%%step where\nw = 1 if 'KERNEL_NB2PIPE_PROGRESS' in os.environ else 'local'",
]


def _report(root, *extra):
    code, out, err = nb2pipe("check", "flow.ipynb", "--sample", "50", *extra, cwd=root)
    assert code == 1, out + err
    return [ln for ln in out.splitlines() if ln.startswith(("  ✗", "  -", "sampled"))]


def test_a_sample_check_on_a_remote_kernel_finds_what_the_local_one_finds(tmp_path):
    import shutil
    broken_after_a_real_run(tmp_path, CELLS)
    local = _report(tmp_path)
    assert "  - step `after_bad` skipped: upstream `bad` failed" in local
    assert not [ln for ln in local if "`guard`" in ln or "`where`" in ln]
    shutil.rmtree(tmp_path / ".nb2pipe" / "sample")
    g = Gateway(str(tmp_path / "data"))       # started elsewhere: the runner passes absolute paths
    try:
        remote = _report(tmp_path, "--executor", "remote", "--gateway-url", g.url, "--token", TOKEN)
        assert kernels(g.url) == []
    finally:
        g.stop()
    where = "  ✗ step `where` output `w`: builtins.int, the contract says builtins.str"
    assert [ln for ln in remote if not ln.startswith(where)] == local
    assert [ln for ln in remote if ln.startswith(where)] != []
