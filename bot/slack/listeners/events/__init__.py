"""Event listeners: questions by @mention, in DMs, and follow-ups in threads the bot owns."""

from slack_bolt import App

from bot.slack.listeners.events.app_mention import app_mention
from bot.slack.listeners.events.message import message


def register(app: App) -> None:
    app.event("app_mention")(app_mention)
    # Every message event, subtypes included, is acknowledged here (an unhandled event gets a
    # 404 and Slack retries it); `incoming.question_from_message` decides what is a question.
    app.event("message")(message)
