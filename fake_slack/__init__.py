"""Loopback fakes of Slack for tests and benchmarks: Web API, Socket Mode, signed senders."""

from fake_slack.signing import SIGNING_SECRET, Sender
from fake_slack.socket_mode import FakeSocketMode
from fake_slack.web_api import BOT_ID, BOT_USER_ID, TEAM_ID, FakeSlack, all_text

__all__ = ["BOT_ID", "BOT_USER_ID", "TEAM_ID", "SIGNING_SECRET", "FakeSlack", "FakeSocketMode",
           "Sender", "all_text"]
