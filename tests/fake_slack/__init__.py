"""Loopback fakes of Slack for tests and benchmarks: Web API, Socket Mode, signed senders."""

from tests.fake_slack.signing import SIGNING_SECRET, Sender
from tests.fake_slack.socket_mode import FakeSocketMode
from tests.fake_slack.web_api import BOT_ID, BOT_USER_ID, TEAM_ID, FakeSlack

__all__ = ["BOT_ID", "BOT_USER_ID", "TEAM_ID", "SIGNING_SECRET", "FakeSlack", "FakeSocketMode",
           "Sender"]
