"""Helpers for the Slack tests (fixtures live in conftest.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.answering.types import Answer, Citation
from bot.config import Settings, SlackConfig
from bot.slack.answerer import Answerer
from bot.slack.serve import HttpServer
from fake_slack import FakeSlack, Sender, all_text  # noqa: F401 - tests import all_text here


def with_slack(settings: Settings, **slack: Any) -> Settings:
    """A copy of `settings` with another `slack:` section (same data dir, same sources)."""
    return settings.model_copy(update={"slack": SlackConfig(**slack)})


class RecordingPipeline:
    """The real pipeline, with every call's arguments kept (to check scope and history)."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, []
        self._lock = threading.Lock()

    def answer(self, question: str, *, sources=None, history=()) -> Answer:
        with self._lock:
            self.calls.append({"question": question, "sources": set(sources or ()),
                               "history": list(history)})
        return self.inner.answer(question, sources=sources, history=history)


@dataclass
class StubPipeline:
    """Answers instantly with `text` citing `citations` (or raises `error`)."""

    text: str = "Reset the token at https://vpn.example/reset. [1]"
    citations: list[Citation] = field(default_factory=lambda: [Citation(
        n=1, source="handbook", source_id="it/vpn.md", title="VPN", passage="Reset the token.",
        url="https://wiki.brightwave.example/it/vpn.md",
        updated_at=datetime.now(timezone.utc) - timedelta(days=3))])
    error: Exception | None = None
    calls: list[dict] = field(default_factory=list)

    def answer(self, question: str, *, sources=None, history=()) -> Answer:
        self.calls.append({"question": question, "sources": set(sources or ()),
                           "history": list(history)})
        if self.error:
            raise self.error
        return Answer(question, text=self.text, draft=self.text, citations=list(self.citations),
                      index_updated_at=datetime.now(timezone.utc) - timedelta(minutes=5))


@dataclass
class Bot:
    fake: FakeSlack
    app: Any  # the Bolt App
    server: HttpServer | None  # only when started with http=True
    answerer: Answerer
    settings: Settings
    pipeline: Any

    @property
    def sender(self) -> Sender:
        """Signed requests to the server's /slack/events, or to the app in-process."""
        return Sender(self.server.url + "/slack/events" if self.server else self.app)

    def stop(self) -> None:
        if self.server:
            self.server.stop()
        self.answerer.close(wait=True)


def demo_config_copy(folder, settings: Settings):
    """config/ragbot.yaml rewritten for the test data dir (absolute paths, tone off), for CLI
    runs."""
    import yaml

    from bot.config import DEFAULT_CONFIG

    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["data_dir"] = str(settings.data_dir)
    data["tone"] = {"enabled": False}
    for source in data["sources"]:
        if "path" in source:
            source["path"] = str((DEFAULT_CONFIG.parent / source["path"]).resolve())
    path = folder / "ragbot.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
