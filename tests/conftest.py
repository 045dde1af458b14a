"""Shared fixtures: an isolated environment for every test, and the demo wiki synced once.

The demo index is built once per test session (a real sync with the real embedding model into a
temporary data_dir) because embedding is the slow part; tests that change the index build their
own small one instead of touching this.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import REPO_ROOT, Settings, parse_settings

DEMO_WIKI = REPO_ROOT / "config" / "demo-wiki"
DEMO_PRIVATE = REPO_ROOT / "config" / "demo-private"
# Fixtures that load a real model (the embedding model syncing an index, a warmed pipeline): a
# test using one is `slow` without saying so, and `make test-fast` (-m "not slow") leaves it out.
MODEL_FIXTURES = {"demo_settings", "demo_pipeline", "pipeline", "synced_config"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def shared_cache_dir() -> Path:
    """Derived models (the embedding model's ONNX export, the tone model's ONNX export, the
    tone base model converted from its GGUF) kept between test sessions and shared by the
    pytest-xdist workers: outside the repository and the user's home, in the system temp folder
    ($RAGBOT_TEST_CACHE to move it). They are functions of installed weights, keyed by them,
    and written under a file lock, atomically (as in ~/.cache/ragbot for the product), so a
    session reuses them or builds them once, whichever worker comes first. Building them took
    ~70 s of every `make test`; no test asserts on a first build without making its own folder.
    """
    path = Path(os.environ.get("RAGBOT_TEST_CACHE")
                or Path(tempfile.gettempdir()) / f"ragbot-test-cache-{getpass.getuser()}")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session", autouse=True)
def _model_cache() -> Iterator[Path]:
    """The model cache (`shared_cache_dir()`) for the whole session, outside the user's home.

    Set for the whole session, not per test: session- and module-scoped fixtures (the demo
    index, a synced config) run before any per-test fixture, and must export into this same
    folder, or a later test pays for a second export (and the first lands in ~/.cache).
    """
    cache = shared_cache_dir() / "cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAGBOT_CACHE_DIR", str(cache))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield cache


@pytest.fixture(autouse=True)
def _isolated_ragbot_env(monkeypatch: pytest.MonkeyPatch, _model_cache: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("RAGBOT_", "SLACK_", "OPENAI_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("RAGBOT_CACHE_DIR", str(_model_cache))
    # Tables and messages are asserted on as printed: the same width in every run, whether
    # pytest's output is a terminal or not (a pytest-xdist worker's is not: rich's 80 columns).
    monkeypatch.setenv("COLUMNS", "200")


def demo_config(data_dir: Path) -> dict:
    return {
        "data_dir": str(data_dir),
        "tone": {"enabled": False},
        "sources": [
            {"name": "handbook", "type": "folder", "path": str(DEMO_WIKI),
             "url": "https://wiki.brightwave.example/{path}"},
            {"name": "leadership", "type": "folder", "path": str(DEMO_PRIVATE),
             "visibility": "private"},
        ],
    }


def _sync_demo(data_dir: Path) -> Settings:
    from bot.knowledge.sync import sync_source

    settings = parse_settings(demo_config(data_dir), REPO_ROOT)
    for source in settings.sources:
        result = sync_source(settings, source.name)
        assert result.ok, result.error
    return settings


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Settings:
    """Settings over the bundled demo wiki (+ the private demo source), synced, tone off.

    Under pytest-xdist the first worker to need it syncs it once for the run (into the run's
    shared temp folder, under a lock) and every worker copies that folder: one sync per run,
    not one per worker, and no two processes share a data_dir.
    """
    import shutil

    from filelock import FileLock

    data_dir = tmp_path_factory.mktemp("demo-index")
    if worker_id == "master":  # not under xdist
        return _sync_demo(data_dir)
    shared = tmp_path_factory.getbasetemp().parent / "demo-index"  # this run's, all workers'
    with FileLock(f"{shared}.lock"):
        if not (shared / ".synced").exists():
            _sync_demo(shared)
            (shared / ".synced").touch()
        shutil.copytree(shared, data_dir, dirs_exist_ok=True)
    return parse_settings(demo_config(data_dir), REPO_ROOT)


@pytest.fixture(scope="session")
def demo_pipeline(demo_settings: Settings):
    from bot.answering.pipeline import Pipeline

    return Pipeline(demo_settings)


# -- real servers for the scale-out tests (tests/servers.py) ----------------------------------------

def _server(env: str, server, what: str):
    """The URL in `env` (.ci/run), else `server` started here and stopped after the session."""
    from tests.servers import unavailable

    url = os.environ.get(env)
    if url:
        yield url
        return
    try:
        url = server.start()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        server.stop()
        unavailable(f"{what} could not be started: {exc}")
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """URL of a PostgreSQL server: TEST_POSTGRES_URL (.ci/run), else one started here."""
    from tests.servers import Postgres

    yield from _server("TEST_POSTGRES_URL", Postgres(), "PostgreSQL")


@pytest.fixture
def postgres_url(postgres_server: str, request: pytest.FixtureRequest):
    """A fresh, empty database on the server for one test, dropped after it."""
    import re
    import uuid

    from tests.servers import create_database, drop_database

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:6]
    url = create_database(postgres_server, name)
    yield url
    drop_database(postgres_server, name)


@pytest.fixture(scope="session")
def chroma_server_url(tmp_path_factory: pytest.TempPathFactory):
    """URL of a `chroma run` server: TEST_CHROMA_URL (.ci/run), else one started here."""
    from tests.servers import Chroma

    yield from _server("TEST_CHROMA_URL", Chroma(tmp_path_factory.mktemp("chroma") / "data"),
                       "the chroma server")
