"""Failure alerts: once per streak to the admin channel (fake_slack's loopback Web API),
a recovery note when the source syncs again, the log when Slack is not configured."""

from __future__ import annotations

import logging
import shutil
import socket

import pytest

from bot.knowledge import alerts
from bot.knowledge.index import Index
from bot.knowledge.scheduler import run_scheduled_sync
from bot.knowledge.sync import source_lock
from tests.knowledge.conftest import write_pages
from fake_slack import FakeSlack


@pytest.fixture
def slack(monkeypatch):
    fake = FakeSlack().start()
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_API_URL", fake.base_url)
    yield fake
    fake.stop()


def scheduled_runs(settings, n: int) -> None:
    for _ in range(n):
        run_scheduled_sync(str(settings.config_path), "wiki")


@pytest.mark.slow  # syncs an index with the real embedding model
def test_one_alert_per_streak_and_a_recovery_note(make_settings, slack, tmp_path) -> None:
    settings = make_settings(slack={"admin_channel": "C0ADMIN"})
    shutil.rmtree(tmp_path / "wiki")  # every listing fails: the folder is gone

    scheduled_runs(settings, 2)
    assert slack.posts() == []  # 2 < alert_after_failures (3)
    scheduled_runs(settings, 4)  # the 3rd failure alerts; the 4th to 6th do not
    [alert] = slack.wait_posts(1, timeout=10)  # the fake records a call just after answering
    assert alert["channel"] == "C0ADMIN"
    assert "*wiki* failed 3 times in a row" in alert["text"]
    assert "does not exist" in alert["text"]  # the last error, from the connector
    assert slack.calls[0].headers["Authorization"] == "Bearer xoxb-test"
    assert alerts.outstanding(Index(settings).engine) == {"wiki"}

    write_pages(tmp_path / "wiki")
    scheduled_runs(settings, 2)  # recovers: one note, then silence while healthy
    posts = slack.wait_posts(2, timeout=10)
    assert len(posts) == 2 and "*wiki* synced again after 6 failed run(s)" in posts[1]["text"]
    assert alerts.outstanding(Index(settings).engine) == set()

    shutil.rmtree(tmp_path / "wiki")  # a new streak alerts again
    scheduled_runs(settings, 3)
    posts = slack.wait_posts(3, timeout=10)
    assert len(posts) == 3 and "failed 3 times" in posts[2]["text"]


def test_skipped_runs_neither_count_nor_break_a_streak(make_settings, slack, tmp_path) -> None:
    settings = make_settings(slack={"admin_channel": "#ops"},
                             scheduler={"alert_after_failures": 2})
    shutil.rmtree(tmp_path / "wiki")
    scheduled_runs(settings, 1)
    with source_lock(settings, "wiki"):
        scheduled_runs(settings, 5)  # locked elsewhere: skipped, no alert storm
    assert slack.posts() == []
    scheduled_runs(settings, 1)
    [alert] = slack.wait_posts(1, timeout=10)
    assert alert["channel"] == "#ops" and "failed 2 times" in alert["text"]


def test_a_slack_error_is_logged_and_retried_on_the_next_failure(make_settings, slack, tmp_path,
                                                                 caplog, monkeypatch) -> None:
    settings = make_settings(slack={"admin_channel": "C0ADMIN"},
                             scheduler={"alert_after_failures": 1})
    shutil.rmtree(tmp_path / "wiki")
    with socket.socket() as closed:  # a port nobody listens on: Slack unreachable
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("SLACK_API_URL", f"http://127.0.0.1:{port}/api/")
    with caplog.at_level(logging.ERROR, logger="ragbot.alerts"):
        scheduled_runs(settings, 1)
    assert "could not send the sync alert" in caplog.text
    assert alerts.outstanding(Index(settings).engine) == set()  # not marked as sent

    monkeypatch.setenv("SLACK_API_URL", slack.base_url)
    scheduled_runs(settings, 2)  # the next failure sends it; the one after does not repeat it
    [alert] = slack.wait_posts(1, "C0ADMIN", timeout=10)
    assert "failed 2 times in a row" in alert["text"]


def test_without_slack_the_alert_goes_to_the_log(make_settings, tmp_path, caplog) -> None:
    settings = make_settings(slack={"admin_channel": "C0ADMIN"},
                             scheduler={"alert_after_failures": 2})  # no SLACK_BOT_TOKEN
    shutil.rmtree(tmp_path / "wiki")
    with caplog.at_level(logging.INFO, logger="ragbot.alerts"):
        scheduled_runs(settings, 3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "failed 2 times in a row" in w]) == 1
    assert "SLACK_BOT_TOKEN is not set" in caplog.text
    assert alerts.outstanding(Index(settings).engine) == {"wiki"}


def test_ragbot_sync_raises_and_clears_alerts_like_scheduled_runs(make_settings, slack,
                                                                   tmp_path) -> None:
    """`ragbot sync` goes through Index.sync: its failures alert, its success recovers."""
    from typer.testing import CliRunner

    from bot.cli import app

    settings = make_settings(slack={"admin_channel": "C0ADMIN"})
    shutil.rmtree(tmp_path / "wiki")
    runner = CliRunner()
    for _ in range(3):
        result = runner.invoke(app, ["--config", str(settings.config_path), "sync"])
        assert result.exit_code == 1, result.output
    [alert] = slack.wait_posts(1, timeout=10)
    assert "*wiki* failed 3 times in a row" in alert["text"]
    assert alerts.outstanding(Index(settings).engine) == {"wiki"}

    write_pages(tmp_path / "wiki")
    result = runner.invoke(app, ["--config", str(settings.config_path), "sync"])
    assert result.exit_code == 0, result.output
    posts = slack.wait_posts(2, timeout=10)
    assert "*wiki* synced again after 3 failed run(s)" in posts[1]["text"]
    assert alerts.outstanding(Index(settings).engine) == set()
