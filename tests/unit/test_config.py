import os

from nb2pipe.config import store_location


def test_store_resolution_order(tmp_path, monkeypatch):
    proj = tmp_path / "team" / "proj"
    proj.mkdir(parents=True)
    monkeypatch.delenv("NB2PIPE_STORE", raising=False)
    assert store_location(str(proj)) == os.path.join(str(proj), ".nb2pipe")
    (tmp_path / "team" / "pyproject.toml").write_text('[tool.nb2pipe]\nstore = "shared-store"\n')
    assert store_location(str(proj)) == str(tmp_path / "team" / "shared-store")
    (proj / "nb2pipe.toml").write_text('store = "memory://team/sales"\n')
    assert store_location(str(proj)) == "memory://team/sales"
    monkeypatch.setenv("NB2PIPE_STORE", "/elsewhere")
    assert store_location(str(proj)) == "/elsewhere"
    assert store_location(str(proj), "s3://explicit") == "s3://explicit"
