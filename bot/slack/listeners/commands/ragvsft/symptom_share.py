from logging import Logger

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot.slack.listeners.commands.ragvsft.reply import post_visibly, replace


def share_symptom(ack: Ack, body: dict, action: dict, client: WebClient, respond: Respond,
                  context: BoltContext, logger: Logger) -> None:
    """Post what to try for a symptom in the channel, naming who asked."""
    ack()
    kit, value = context["ragvsft"], action.get("value")
    post = kit.shared_symptom(value, body["user"]["id"])
    if post is None:
        replace(respond, kit.symptom(value), logger)  # unknown symptom: the list, with a notice
    elif post_visibly(client, respond, body, post, logger):
        replace(respond, kit.symptom(value, shared=True), logger)
