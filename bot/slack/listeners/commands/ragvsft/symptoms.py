from logging import Logger

from slack_bolt import Ack, BoltContext, Respond

from bot.slack.listeners.commands.ragvsft.reply import replace


def symptom_menu(ack: Ack, respond: Respond, context: BoltContext, logger: Logger) -> None:
    """Start over in symptom mode: the symptom list again."""
    ack()
    replace(respond, context["ragvsft"].symptom_menu(), logger)
