from logging import Logger

from slack_bolt import Ack, BoltContext, Respond

from bot.slack.listeners.commands.ragvsft.reply import replace


def walk_click(ack: Ack, action: dict, respond: Respond, context: BoltContext,
               logger: Logger) -> None:
    """An answer, Back or Start over: the button's value is the signed state to show next."""
    ack()
    replace(respond, context["ragvsft"].screen(action.get("value")), logger)
