"""Shared fixtures: isolated env, a config file on disk (jobs refer to it), small folder sources."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Settings, load_settings
from bot.knowledge import scheduler

PAGES = {
    "expenses.md": "# Expenses\nExpense reports are due every Friday before noon.\n",
    "vpn.md": "# VPN\nThe VPN token is reset from the self-service portal.\n",
}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No Slack token, ragbot override or proxy of the developer's shell leaks into a test."""
    for name in list(os.environ):
        upper = name.upper()
        if upper.startswith(("SLACK_", "RAGBOT_")) or upper.endswith("_PROXY"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield
    for sched, _lease in list(scheduler._running.values()):  # a failed test must not leak one
        sched.shutdown(wait=True)


def write_pages(folder: Path, pages: dict[str, str] = PAGES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in pages.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Write `ragbot.yaml` into tmp_path and load it (scheduled jobs store the file's path).

    `sources` maps a name to its extra keys; each is a folder source under tmp_path/<name>.
    """

    def build(sources: dict[str, dict[str, Any]] | None = None, *, pages: bool = True,
              **sections: Any) -> Settings:
        sources = {"wiki": {"schedule": {"every": "30m"}}} if sources is None else sources
        entries = []
        for name, extra in sources.items():
            if pages and not (tmp_path / name).exists():
                write_pages(tmp_path / name)
            entries.append({"name": name, "type": "folder", "path": f"./{name}", **extra})
        data = {"data_dir": "data", "sources": entries,
                "index": {"collection": "knowledge"}, "tone": {"enabled": False}, **sections}
        path = tmp_path / "ragbot.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return load_settings(path)

    return build
