"""Files a step reads are found in its code and tracked like --src."""
import pytest

from nb2pipe.analysis import analyze
from nb2pipe.engine import Engine
from nb2pipe.spec import parse_step_line
from nb2pipe.store import Store


@pytest.mark.parametrize("code, paths, unresolved", [
    ("with open('data.txt') as f:\n    t = f.read()", ("data.txt",), 0),
    ("df = pd.read_csv('data/x.csv', sep=';')", ("data/x.csv",), 0),
    ("df = pd.read_parquet(path='d.parquet')", ("d.parquet",), 0),
    ("a = np.load('arr.npy')", ("arr.npy",), 0),
    ("t = Path('cfg.json').read_text()", ("cfg.json",), 0),
    ("with open('out.txt', 'w') as f:\n    f.write('x')", (), 0),          # a write, not a read
    ("df = pd.read_csv('https://example.org/x.csv')", (), 0),              # a URL, not a file
    ("import json\nwith open('a.json') as f:\n    d = json.load(f)", ("a.json",), 0),
    ("df = pd.read_csv(f'data/{name}.csv')", (), 1),
    ("df = pd.read_csv(path)", (), 1),
    ("p = Path(root)", (), 0),
])
def test_files_found_in_code(code, paths, unresolved):
    info = analyze(code)
    assert info.files.paths == paths
    assert len(info.files.unresolved) == unresolved


@pytest.mark.parametrize("code, writes, reads", [
    ("with open('out.txt', 'w') as f:\n    f.write('x')", ("out.txt",), ()),
    ("with open('log.txt', mode='a') as f:\n    f.write('x')", ("log.txt",), ()),
    ("df.to_csv('data/out.csv', index=False)", ("data/out.csv",), ()),
    ("df.to_parquet(path='o.parquet')", ("o.parquet",), ()),
    ("df.to_json('my_df.json')\ndf.to_html('my_df.html')", ("my_df.json", "my_df.html"), ()),
    ("np.save('my_array', a)", ("my_array.npy",), ()),                # numpy adds .npy
    ("np.save('a.npy', a)", ("a.npy",), ()),
    ("np.savez('arrs', x=a)", ("arrs.npz",), ()),
    ("numpy.savez_compressed('c', x=a)", ("c.npz",), ()),
    ("np.savetxt('t.csv', X=a, delimiter=',')", ("t.csv",), ()),
    ("fig.savefig('sales.png', dpi=80)", ("sales.png",), ()),
    ("plt.savefig('plot')", ("plot.png",), ()),                      # matplotlib's default format
    ("Path('notes.txt').write_text('hi')", ("notes.txt",), ()),
    ("joblib.dump(model, 'model.pkl')", ("model.pkl",), ()),
    ("pq.write_table(table, './out/t.parquet')", ("out/t.parquet",), ()),
    ("model.save('m.h5')", (), ()),                        # not numpy: not known to write there
    ("df.to_csv(path)", (), ()),                           # computed: not followed
    ("df.to_csv('s3://bucket/x.csv')", (), ()),            # a URL, not a project file
    # written then read back in the same cell: its own output, not a read
    ("df.to_csv('o.csv')\nback = pd.read_csv('o.csv')", ("o.csv",), ()),
    # read, then overwritten: a source it reads, and an output
    ("df = pd.read_csv('o.csv')\ndf.to_csv('o.csv')", ("o.csv",), ("o.csv",)),
])
def test_files_written_found_in_code(code, writes, reads):
    info = analyze(code)
    assert info.files.writes == writes
    assert info.files.paths == reads
    assert [w for w in info.writes if w.startswith("file:")] == [f"file:{w}" for w in writes]


def test_editing_a_file_the_code_reads_makes_the_step_stale(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # a kernel runs in the notebook's folder
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "n.txt").write_text("3")
    ns, warnings = {}, []
    eng = Engine(Store(tmp_path / ".nb2pipe"), tmp_path, publish=ns.update, warn=warnings.append)
    eng.define(parse_step_line("load"), "with open('data/n.txt') as f:\n    n = int(f.read())")
    eng.define(parse_step_line("double"), "m = n * 2")
    assert [o.status for o in eng.run()] == ["ran", "ran"]
    assert ns["m"] == 6
    (tmp_path / "data" / "n.txt").write_text("5")
    plan = eng.plan()
    assert plan["load"].state == "stale"
    assert plan["load"].reasons == ["source `data/n.txt` changed"]
    eng.run(["double"])
    assert ns["m"] == 10
    assert warnings == []


def test_a_computed_path_is_reported_once(tmp_path):
    warnings = []
    eng = Engine(Store(tmp_path / ".nb2pipe"), tmp_path, warn=warnings.append)
    eng.set_params("name = 'x'")
    for _ in range(2):
        eng.define(parse_step_line("load"), "import pandas as pd\n\ndf = pd.read_csv(f'{name}.csv')")
    assert warnings == ["nb2pipe: step `load` line 3 reads a file whose path is computed"
                        " (`pd.read_csv(f'{name}.csv')`), so its changes cannot be tracked; add"
                        " `--src PATH` to the %%step line to track it"]
