"""Block action listeners: the feedback buttons under every answer."""

from slack_bolt import App

from bot.slack import ids
from bot.slack.listeners.actions.feedback import feedback


def register(app: App) -> None:
    for action_id in ids.VOTES:
        app.action(action_id)(feedback)
