"""The real tone model for the slow tests: a session data dir over the test cache's base model,
the settings over it, and the held-out pairs they rewrite."""

from __future__ import annotations

from pathlib import Path

import pytest
from filelock import FileLock

from bot.config import REPO_ROOT, Settings, parse_settings
from bot.tone.model import ensure_base_model
from tests.conftest import shared_cache_dir

HELDOUT = REPO_ROOT / "prompts" / "tone" / "heldout.jsonl"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session data dir whose base model is the test cache's (converted once per machine;
    the lock makes it once for all xdist workers too). What the tests write stays in tmp."""
    with FileLock(shared_cache_dir() / "tone-data.lock"):
        base = ensure_base_model(shared_cache_dir() / "tone-data")
    data = tmp_path_factory.mktemp("tone-data")
    (data / "models").mkdir()
    (data / "models" / base.name).symlink_to(base, target_is_directory=True)
    return data


def tone_settings(data_dir: Path, tmp_path: Path, **tone) -> Settings:
    return parse_settings({"data_dir": str(data_dir), "tone": tone}, tmp_path)
