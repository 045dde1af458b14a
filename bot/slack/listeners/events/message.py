from logging import Logger

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.slack.incoming import question_from_message


def message(body: dict, event: dict, context: BoltContext, client: WebClient,
            logger: Logger) -> None:
    """A DM to the bot, or a reply in a thread it owns; everything else is ignored.

    Runs after Bolt's automatic ack; `take` only claims, reacts and queues.
    """
    question = question_from_message(event, context.bot_user_id)
    if question is None:
        return
    context["answerer"].take(question, client, body.get("event_id"))
