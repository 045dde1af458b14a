from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.answering.types import Passage
from bot.config import Settings, parse_settings
from tests.hosted.fake_openai import FakeOpenAI

KEY_ENV = "RAGBOT_TEST_LLM_KEY"
KEY = "sk-test-0123456789"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, endpoint or proxy of the developer's shell leaks into a test."""
    for name in list(os.environ):
        upper = name.upper()
        if upper.startswith(("OPENAI_", "RAGBOT_")) or upper.endswith("_PROXY"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings as `ragbot.yaml` would give them: a tmp folder source plus the given sections."""
    (tmp_path / "wiki").mkdir(exist_ok=True)

    def build(**sections: Any) -> Settings:
        data = {"data_dir": "data",
                "sources": [{"name": "wiki", "type": "folder", "path": "wiki"}], **sections}
        return parse_settings(data, tmp_path)

    return build


def passage(n: int, title: str, text: str, dense: float = 0.6) -> Passage:
    return Passage(id=f"wiki:{n}", source="wiki", source_id=f"it/{title.lower()}.md", title=title,
                   url=f"https://wiki.example/it/{title.lower()}", headings="Policy", text=text,
                   dense=dense)


@pytest.fixture
def passages() -> list[Passage]:
    return [
        passage(1, "Loaners", "IT keeps loaner laptops for repairs. Ask at the IT desk on floor 3."),
        passage(2, "Laptops", "Laptops are replaced every 3 years. The replacement is ordered "
                              "by IT in the month the laptop turns three."),
        passage(3, "VPN", "The VPN token is reset in the self-service portal."),
    ]


def fake_embed(texts: list[str]) -> list[np.ndarray]:
    """Bag-of-words hashed into 256 dims, normalised: enough for the extractive composer."""
    out = []
    for text in texts:
        vector = np.zeros(256, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            vector[zlib.crc32(word.encode()) % 256] += 1.0
        out.append(vector / (np.linalg.norm(vector) or 1.0))
    return out
