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


def test_secrets_file_is_a_dotenv_file(tmp_path):
    """Quoted values keep a `#`, escapes are decoded, inline comments dropped, `$` kept."""
    from nb2pipe.environments import apply_credentials, environments, restore_environ
    (tmp_path / "nb2pipe.toml").write_text(
        '[envs.prod]\nstore = "prod-store"\nsecrets_file = "prod.env"\n'
        '[envs.prod.credentials]\nDB_PASSWORD = "PROD_DB_PASSWORD"\n')
    (tmp_path / "prod.env").write_text(
        '# the production secrets\n'
        'PROD_DB_PASSWORD="pa#ss\\nword"   # rotated monthly\n'
        "export API_TOKEN='tok$en' # read by the client\n"
        'PLAIN=abc # a comment\n')
    env = environments(str(tmp_path))[0]["prod"]
    environ = {"PLAIN": "before"}
    replaced = apply_credentials(env, environ)
    assert replaced == {"API_TOKEN": None, "DB_PASSWORD": None, "PLAIN": "before", "PROD_DB_PASSWORD": None}
    assert environ == {"PROD_DB_PASSWORD": "pa#ss\nword", "DB_PASSWORD": "pa#ss\nword",
                       "API_TOKEN": "tok$en", "PLAIN": "abc"}
    restore_environ(replaced, environ)
    assert environ == {"PLAIN": "before"}
