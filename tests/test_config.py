from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf" / "ragbot.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_minimal_shape_resolves_paths_against_the_config_folder(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    path = write(tmp_path, """
data_dir: ./.ragbot
sources:
  - name: handbook
    type: folder
    path: ./docs
    url: "https://wiki.example.com/{path}"
""")
    settings = load_settings(path)
    assert settings.data_dir == (tmp_path / "conf" / ".ragbot").resolve()
    source = settings.source("handbook")
    assert source.options.path == (tmp_path / "conf" / "docs").resolve()
    assert source.options.url == "https://wiki.example.com/{path}"
    assert source.visibility == "public"
    assert settings.config_path == path.resolve()


def test_unknown_top_level_key_names_the_key(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_settings(write(tmp_path, "data_dir: x\nsourcez: []\n"))
    assert "sourcez: unknown key" in str(exc.value)


def test_unknown_connector_key_is_reported_where_the_user_wrote_it(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_settings(write(tmp_path, "sources:\n  - {name: a, type: folder, path: ., pth: x}\n"))
    assert "sources.0.pth: unknown key" in str(exc.value)


def test_missing_path_names_the_key(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_settings(write(tmp_path, "sources:\n  - {name: a, type: folder}\n"))
    assert "sources.0.path: Field required" in str(exc.value)


def test_unknown_type_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_settings(write(tmp_path, "sources:\n  - {name: a, type: sharepoint}\n"))
    message = str(exc.value)
    assert "sharepoint" in message and "folder" in message and "confluence" in message


def test_duplicate_source_names_rejected(tmp_path):
    with pytest.raises(ConfigError, match="two sources are named 'a'"):
        load_settings(write(tmp_path, "sources:\n  - {name: a, type: folder, path: .}\n"
                                      "  - {name: a, type: folder, path: .}\n"))


@pytest.mark.parametrize("text, expected", [
    ("sources: [\n", "not valid YAML"),
    ("- just\n- a list\n", "top level must be a mapping"),
    ("retrieval: {k: 0}\n", "retrieval.k"),
    ("index: {collection: ab}\n", "index.collection"),
    ("sources:\n  - {name: a, type: folder, path: ., schedule: {every: 5m, cron: '* * * * *'}}\n",
     "exactly one of `every` or `cron`"),
    ("database_url: mysql://db/ragbot\n", "database_url .*only postgresql://"),
    ("database_url: 'not a url'\n", "database_url must look like postgresql://"),
    ("scheduler: {lease_s: 1}\n", "scheduler.lease_s"),
])
def test_bad_values_are_explained(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected):
        load_settings(write(tmp_path, text))


def test_missing_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ConfigError, match="--config"):
        load_settings(tmp_path / "nope.yaml")


def test_data_dir_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGBOT_DATA_DIR", str(tmp_path / "elsewhere"))
    settings = load_settings(write(tmp_path, "data_dir: ./x\n"))
    assert settings.data_dir == (tmp_path / "elsewhere").resolve()


def test_database_url_env_override(tmp_path, monkeypatch):
    from bot.knowledge.db import database_url

    path = write(tmp_path, "data_dir: ./x\n")
    assert database_url(load_settings(path)) == f"sqlite:///{(tmp_path / 'conf' / 'x').resolve()}/ragbot.sqlite"
    monkeypatch.setenv("RAGBOT_DATABASE_URL", "postgresql://ragbot:secret@db:5432/ragbot")
    assert load_settings(path).database_url == "postgresql://ragbot:secret@db:5432/ragbot"
    monkeypatch.setenv("RAGBOT_DATABASE_URL", "oracle://db/x")
    with pytest.raises(ConfigError, match="RAGBOT_DATABASE_URL: database_url 'oracle://db/x'"):
        load_settings(path)


def test_shipped_config_is_valid():
    settings = load_settings()
    assert {s.name for s in settings.sources} >= {"handbook"}
    assert settings.source("handbook").options.path.is_dir()
