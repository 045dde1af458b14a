"""/ragadmin scenarios: signed slash commands over real HTTP into the real Bolt app, replies
checked in the ack body and at the loopback fake's response_url, effects in the real index and
app database (a small folder source per test, not the shared demo index)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot import records as store
from bot.cli import app as cli_app
from bot.config import load_settings
from bot.knowledge import scheduler, state
from bot.knowledge import vectors
from bot.knowledge.index import Index
from bot.knowledge.sync import source_lock, sync_source
from tests.slack.admin_helpers import copy_tree, start_admin_bot, write_admin_config
from tests.slack.helpers import all_text

OUTSIDER = "U0BOB"


@pytest.fixture
def admin_bot(fake_slack):
    started = []

    def start(config):
        bot = start_admin_bot(config, fake_slack)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.stop()
    for sched, _lease in list(scheduler._running.values()):
        sched.shutdown(wait=True)


@pytest.fixture(scope="module")
def synced_template(tmp_path_factory):
    """Both sources synced once; tests get a copy (`synced_config`)."""
    root = tmp_path_factory.mktemp("ragadmin-template")
    config = write_admin_config(root, channels={"C0LEADS": ["notes", "*"]})
    settings = load_settings(config)
    for name in ("handbook", "notes"):
        assert sync_source(settings, name).ok
    return root


@pytest.fixture
def synced_config(synced_template, tmp_path):
    return copy_tree(synced_template, tmp_path)


def runs_of(settings) -> list[dict]:
    """Every sync run, newest first (call it once the bot has made its tables: after
    `wait_audit`, or on a synced tree)."""
    return state.recent_runs(Index(settings).engine, limit=100)


def audit_rows(settings) -> list[dict]:
    return store.audit_log(Index(settings).engine, limit=100)


def wait_audit(settings, n: int = 1, timeout: float = 30.0) -> list[dict]:
    """The audit rows, newest first, once there are `n` and the newest is finished (the row is
    written after the ack, a resync's result when it ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = audit_rows(settings)
        if len(rows) >= n and rows[0]["finished_at"] is not None:
            return rows
        time.sleep(0.05)
    raise TimeoutError(f"fewer than {n} finished audit rows")


def test_non_admin_is_refused_audited_and_nothing_runs(tmp_path, admin_bot):
    bot = admin_bot(write_admin_config(tmp_path))
    sent = bot.command("resync handbook --full", user=OUTSIDER)
    assert sent.reply.status == 200 and sent.reply.seconds < 1.0
    assert sent.ack["response_type"] == "ephemeral"
    assert "only for ragbot's admins" in all_text(sent.ack)
    assert f"`{OUTSIDER}`" in all_text(sent.ack) and "admins.users" in all_text(sent.ack)
    [row] = wait_audit(bot.settings)
    time.sleep(0.3)  # nothing must start in the background either
    assert runs_of(bot.settings) == []
    assert bot.fake.calls_to("users.info") == []  # workspace_admins is off: config decides
    assert (row["user"], row["allowed"], row["action"]) == (OUTSIDER, False, "resync")
    assert row["command"] == "/ragadmin resync handbook --full"
    assert row["result"].startswith("refused") and row["channel"] == "C0GENERAL"


def test_workspace_admin_is_allowed_via_users_info_and_cached(tmp_path, admin_bot):
    bot = admin_bot(write_admin_config(tmp_path, admins=[], workspace_admins=True))
    bot.fake.users["U0OWNER"] = {"is_owner": True}
    bot.fake.users["U0WSADMIN"] = {"is_admin": True}

    sent = bot.command("help", user="U0WSADMIN")
    assert sent.reply.status == 200 and sent.reply.seconds < 1.0
    assert not sent.reply.body  # acked empty: users.info runs after the ack
    [reply] = bot.responses(sent)
    assert reply["response_type"] == "ephemeral" and "/ragadmin resync" in all_text(reply)
    assert [c.params["user"] for c in bot.fake.calls_to("users.info")] == ["U0WSADMIN"]

    again = bot.command("sources", user="U0WSADMIN")  # cached: decided before the ack
    assert "handbook" in all_text(again.ack)
    assert len(bot.fake.calls_to("users.info")) == 1

    owner = bot.command("help", user="U0OWNER")
    assert "/ragadmin status" in all_text(bot.responses(owner)[0])

    member = bot.command("status", user=OUTSIDER)  # users.info says: not an admin
    assert "only for ragbot's admins" in all_text(bot.responses(member)[0])
    assert [(r["user"], r["allowed"]) for r in reversed(wait_audit(bot.settings, 4))] == [
        ("U0WSADMIN", True), ("U0WSADMIN", True), ("U0OWNER", True), (OUTSIDER, False)]


def test_admin_status_sources_and_history(synced_config, admin_bot):
    bot = admin_bot(synced_config)
    sent = bot.command("status")
    assert not sent.reply.body  # status reads the database: after the ack
    text = all_text(bot.responses(sent)[0])
    lines = {line.split("*")[1]: line for line in text.splitlines() if line.count("*") >= 2}
    assert "handbook" in lines and "notes" in lines
    assert "— ok · last sync just now · 3 documents" in lines["handbook"]
    assert "next run: not planned (no scheduler has run yet)" in lines["handbook"]
    assert "The scheduler is not running" in text
    assert "on demand only" in lines["notes"]

    sources = all_text(bot.command("sources").ack)
    assert "*handbook* · folder · public · every 30m (UTC)" in sources
    assert "*notes* · folder · private · on demand only" in sources
    assert "used in: <#C0LEADS>, any other channel, DMs" in sources
    assert "used in: <#C0LEADS> (private: never in public channels)" in sources

    history = all_text(bot.responses(bot.command("history handbook"))[0])
    assert "Last 1 sync run(s) of handbook" in history and "· ok · manual" in history
    assert "3 added, 0 updated, 0 deleted" in history


def test_resync_after_a_deleted_file_removes_its_chunks(synced_config, admin_bot):
    bot = admin_bot(synced_config)
    engine = Index(bot.settings).engine
    collection = vectors.chroma_client(bot.settings).get_collection("admintest")
    before = collection.get(where={"source_id": "people/payroll.md"})["ids"]
    assert before
    (synced_config.parent / "handbook" / "people" / "payroll.md").unlink()

    sent = bot.command("resync handbook")
    assert sent.reply.seconds < 1.0
    assert sent.ack["response_type"] == "ephemeral"
    assert all_text(sent.ack).startswith(":arrows_counterclockwise: Resyncing *handbook*…")
    final = bot.responses(sent)[-1]
    text = all_text(final)
    assert final["replace_original"] is True and final["response_type"] == "ephemeral"
    assert "Resync of *handbook* done in" in text
    assert "0 added, 0 updated, 1 deleted" in text and f"{len(before)} removed" in text

    assert collection.get(where={"source_id": "people/payroll.md"})["ids"] == []
    assert "people/payroll.md" not in state.page_rows(engine, "handbook")
    run = runs_of(bot.settings)[0]
    assert (run["source"], run["trigger"], run["status"], run["deleted"]) == (
        "handbook", "admin", "ok", 1)
    row = wait_audit(bot.settings)[0]
    assert row["result"].startswith("handbook: ok, 0 added, 0 updated, 1 deleted")


def test_full_resync_of_all_reports_each_source(synced_config, admin_bot):
    bot = admin_bot(synced_config)
    sent = bot.command("resync all —full")  # Slack turns a typed -- into an em dash
    assert "Resyncing 2 sources (*handbook*, *notes*)" in all_text(sent.ack)
    assert "full: re-reading every page" in all_text(sent.ack)
    text = all_text(bot.responses(sent)[-1])
    assert "Full resync of 2 sources done in" in text
    assert "*handbook* in" in text and "*notes* in" in text
    assert "0 added, 0 updated, 0 deleted (3 unchanged" in text
    assert {(r["source"], r["full"], r["trigger"]) for r in runs_of(bot.settings)[:2]} == {
        ("handbook", True, "admin"), ("notes", True, "admin")}


def test_resync_of_a_source_already_syncing_starts_nothing(synced_config, admin_bot):
    bot = admin_bot(synced_config)
    runs = len(runs_of(bot.settings))
    with source_lock(bot.settings, "handbook"):  # e.g. the scheduler in another process
        sent = bot.command("resync handbook")
        text = all_text(bot.responses(sent)[-1])
    assert "*handbook* is already syncing; no second resync was started" in text
    assert len(runs_of(bot.settings)) == runs  # no run row: nothing started
    assert wait_audit(bot.settings)[0]["result"] == "handbook: already syncing, not started"


def test_a_source_this_bot_is_resyncing_is_not_queued_twice(synced_config, admin_bot,
                                                             monkeypatch):
    bot = admin_bot(synced_config)
    runs = len(runs_of(bot.settings))
    started, gate = threading.Event(), threading.Event()
    real_sync = Index.sync

    def held_sync(index, name, **kw):
        started.set()
        assert gate.wait(20)
        return real_sync(index, name, **kw)

    monkeypatch.setattr(Index, "sync", held_sync)
    first = bot.command("resync handbook")
    assert started.wait(10)
    second = bot.command("resync handbook")
    assert second.reply.seconds < 1.0
    assert "*handbook* is already syncing; no second resync was started" in all_text(second.ack)
    both = bot.command("resync all")  # the other source is queued behind
    assert all_text(both.ack).startswith(":hourglass: Resync of *notes* queued: it starts when "
                                         "the resync of *handbook* is done.")
    assert "*handbook* is already syncing; not started again." in all_text(both.ack)
    gate.set()
    assert "Resync of *handbook* done" in all_text(bot.responses(first)[-1])
    assert "Resync of *notes* done" in all_text(bot.responses(both)[-1])
    assert sorted(r["source"] for r in runs_of(bot.settings)[:len(runs_of(bot.settings)) - runs]) \
        == ["handbook", "notes"]


def test_pause_and_resume_persist_across_a_restart(tmp_path, admin_bot):
    config = write_admin_config(tmp_path)
    first = admin_bot(config)
    paused = all_text(first.responses(first.command("pause handbook"))[0])
    assert "Scheduled syncs of *handbook* are paused" in paused
    first.stop()

    second = admin_bot(config)  # a restart: same config, same data dir
    assert Index(second.settings).schedules()["handbook"].paused
    status = all_text(second.responses(second.command("status"))[0])
    assert ":double_vertical_bar: *handbook* — paused" in status and "schedule paused" in status
    resumed = all_text(second.responses(second.command("resume handbook"))[0])
    assert "Scheduled syncs of *handbook* resumed; next run in 29 minutes" in resumed \
        or "resumed; next run in 30 minutes" in resumed
    assert not Index(second.settings).schedules()["handbook"].paused

    no_schedule = all_text(second.responses(second.command("pause notes"))[0])
    assert "has no schedule to pause or resume" in no_schedule and "schedule:" in no_schedule
    results = [r["result"] for r in reversed(wait_audit(second.settings, 4))]
    assert results[0] == "paused" and results[2].startswith("resumed, next run ")
    assert results[3].startswith("not done: source 'notes' has no schedule")


def test_unknown_source_lists_the_known_ones(tmp_path, admin_bot):
    bot = admin_bot(write_admin_config(tmp_path))
    sent = bot.command("resync handbok")
    text = all_text(sent.ack)
    assert "There is no source named `handbok`." in text
    assert "Configured sources: *handbook*, *notes*" in text
    assert "Usage: `/ragadmin resync &lt;source|all&gt; [--full]`" in text
    [row] = wait_audit(bot.settings)
    assert row["result"] == "usage error: there is no source named `handbok`"


@pytest.mark.parametrize("text, usage", [
    ("resync", "/ragadmin resync &lt;source|all&gt; [--full]"),
    ("resync handbook --fast", "/ragadmin resync &lt;source|all&gt; [--full]"),
    ("pause", "/ragadmin pause &lt;source&gt;"),
    ("history handbook notes", "/ragadmin history &lt;source&gt;"),
])
def test_malformed_arguments_get_the_usage_line(tmp_path, admin_bot, text, usage):
    bot = admin_bot(write_admin_config(tmp_path))
    sent = bot.command(text)
    assert sent.reply.status == 200
    assert f"Usage: `{usage}`" in all_text(sent.ack)
    assert wait_audit(bot.settings)[0]["result"].startswith("usage error: ")
    assert runs_of(bot.settings) == []


def test_unknown_subcommand_and_mentions_in_text_are_inert(tmp_path, admin_bot):
    bot = admin_bot(write_admin_config(tmp_path))
    text = all_text(bot.command("<!channel> please").ack)
    assert "There is no `@\u2060channel` command" in text and "<!channel>" not in text
    assert "`help`" in text


def test_ragbot_audit_prints_the_log(tmp_path, admin_bot):
    config = write_admin_config(tmp_path)
    bot = admin_bot(config)
    bot.command("help")
    bot.command("status", user=OUTSIDER)
    wait_audit(bot.settings, 2)
    runner = CliRunner()
    result = runner.invoke(cli_app, ["--config", str(config), "audit", "--json", "--limit", "1"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["user"], row["command"], row["allowed"]) == (OUTSIDER, "/ragadmin status", False)
    table = runner.invoke(cli_app, ["--config", str(config), "audit"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "/ragadmin help" in table.output and OUTSIDER in table.output
    assert "refused" in table.output
    with Index(bot.settings).engine.connect() as conn:
        assert len(conn.execute(select(store.admin_audit)).all()) == 2
