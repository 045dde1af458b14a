"""Bolt listeners: one package per kind, each with `register(app)`, one callback per file."""

from slack_bolt import App

from bot.slack.listeners import actions, commands, events


def register(app: App) -> None:
    events.register(app)
    actions.register(app)
    commands.register(app)
