from logging import Logger

from slack_bolt import Ack, BoltContext, Respond

from bot.slack.listeners.commands.ragvsft.reply import replace


def symptom_pick(ack: Ack, action: dict, respond: Respond, context: BoltContext,
                 logger: Logger) -> None:
    """A symptom picked: what to try first and what to try if that fails."""
    ack()
    replace(respond, context["ragvsft"].symptom(action.get("value")), logger)
