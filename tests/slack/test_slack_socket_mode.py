"""Socket Mode: the same app over a (loopback) websocket; the envelope is acked, then answered."""

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.slack.answerer import Answerer
from bot.slack.app import build_app
from bot.slack.serve import make_client
from fake_slack import FakeSocketMode
from fake_slack.signing import event_callback, mention
from tests.slack.helpers import all_text


def test_socket_mode_envelope_is_acked_and_answered(demo_settings, pipeline, fake_slack):
    socket = FakeSocketMode().start()
    fake_slack.socket_url = socket.url
    answerer = Answerer(demo_settings, pipeline)
    app = build_app(demo_settings, pipeline, make_client("xoxb-test", fake_slack.base_url),
                    answerer=answerer)  # no signing secret: Socket Mode needs none
    handler = SocketModeHandler(app, app_token="xapp-1-A0RAGBOT-test")
    try:
        handler.connect()
        socket.wait_connected()
        event = mention("how do I reset my VPN token?", channel="C0SOCKET")
        socket.send({"envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf", "type": "events_api",
                     "accepts_response_payload": False, "retry_attempt": 0, "retry_reason": "",
                     "payload": event_callback(event)})
        ack = socket.wait_ack("57d6a792-4d35-4d0b-b6aa-3361493e1caf")
        assert set(ack) <= {"envelope_id", "payload"}
        [post] = fake_slack.wait_posts(1, "C0SOCKET")
        assert post["thread_ts"] == event["ts"] and "it/vpn.md" in all_text(post)
        opened = fake_slack.calls_to("apps.connections.open")
        assert opened and opened[0].headers["Authorization"] == "Bearer xapp-1-A0RAGBOT-test"
    finally:
        handler.close()
        answerer.close()
        socket.stop()
