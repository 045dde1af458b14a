"""Fixtures for the Slack tests.

- The demo wiki (public `handbook`, private `leadership`) is synced ONCE per session into a tmp
  data dir (`demo_settings`, tests/conftest.py), and ONE Pipeline (tone off) serves every
  scenario here that needs real answers.
- `bot_factory` builds the real Bolt app, its WebClient pointed at a loopback fake of the Slack
  Web API, and the tests send it signed requests in-process (`app.dispatch(BoltRequest)`, as
  bolt-python's own tests do); `http=True` puts the real HTTP server (waitress, 127.0.0.1, port
  0) in front, for the few end-to-end tests of the server itself (test_slack_serve.py).
  Everything it starts is stopped after the test.
- Tests about platform rules (dedupe, 429, limits, errors) may use `StubPipeline`, which answers
  instantly, so the suite stays fast on 2 cores; the user flows use the real pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import DEFAULT_CONFIG, Settings, load_settings
from bot.slack.answerer import Answerer
from bot.slack.app import build_app
from bot.slack.serve import HttpServer, make_client, wsgi_app
from fake_slack import SIGNING_SECRET, FakeSlack
from tests.slack.helpers import Bot

SLACK_ENV = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL",
             "RAGBOT_CONFIG", "RAGBOT_DATA_DIR")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SLACK_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def pipeline(demo_settings: Settings):
    """ONE warmed pipeline over the session's demo index (tests/conftest.py syncs it once), with
    the shipped config's abstention threshold, so "nothing relevant" and "only private sources
    match" happen as they do in production."""
    from bot.answering.pipeline import Pipeline

    shipped = load_settings(DEFAULT_CONFIG)
    settings = demo_settings.model_copy(update={"retrieval": shipped.retrieval})
    pipeline = Pipeline(settings)
    pipeline.warm_up()
    return pipeline


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def bot_factory(demo_settings: Settings, pipeline, fake_slack: FakeSlack):
    started: list[Bot] = []

    def start(settings: Settings | None = None, answers=None, fake: FakeSlack | None = None,
              http: bool = False, **answerer_kw: Any) -> Bot:
        settings = settings or demo_settings
        answers = answers if answers is not None else pipeline
        fake = fake or fake_slack
        client = make_client("xoxb-test-token", fake.base_url)
        answerer = Answerer(settings, answers, **answerer_kw)
        app = build_app(settings, answers, client, signing_secret=SIGNING_SECRET,
                        answerer=answerer)
        server = HttpServer(wsgi_app(app, settings, answerer), host="127.0.0.1",
                            port=0).start() if http else None
        bot = Bot(fake, app, server, answerer, settings, answers)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.stop()


@pytest.fixture
def bot(bot_factory) -> Bot:
    return bot_factory()
