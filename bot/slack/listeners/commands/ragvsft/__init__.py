"""`/ragvsft`: the command and the buttons of its messages (walk, share, symptoms).

Needs `context["ragvsft"]` (a `bot.slack.ragvsft.Ragvsft`, put there by the app's middleware).
Every callback acks first: the command acks WITH its reply (Slack shows an ack body as an
ephemeral message, no Web API call needed), a click acks empty and then replaces the message
through the action's response_url, which is also how an ephemeral message is updated at all.
"""

import re

from slack_bolt import App

from bot.slack import ids
from bot.slack.listeners.commands.ragvsft.command import ragvsft_command
from bot.slack.listeners.commands.ragvsft.share import share_result
from bot.slack.listeners.commands.ragvsft.symptom import symptom_pick
from bot.slack.listeners.commands.ragvsft.symptom_share import share_symptom
from bot.slack.listeners.commands.ragvsft.symptoms import symptom_menu
from bot.slack.listeners.commands.ragvsft.walk import walk_click

COMMAND = "/ragvsft"
WALK_ACTIONS = re.compile(
    rf"^(?:{ids.RAGVSFT_ANSWER}_\d+|{ids.RAGVSFT_BACK}|{ids.RAGVSFT_RESTART})$")
SYMPTOM_ACTIONS = re.compile(rf"^{ids.RAGVSFT_SYMPTOM}_\d+$")


def register(app: App) -> None:
    app.command(COMMAND)(ragvsft_command)
    app.action(WALK_ACTIONS)(walk_click)
    app.action(ids.RAGVSFT_SHARE)(share_result)
    app.action(SYMPTOM_ACTIONS)(symptom_pick)
    app.action(ids.RAGVSFT_SYMPTOMS)(symptom_menu)
    app.action(ids.RAGVSFT_SYMPTOM_SHARE)(share_symptom)
