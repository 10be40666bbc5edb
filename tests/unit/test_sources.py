"""One expansion of a step's --src for the hasher, the watcher and export."""
from nb2pipe.fingerprint import FileHasher
from nb2pipe.sources import expand_source, expand_sources


def test_a_glob_matching_a_directory_stands_for_its_files(tmp_path):
    (tmp_path / "data" / "2024").mkdir(parents=True)
    (tmp_path / "data" / "2024" / "jan.csv").write_text("a\n1\n")
    (tmp_path / "data" / "top.csv").write_text("a\n2\n")
    base = str(tmp_path)
    assert [p[len(base) + 1:] for p in expand_source("data/*", base)] == ["data/2024/jan.csv", "data/top.csv"]
    assert expand_source("missing.csv", base) == []
    assert expand_sources(["data/top.csv", "data"], base) == expand_source("data/**", base)
    before = FileHasher().source("data/*", base, "load")
    (tmp_path / "data" / "2024" / "jan.csv").write_text("a\n3\n")
    assert FileHasher().source("data/*", base, "load") != before
