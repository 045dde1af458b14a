"""Junk never reaches Bolt's parser, and /healthz tells the public only ok / not ok
(issue #17, items 6 and 8). Real HTTP into the real server."""

from __future__ import annotations

import http.client
import json
import logging
import urllib.request
from urllib.parse import urlsplit

from fake_slack.signing import post
from tests.slack.helpers import StubPipeline


def _raw_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", parts.path, body, {"Content-Type": "application/json", **headers})
        return conn.getresponse().status
    except (BrokenPipeError, ConnectionResetError):
        return 413  # the server stopped reading and closed: the body was refused
    finally:
        conn.close()


def _no_tracebacks(caplog) -> None:
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


def test_oversized_unsigned_and_junk_bodies_are_refused_before_parsing(bot_factory, caplog):
    bot = bot_factory(answers=StubPipeline(), http=True)
    url = bot.server.url + "/slack/events"
    caplog.set_level(logging.INFO)
    assert _raw_post(url, b"{" + b" " * (5 * 1024 * 1024), {}) == 413
    assert _raw_post(url, b'{"type": "url_verification", "challenge": "x"}', {}) == 401
    assert post(url, b"this is not json {", "application/json").status == 400  # signed
    assert post(url, b"\xff\xfe{}", "application/json").status == 400
    assert post(url, b"payload=%7Bnope", "application/x-www-form-urlencoded").status == 400
    refused = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refused) >= 4  # one line each (waitress answers the 5 MB one by itself)
    _no_tracebacks(caplog)
    # a good signed request still works
    good = post(url, json.dumps({"type": "url_verification", "challenge": "c1"}).encode(),
                "application/json")
    assert good.status == 200 and b"c1" in good.body


def test_healthz_is_ok_or_not_publicly_and_detailed_with_the_token(bot_factory, monkeypatch):
    bot = bot_factory(answers=StubPipeline(), http=True)
    with urllib.request.urlopen(bot.server.url + "/healthz", timeout=10) as response:
        assert json.load(response) == {"status": "ok"}
    monkeypatch.setenv("RAGBOT_HEALTH_TOKEN", "t0ken")
    wrong = urllib.request.Request(bot.server.url + "/healthz",
                                   headers={"Authorization": "Bearer nope"})
    with urllib.request.urlopen(wrong, timeout=10) as response:
        assert json.load(response) == {"status": "ok"}
    right = urllib.request.Request(bot.server.url + "/healthz",
                                   headers={"Authorization": "Bearer t0ken"})
    with urllib.request.urlopen(right, timeout=10) as response:
        detailed = json.load(response)
    assert "leadership" in detailed["index"]["sources"]  # the private source: token only
