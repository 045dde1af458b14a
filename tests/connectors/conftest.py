from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Connector, ConnectorContext
from connectors.registry import connector_class
from fake_sources import FakeServer

_CREDENTIAL_HINTS = ("TOKEN", "SECRET", "PASSWORD", "EMAIL", "CONFLUENCE", "NOTION", "GITHUB")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credential, proxy or git setting of the developer's shell leaks into a test."""
    for name in list(os.environ):
        upper = name.upper()
        if (any(h in upper for h in _CREDENTIAL_HINTS) or upper.endswith("_PROXY")
                or upper.startswith(("GIT_", "RAGBOT_"))):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.com")


@pytest.fixture
def serve() -> Iterator[Callable[[FakeServer], Any]]:
    """Start a fake server for this test; every one started is stopped afterwards."""
    started: list[FakeServer] = []

    def start(fake: FakeServer) -> Any:
        started.append(fake.start())
        return fake

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def connect(tmp_path: Path) -> Callable[..., Connector]:
    """Build a connector as a sync would: registry type -> Options validated from YAML keys."""

    def build(type_name: str, **options: Any) -> Connector:
        cls = connector_class(type_name)
        opts = cls.Options.model_validate(options, context={"base_dir": tmp_path})
        return cls(opts, ConnectorContext("wiki", tmp_path / "state" / "wiki", os.environ))

    return build


@pytest.fixture
def fake_embeddings(monkeypatch: pytest.MonkeyPatch):
    """LangChain's deterministic fake embedding in place of the model (big-source sync tests
    measure the sync, not the model; the record manager and Chroma stay the real ones)."""
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from bot.knowledge import vectors

    fake = DeterministicFakeEmbedding(size=32)
    monkeypatch.setattr(vectors, "embeddings", lambda settings: fake)
    return fake
