"""Sending /ragvsft screens: replacing the private message, and posting a result visibly."""

from __future__ import annotations

from logging import Logger

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import Message
from bot.slack.ragvsft.blocks import share_failed_message

# chat.postMessage errors that mean "the bot may not post here" (not a member of the channel, or
# a DM between other people), where the click's response_url can still post visibly.
NOT_A_MEMBER = {"not_in_channel", "channel_not_found"}


def replace(respond: Respond, message: Message, logger: Logger) -> bool:
    """Replace the message the button was on (via the action's response_url)."""
    try:
        response = respond(replace_original=True, **message)
    except Exception:  # network: the person can click again; nothing to clean up
        logger.exception("ragvsft: response_url call failed")
        return False
    if response.status_code != 200:
        logger.warning("ragvsft: response_url answered %s: %s", response.status_code,
                       response.body)
        return False
    return True


def _channel(body: dict) -> str | None:
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")


def post_visibly(client: WebClient, respond: Respond, body: dict, post: Message,
                 logger: Logger) -> bool:
    """Post `post` for everyone in the conversation of the click: chat.postMessage first (a real
    message from the bot), the response_url with `in_channel` where the bot is not a member.
    When neither works the person is told why, privately. True when posted."""
    channel = _channel(body)
    error = "channel_not_found"
    if channel:
        try:
            client.chat_postMessage(channel=channel, **post)
            return True
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "unknown_error")
            logger.info("ragvsft: chat.postMessage in %s failed: %s", channel, error)
    if error in NOT_A_MEMBER:
        try:
            response = respond(response_type="in_channel", replace_original=False, **post)
            if response.status_code == 200:
                return True
            error = f"response_url answered {response.status_code}"
        except Exception as exc:  # network
            error = type(exc).__name__
    logger.warning("ragvsft: could not share in %s: %s", channel, error)
    try:
        respond(response_type="ephemeral", replace_original=False, **share_failed_message(error))
    except Exception:
        logger.exception("ragvsft: could not tell the person the share failed")
    return False
