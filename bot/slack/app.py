"""The Bolt app: built from settings, a pipeline and a WebClient; registers listeners, nothing else.

`process_before_response=False`: Bolt acks events before their listener runs, and the listeners
hand questions to the `Answerer` (bot/slack/answerer.py explains the threading model).
"""

from __future__ import annotations

import logging

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.answering.pipeline import Pipeline
from bot.config import Settings
from bot.slack import listeners
from bot.slack.answerer import Answerer
from bot.slack.ragvsft.handler import Ragvsft


def build_app(settings: Settings, pipeline: Pipeline, client: WebClient | None = None, *,
              signing_secret: str | None = None, answerer: Answerer | None = None) -> App:
    """`signing_secret=None` turns request verification off: only for Socket Mode."""
    answerer = answerer or Answerer(settings, pipeline)
    # /ragvsft: tree loaded and validated now (TreeError stops start-up); states signed with
    # the signing secret (bot/slack/ragvsft/handler.py says what Socket Mode uses).
    ragvsft = Ragvsft.load(settings, signing_secret, client.token if client else None)
    app = App(client=client, signing_secret=signing_secret or "",
              request_verification_enabled=signing_secret is not None,
              process_before_response=False, logger=logging.getLogger("ragbot.slack.bolt"))

    @app.middleware
    def provide_answerer(context: BoltContext, next) -> None:  # noqa: A002 (Bolt's name)
        context["answerer"] = answerer
        context["ragvsft"] = ragvsft
        next()

    listeners.register(app)
    return app
