"""/ragadmin's pure parts and small machines: parser, builders, admin cache, progress throttle,
response_url budget and fallback, resync bookkeeping (no Bolt app, no index)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import AdminsConfig, parse_settings
from bot.knowledge.status import SourceStatus
from bot.knowledge.sync import SyncResult
from bot.slack.admin import blocks as admin_blocks
from bot.slack.admin import resync as admin_resync
from bot.slack.admin.auth import AdminCheck
from bot.slack.admin.blocks import Outcome
from bot.slack.admin.commands import (Help, History, Pause, Resume, Resync, Sources, Status,
                                      UsageError, parse)
from bot.slack.admin.resync import ProgressThrottle, Responder, ResyncJob, Resyncs
from tests.slack.helpers import all_text

SOURCES = ["handbook", "leadership", "Eng-Docs"]
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


# -- parser -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("", Help()),
    ("   ", Help()),
    ("help", Help()),
    ("HELP", Help()),
    ("status", Status()),
    ("sources", Sources()),
    ("resync handbook", Resync(("handbook",))),
    ("resync handbook --full", Resync(("handbook",), full=True)),
    ("resync --full handbook", Resync(("handbook",), full=True)),
    ("resync handbook \u2014full", Resync(("handbook",), full=True)),  # em dash from Slack
    ("resync handbook \u2013full", Resync(("handbook",), full=True)),  # en dash
    ("Resync ALL", Resync(tuple(SOURCES), all=True)),
    ("resync all --FULL", Resync(tuple(SOURCES), full=True, all=True)),
    ("resync eng-docs", Resync(("Eng-Docs",))),  # unique case-insensitive match
    ("pause handbook", Pause("handbook")),
    ("resume  leadership ", Resume("leadership")),
    ("history Eng-Docs", History("Eng-Docs")),
])
def test_parse_commands(text, expected):
    assert parse(text, SOURCES) == expected


@pytest.mark.parametrize("text, message, usage", [
    ("status now", "`status` takes no arguments", "/ragadmin status"),
    ("help me", "`help` takes no arguments", "/ragadmin help"),
    ("resync", "`resync`: name a source, or `all`", "/ragadmin resync <source|all> [--full]"),
    ("resync --full", "`resync`: name a source, or `all`",
     "/ragadmin resync <source|all> [--full]"),
    ("resync handbook leadership", "`resync`: name one source, or `all`",
     "/ragadmin resync <source|all> [--full]"),
    ("resync handbook --ful", "unknown option `--ful` (the only option is `--full`)",
     "/ragadmin resync <source|all> [--full]"),
    ("pause", "`pause`: name one source", "/ragadmin pause <source>"),
    ("pause handbook leadership", "`pause`: name only one source", "/ragadmin pause <source>"),
    ("resume --full", "`resume`: name one source", "/ragadmin resume <source>"),
    ("history", "`history`: name one source", "/ragadmin history <source>"),
    ("frobnicate handbook", "there is no `frobnicate` command", None),
])
def test_parse_usage_errors(text, message, usage):
    result = parse(text, SOURCES)
    assert result == UsageError(message, usage)


def test_parse_unknown_source_lists_known_ones():
    result = parse("resync handbok", SOURCES)
    assert result == UsageError("there is no source named `handbok`",
                                "/ragadmin resync <source|all> [--full]", tuple(SOURCES))
    assert parse("pause x", ["a", "A"]).known_sources == ("a", "A")  # ambiguous case: unknown
    assert parse("pause A", ["a", "A"]) == Pause("A")


# -- builders -----------------------------------------------------------------------------------

def row(**kw) -> SourceStatus:
    base = dict(name="handbook", type="folder", visibility="public", enabled=True, health="ok",
                schedule="every 30m", paused=False, syncing=False,
                next_run=NOW + timedelta(minutes=12), last_success=NOW - timedelta(hours=3),
                last_run=NOW - timedelta(hours=3), last_run_status="ok", last_error=None,
                last_error_at=None, failures_in_row=0, alerted=False, documents=42, chunks=310,
                stale_s=3 * 3600.0)
    return SourceStatus(**{**base, **kw})


def test_status_lines():
    message = admin_blocks.status_message([row()], scheduler_running=True, now=NOW)
    assert all_text(message).splitlines()[-1] == (
        ":large_green_circle: *handbook* — ok · last sync 3 hours ago · 42 documents, 310 chunks"
        " · next run in 12 minutes")
    failing = row(name="wiki", health="failing", failures_in_row=3,
                  last_error="ConnectorError: <https://x|login> failed & @channel was told",
                  last_error_at=NOW - timedelta(minutes=10), last_success=None, next_run=None)
    text = all_text(admin_blocks.status_message([failing], scheduler_running=False, now=NOW))
    assert ":red_circle: *wiki* — failing (3× in a row) · never synced" in text
    assert "last error 10 minutes ago: ConnectorError: login (https://x) failed &amp; " \
           "@\u2060channel was told" in text
    assert "next run: not planned" in text and "The scheduler is not running" in text
    assert "schedule paused" in all_text(admin_blocks.status_message(
        [row(paused=True, health="paused")], scheduler_running=True, now=NOW))
    assert "on demand only" in all_text(admin_blocks.status_message(
        [row(schedule=None, next_run=None)], scheduler_running=False, now=NOW))
    assert "No sources are configured" in all_text(
        admin_blocks.status_message([], scheduler_running=True))
    fetched = all_text(admin_blocks.status_message([row(last_fetched=3)],
                                                   scheduler_running=True, now=NOW))
    assert "42 documents, 310 chunks, 3 fetched by the last sync · next run" in fetched


def test_builders_stay_within_slack_limits():
    many = [row(name=f"source{i}", last_error="x" * 2000, last_error_at=NOW) for i in range(400)]
    message = admin_blocks.status_message(many, scheduler_running=True, now=NOW)
    assert len(message["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in message["blocks"])
    assert "`ragbot status` lists all" in message["blocks"][-1]["text"]["text"]
    assert len(message["text"]) <= 3000


def test_sources_and_where_used():
    settings = parse_settings({
        "sources": [
            {"name": "handbook", "type": "folder", "path": "/tmp", "schedule": {"every": "2h"}},
            {"name": "leadership", "type": "folder", "path": "/tmp", "visibility": "private"},
            {"name": "old", "type": "folder", "path": "/tmp", "enabled": False}],
        "slack": {"channels": {"C0LEADS": ["leadership", "*"], "#eng": ["handbook"]},
                  "default_sources": [], "dm_sources": {"default": ["*"],
                                                        "users": {"U0CEO": ["leadership"]}}},
        "scheduler": {"timezone": "Europe/Berlin"}}, base_dir=None)
    text = all_text(admin_blocks.sources_message(settings))
    assert ("*handbook* · folder · public · every 2h, jitter 60s (Europe/Berlin)\n"
            "      used in: <#C0LEADS>, #eng, DMs") in text
    assert ("*leadership* · folder · private · on demand only\n      used in: <#C0LEADS>, DMs of "
            "`U0CEO` (private: never in public channels)") in text
    assert "*old* · folder · public · on demand only · *disabled*\n      used in: nowhere" in text


def test_history_and_resync_messages():
    runs = [{"id": 7, "trigger": "admin", "full": True, "status": "ok", "added": 1, "updated": 2,
             "deleted": 3, "started_at": NOW - timedelta(minutes=5),
             "finished_at": NOW - timedelta(minutes=5) + timedelta(seconds=4.2)},
            {"id": 6, "trigger": "schedule", "full": False, "status": "failed",
             "error": "boom <!here>", "started_at": NOW - timedelta(hours=1),
             "finished_at": NOW - timedelta(hours=1)}]
    text = all_text(admin_blocks.history_message("handbook", runs, now=NOW))
    assert "`#7` 5 minutes ago · ok · admin, full · 4.2 s · 1 added, 2 updated, 3 deleted" in text
    assert "`#6` 1 hour ago · failed · schedule · 0.0 s · boom @\u2060here" in text
    assert "has no sync runs yet" in all_text(admin_blocks.history_message("x", [], now=NOW))

    ok = SyncResult("handbook", ok=True, added=1, updated=2, deleted=3, skipped=4,
                    chunks_embedded=9, chunks_deleted=5, duration_s=2.5)
    failed = SyncResult("wiki", ok=False, error="ConnectorError: 401 from https://wiki",
                        duration_s=1)
    one = all_text(admin_blocks.resync_finished([Outcome("handbook", ok)], False, 2.6))
    assert one.startswith(":white_check_mark: Resync of *handbook* done in 2.5 s: 1 added, "
                          "2 updated, 3 deleted.")
    assert "4 unchanged; 9 chunks embedded, 5 removed" in one
    both = all_text(admin_blocks.resync_finished(
        [Outcome("handbook", ok), Outcome("wiki", failed), Outcome("notes", busy=True),
         Outcome("x", error_id="abc123")], True, 75))
    assert both.startswith(":warning: Full resync of 4 sources done in 1 minute; 3 did not succeed")
    assert ":x: *wiki* failed after 1.0 s: ConnectorError: 401 from https://wiki" in both
    assert "*notes*: already syncing elsewhere" in both and "`abc123`" in both
    progress = all_text(admin_blocks.resync_progress(("handbook", "wiki"), False,
                                                     [Outcome("handbook", ok)], "wiki", 30, 120, 6))
    assert "Resyncing 2 sources… 6.0 s so far" in progress
    assert "*wiki*: embedding 30/120 chunks (25%)" in progress
    queued = all_text(admin_blocks.resync_started(["wiki"], False, ["handbook"], ["notes"]))
    assert queued.startswith(":hourglass: Resync of *wiki* queued: it starts when the resync "
                             "of *handbook* is done.")
    assert "*notes* is already syncing; not started again." in queued


def test_help_lists_every_command_with_escaped_placeholders():
    text = all_text(admin_blocks.help_message())
    assert "`/ragadmin resync &lt;source|all&gt; [--full]` — sync now" in text
    assert "<" not in text and text.count("`/ragadmin ") == 7


def test_usage_and_refusal_messages_name_what_to_fix():
    text = all_text(admin_blocks.usage_message(parse("pause nope", SOURCES)))
    assert text.startswith(":pencil2: There is no source named `nope`.")
    assert "Configured sources: *handbook*, *leadership*, *Eng-Docs*" in text
    assert "Usage: `/ragadmin pause &lt;source&gt;`" in text
    assert "Commands: `help`, `status`" in all_text(admin_blocks.usage_message(parse("x", [])))
    refused = all_text(admin_blocks.refused_message("U0BOB", "could not check: ratelimited"))
    assert "only for ragbot's admins (could not check: ratelimited). Nothing was run." in refused


# -- admin check --------------------------------------------------------------------------------

class UsersClient:
    def __init__(self, users=None, error=None):
        self.users, self.error, self.calls = users or {}, error, []

    def users_info(self, user):
        self.calls.append(user)
        if self.error:
            raise SlackApiError("failed", {"ok": False, "error": self.error})
        return {"user": {"id": user, **self.users.get(user, {})}}


def test_admin_check_config_workspace_roles_and_cache():
    clock = [0.0]
    check = AdminCheck(AdminsConfig(users=["U0CFG"], workspace_admins=True), ttl_s=300,
                       clock=lambda: clock[0])
    client = UsersClient({"U0ADM": {"is_admin": True}, "U0OWN": {"is_primary_owner": True},
                          "U0GONE": {"is_admin": True, "deleted": True}})
    assert check.known("U0CFG").allowed and check.known("U0CFG").via == "config"
    assert check.known("U0ADM") is None  # needs users.info
    assert check.check(client, "U0ADM").via == "workspace admin"
    assert check.check(client, "U0OWN").via == "workspace owner"
    assert not check.check(client, "U0GONE").allowed
    assert not check.check(client, "U0BOB").allowed
    assert check.known("U0ADM").allowed and check.known("U0BOB").allowed is False  # cached
    calls = len(client.calls)
    clock[0] = 299
    check.check(client, "U0ADM")
    assert len(client.calls) == calls
    clock[0] = 301  # expired: asked again (a demoted admin loses access within the TTL)
    client.users["U0ADM"] = {"is_admin": False}
    assert not check.check(client, "U0ADM").allowed and len(client.calls) == calls + 1


def test_admin_check_fails_closed_and_does_not_cache_failures():
    check = AdminCheck(AdminsConfig(workspace_admins=True))
    failing = UsersClient(error="missing_scope")
    decision = check.check(failing, "U0ADM")
    assert not decision.allowed and "missing_scope" in decision.reason
    assert check.known("U0ADM") is None
    assert check.check(UsersClient({"U0ADM": {"is_admin": True}}), "U0ADM").allowed
    off = AdminCheck(AdminsConfig(users=["U0CFG"]))  # workspace_admins off: never asks Slack
    assert off.known("U0ADM").allowed is False


# -- progress, response_url budget, resync bookkeeping ------------------------------------------

def test_progress_throttle_quarters_and_interval():
    clock = [0.0]
    throttle = ProgressThrottle(3, min_interval_s=2, clock=lambda: clock[0])
    assert not throttle.due(0.9)  # too soon after the start message
    clock[0] = 2.0
    assert throttle.due(0.3) and not throttle.due(0.31)  # 2 s apart at least
    clock[0] = 10.0
    assert not throttle.due(0.45)  # next quarter not reached
    assert throttle.due(0.5)
    clock[0] = 20.0
    assert throttle.due(0.99) and throttle.sent == 3
    clock[0] = 40.0
    assert not throttle.due(1.0)  # budget spent
    assert not ProgressThrottle(0, clock=lambda: 100.0).due(1.0)


def test_responder_keeps_a_use_for_the_final_reply_then_falls_back(fake_slack):
    client = WebClient(token="xoxb-test", base_url=fake_slack.base_url)
    responder = Responder(fake_slack.response_url("budget"), client, "C0GENERAL", "U0ADMIN")
    message = {"text": "hi", "blocks": []}
    assert all(responder.send(message, replace=True) for _ in range(4))
    assert not responder.send(message)  # the last use is kept for the result
    assert responder.send(message, final=True)
    assert len(fake_slack.wait_responses(5)) == 5
    assert all(r["response_type"] == "ephemeral" for r in fake_slack.responses())
    assert responder.send(message, final=True)  # used up: chat.postEphemeral instead
    [ephemeral] = fake_slack.wait_for(lambda: fake_slack.calls_to("chat.postEphemeral"))
    assert (ephemeral.params["channel"], ephemeral.params["user"]) == ("C0GENERAL", "U0ADMIN")
    nowhere = Responder(None, client, None, "U0ADMIN")
    assert nowhere.send(message, final=True)  # no response_url, no channel: a DM
    fake_slack.wait_posts(1, "U0ADMIN")


def test_resync_progress_is_throttled_and_the_result_always_arrives(fake_slack, monkeypatch):
    clock = [0.0]

    def sync(index, name, *, full, trigger, progress):
        assert trigger == "admin"
        for done in range(0, 101, 5):  # 21 callbacks, one simulated second apart
            clock[0] += 1
            progress(done, 100)
        return SyncResult(name, ok=True, added=2, duration_s=21)

    monkeypatch.setattr(admin_resync.Index, "sync", sync)
    client = WebClient(token="xoxb-test", base_url=fake_slack.base_url)
    resyncs = Resyncs(clock=lambda: clock[0])
    assert resyncs.claim(("handbook",)) == (["handbook"], [], [])
    # in hand: not claimed twice; the rest is claimed and queued behind it
    assert resyncs.claim(("handbook", "wiki")) == (["wiki"], ["handbook"], ["handbook"])
    resyncs.release("wiki")
    done = []
    job = ResyncJob(None, ("handbook",), False,
                    Responder(fake_slack.response_url("p"), client, "C0GENERAL", "U0ADMIN"),
                    on_done=done.append)
    resyncs.start(job)
    resyncs.join(10)
    bodies = fake_slack.wait_responses(4)
    assert len(bodies) == 4  # 3 progress updates at most, then the result
    texts = [all_text(b) for b in bodies]
    assert all("embedding" in t for t in texts[:3])
    assert "Resync of *handbook* done in 21.0 s: 2 added" in texts[-1]
    assert all(b["replace_original"] is True for b in bodies)
    assert done and done[0][0].result.added == 2
    assert resyncs.claim(("handbook",)) == (["handbook"], [], [])  # released when done


def test_a_failing_resync_still_reports_and_releases(fake_slack, monkeypatch):
    def sync(index, name, *, full, trigger, progress):
        raise RuntimeError("disk full")

    monkeypatch.setattr(admin_resync.Index, "sync", sync)
    client = WebClient(token="xoxb-test", base_url=fake_slack.base_url)
    resyncs = Resyncs()
    resyncs.claim(("a", "b"))
    resyncs.start(ResyncJob(None, ("a", "b"), True,
                            Responder(fake_slack.response_url("f"), client, "C1", "U1")))
    resyncs.join(10)
    [body] = fake_slack.wait_responses(1)
    assert "*a*: the bot failed to run it (error id" in all_text(body)
    assert "*b*: the bot failed" in all_text(body)
    assert resyncs.claim(("a", "b")) == (["a", "b"], [], [])
    json.dumps(body)  # plain JSON all the way
