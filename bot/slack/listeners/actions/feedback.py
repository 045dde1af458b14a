from logging import Logger

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot import records as store
from bot.slack import blocks, ids


def feedback(ack: Ack, body: dict, action: dict, context: BoltContext, client: WebClient,
             logger: Logger) -> None:
    """A thumbs up/down: stored with the question, answer and citations; the voter is thanked
    privately (an ephemeral message), so a vote never adds noise to the thread."""
    ack()
    vote = ids.VOTES[action["action_id"]]
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get("channel_id")
    engine = context["answerer"].engine
    record = store.get_answer(engine, action.get("value") or "")
    if record is None:
        text = blocks.UNKNOWN_ANSWER
    else:
        store.record_vote(engine, record, user, vote)
        text = blocks.vote_thanks(vote)
        logger.info("vote %s on answer %s by %s", vote, record.id, user)
    if channel:
        thread_ts = (body.get("message") or {}).get("thread_ts")
        client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
