from logging import Logger

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot.slack.listeners.commands.ragvsft.reply import post_visibly, replace


def share_result(ack: Ack, body: dict, action: dict, client: WebClient, respond: Respond,
                 context: BoltContext, logger: Logger) -> None:
    """Post the finished walk in the channel, naming who ran it; the private copy then says it
    was shared. A value that is not a finished walk (edited, stale) starts over with a notice."""
    ack()
    kit, value = context["ragvsft"], action.get("value")
    post = kit.shared_result(value, body["user"]["id"])
    if post is None:
        replace(respond, kit.screen(value), logger)
    elif post_visibly(client, respond, body, post, logger):
        replace(respond, kit.screen(value, shared=True), logger)
