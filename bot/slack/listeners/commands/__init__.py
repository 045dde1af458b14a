"""Slash commands: one package or module per command, each with `register(app)`.

A command registers the buttons of the messages it posts with itself (they are its
continuation), which keeps actions/ to the answer buttons.
"""

from slack_bolt import App

from bot.slack.listeners.commands import ragadmin, ragvsft


def register(app: App) -> None:
    ragvsft.register(app)
    ragadmin.register(app)
