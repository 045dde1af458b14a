from logging import Logger

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.slack.incoming import question_from_mention


def app_mention(body: dict, event: dict, context: BoltContext, client: WebClient,
                logger: Logger) -> None:
    """`@ragbot how do I ...` in a channel: answered in a thread under the question.

    Runs after Bolt's automatic ack; `take` only claims, reacts and queues.
    """
    question = question_from_mention(event, context.bot_user_id)
    if question is None:
        logger.debug("app_mention ignored (from a bot or not a plain message)")
        return
    context["answerer"].take(question, client, body.get("event_id"))
