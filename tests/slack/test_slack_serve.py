"""`ragbot serve`: clear exits on missing setup; the real entry point and the real HTTP server
(waitress) serve signed events and health end to end. The other Slack tests dispatch to the app
in-process; these are the ones that go through the socket."""

import json
import signal
import threading
import urllib.request

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.slack import serve
from fake_slack import SIGNING_SECRET, Sender
from fake_slack.signing import message
from tests.slack.helpers import all_text, demo_config_copy


def run_cli(args, tmp_path, demo_settings):
    config = demo_config_copy(tmp_path, demo_settings)
    result = CliRunner().invoke(cli, ["-c", str(config), *args])
    return result.exit_code, result.output + (result.stderr or "")


@pytest.mark.parametrize("args, env, missing", [
    (["serve"], {}, "SLACK_APP_TOKEN"),
    (["serve"], {"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN"),
    (["serve", "--http"], {}, "SLACK_BOT_TOKEN"),
    (["serve", "--http"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
])
def test_missing_tokens_exit_2_naming_the_variable(args, env, missing, monkeypatch, tmp_path,
                                                    demo_settings):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, output = run_cli(args, tmp_path, demo_settings)
    assert code == 2 and missing in output


def test_unknown_source_in_slack_config_exits_2(monkeypatch, demo_settings):
    from tests.slack.helpers import with_slack

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    settings = with_slack(demo_settings, channels={"C1": ["handbok"]})
    with pytest.raises(SystemExit) as exited:
        serve.serve_forever(settings, http=True, port=0)
    assert exited.value.code == 2


def test_rejected_bot_token_exits_2(monkeypatch, demo_settings, fake_slack, capsys):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-revoked")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_URL", fake_slack.base_url)
    fake_slack.token_valid = False
    with pytest.raises(SystemExit) as exited:
        serve.serve_forever(demo_settings, http=True, port=0)
    assert exited.value.code == 2 and "SLACK_BOT_TOKEN" in capsys.readouterr().err


def test_serve_forever_http_answers_and_reports_health(monkeypatch, demo_settings, fake_slack):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_URL", fake_slack.base_url)
    monkeypatch.setenv("RAGBOT_HEALTH_TOKEN", "health-secret")
    monkeypatch.setattr(signal, "signal", lambda *a: None)  # not on the main thread here
    servers = []

    class Captured(serve.HttpServer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            servers.append(self)

    monkeypatch.setattr(serve, "HttpServer", Captured)
    thread = threading.Thread(target=serve.serve_forever, args=(demo_settings,),
                              kwargs={"http": True, "port": 0}, daemon=True)
    thread.start()
    try:
        fake_slack.wait_for(lambda: servers, timeout=60)
        server = servers[0]
        assert server.url.startswith("http://127.0.0.1:")  # loopback unless --host says otherwise
        with urllib.request.urlopen(server.url + "/healthz", timeout=10) as response:
            assert json.load(response) == {"status": "ok"}  # no source names in public
        detailed = urllib.request.Request(server.url + "/healthz",
                                          headers={"Authorization": "Bearer health-secret"})
        with urllib.request.urlopen(detailed, timeout=10) as response:
            health = json.load(response)
        assert health["index"]["synced_at"] and health["index"]["age_s"] >= 0
        sender = Sender(server.url + "/slack/events")
        assert sender.event(message("how do I reset my VPN token?", channel="D0SERVE",
                                    channel_type="im")).status == 200
        [post] = fake_slack.wait_posts(1, "D0SERVE")
        assert "it/vpn.md" in all_text(post)
        unknown = urllib.request.Request(server.url + "/nope", method="GET")
        with pytest.raises(urllib.error.HTTPError) as not_found:
            urllib.request.urlopen(unknown, timeout=5)
        assert not_found.value.code == 404
    finally:
        for server in servers:
            server.stop()
        thread.join(15)
    assert not thread.is_alive()


def test_health_reports_index_freshness(bot_factory, monkeypatch):
    monkeypatch.setenv("RAGBOT_HEALTH_TOKEN", "tok")  # details only with the token
    bot = bot_factory(http=True)
    request = urllib.request.Request(bot.server.url + "/healthz",
                                     headers={"Authorization": "Bearer tok"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        body = json.load(response)
    assert body["status"] == "ok" and body["index"]["synced_at"]
    assert body["index"]["sources"]["handbook"]["pages"] > 30
    assert body["index"]["sources"]["leadership"]["visibility"] == "private"


def test_the_http_server_checks_signatures_and_acks_before_answering(bot_factory):
    from tests.slack.helpers import StubPipeline

    bot = bot_factory(answers=StubPipeline(), http=True)
    assert bot.sender.target.startswith("http://127.0.0.1:")
    forged = bot.sender.event(message("hi", channel="D0HTTP", channel_type="im"),
                              bad_signature=True)
    assert forged.status == 401
    reply = bot.sender.event(message("how do I reset my VPN token?", channel="D0HTTP",
                                     channel_type="im"))
    assert reply.status == 200 and reply.seconds < 1.0
    [post] = bot.fake.wait_posts(1, "D0HTTP")
    assert "vpn.example/reset" in all_text(post)
    assert [c["question"] for c in bot.pipeline.calls] == ["how do I reset my VPN token?"]
