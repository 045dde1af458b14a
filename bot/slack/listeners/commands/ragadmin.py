"""`/ragadmin`: admins resync and inspect sources (bot/slack/admin/handler.py has the flow).

The command gets its `Admin` from a listener middleware of its own (`provide_admin`), so it
needs nothing from the app's composition root beyond the Answerer it already provides.
"""

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.slack.admin.handler import provide_admin

COMMAND = "/ragadmin"


def ragadmin(ack: Ack, command: dict, context: BoltContext, client: WebClient) -> None:
    """Acks within milliseconds (with the reply when it needs no I/O); see `Admin.handle`."""
    # The signed payload's user_id, never anything in the text.
    context["ragadmin"].handle(ack, command, client, context.user_id or command["user_id"])


def register(app: App) -> None:
    app.command(COMMAND, middleware=[provide_admin()])(ragadmin)
