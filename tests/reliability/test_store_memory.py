"""Large values go through the store without extra copies (issue 11, item 13): a bytes
output is its own object file (written straight from the value, read back as one bytes
object), objects are hashed in chunks rather than mapped whole, and pickles stream out.
Memory is compared as the peak resident set of two child processes doing the same work,
one plainly and one through nb2pipe (bench/memory.py reports the 1 GB figures)."""
import os
import subprocess
import sys

from nb2pipe.store import Store

SIZE = 200 * 2**20
KEY = "test-signing-key-0123456789abcdef"


def test_bytes_are_stored_as_themselves(tmp_path):
    store = Store(tmp_path / "s", signing_key=KEY)
    value = bytes(range(256)) * 1000
    ref = store.put(value)
    assert (ref.codec, ref.type, ref.nbytes) == ("bytes", "builtins.bytes", len(value))
    [path] = (tmp_path / "s" / "objects").rglob("*.bin")
    assert path.read_bytes() == value
    assert Store(tmp_path / "s", signing_key=KEY).get(ref) == value
    assert Store(tmp_path / "s", signing_key=KEY).get(store.put(b"")) == b""


def test_a_pickle_streams_out_signed(tmp_path):
    store = Store(tmp_path / "s", signing_key=KEY)
    value = [bytes(5 * 2**20), "x", bytes(3)]        # large parts are written outside pickle frames
    ref = store.put(value)
    assert ref.codec == "pickle"
    assert Store(tmp_path / "s", signing_key=KEY).get(ref) == value


def peak_mb(code):
    proc = subprocess.Popen([sys.executable, "-c", code])
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, code
    return usage.ru_maxrss / 1024


def test_storing_and_loading_bytes_costs_no_extra_copy(tmp_path):
    plain = peak_mb(f"import nb2pipe.store\nvalue = bytes([1]) * {SIZE}\n"
                    f"open({str(tmp_path / 'f')!r}, 'wb').write(value)\ndel value\n"
                    f"back = open({str(tmp_path / 'f')!r}, 'rb').read()\nassert len(back) == {SIZE}")
    ours = peak_mb(f"from nb2pipe.store import Store\nvalue = bytes([1]) * {SIZE}\n"
                   f"ref = Store({str(tmp_path / 's')!r}, signing_key={KEY!r}).put(value)\ndel value\n"
                   f"back = Store({str(tmp_path / 's')!r}, signing_key={KEY!r}).get(ref)\n"
                   f"assert len(back) == {SIZE}")
    assert ours <= 1.3 * plain, f"peak {ours:.0f} MB through the store, {plain:.0f} MB plainly"
