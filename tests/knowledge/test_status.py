"""`source_status` and `ragbot status`: health, last success/error, next run, size, staleness."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from bot import cli
from bot.cli import app
from bot.knowledge import state
from bot.knowledge.index import Index
from bot.knowledge.scheduler import build_scheduler, run_scheduled_sync
from bot.knowledge.status import source_status, span, until
from bot.knowledge.sync import source_lock, sync_source


@pytest.mark.slow  # syncs an index with the real embedding model
def test_each_health_with_its_details(make_settings, tmp_path) -> None:
    settings = make_settings({
        "good": {"schedule": {"every": "30m", "jitter_s": 0}},
        "broken": {"schedule": {"every": "1h"}},
        "fresh": {"schedule": {"cron": "0 6 * * *", "quiet_hours": "22:00-05:00"}},
        "held": {"schedule": {"every": "2h"}},
        "off": {"enabled": False, "schedule": {"every": "1h"}},
        "busy": {},
    })
    sched = build_scheduler(settings)
    sched.start(paused=True)  # creates the jobs, runs nothing
    sched.shutdown()
    Index(settings).pause("held")

    assert sync_source(settings, "good").ok
    shutil.rmtree(tmp_path / "broken")
    for _ in range(2):
        run_scheduled_sync(str(settings.config_path), "broken")
    engine = Index(settings).engine
    state.start_run(engine, "busy", full=False, trigger="manual")

    later = datetime.now(timezone.utc) + timedelta(hours=3)
    with source_lock(settings, "busy"):  # a sync in progress (the lock is what proves it)
        run_scheduled_sync(str(settings.config_path), "busy")  # turned away: a skipped run
        rows = {r.name: r for r in source_status(settings, now=later)}
    assert {name: r.health for name, r in rows.items()} == {
        "good": "ok", "broken": "failing", "fresh": "never synced", "held": "paused",
        "off": "disabled", "busy": "syncing"}

    good = rows["good"]
    assert (good.documents, good.chunks) == (2, 2)
    assert good.last_run_status == "ok" and good.last_error is None
    assert good.stale_s == (later - good.last_success).total_seconds() >= 3 * 3600
    assert good.next_run is not None and good.schedule == "every 30m"

    broken = rows["broken"]
    assert broken.failures_in_row == 2 and broken.last_success is None
    assert "does not exist" in broken.last_error and broken.last_error_at is not None
    assert broken.stale_s is None and not broken.alerted  # 2 < alert_after_failures

    assert rows["fresh"].schedule == "cron 0 6 * * *, quiet 22:00-05:00, jitter 60s"
    assert rows["fresh"].next_run is not None and rows["fresh"].documents == 0
    assert rows["held"].paused and rows["held"].next_run is None
    assert rows["off"].next_run is None and rows["busy"].schedule is None
    assert rows["busy"].syncing and rows["busy"].last_run_status == "skipped"

    # Lock released with the row still "running": the process died mid-sync.
    busy = {r.name: r for r in source_status(settings)}["busy"]
    assert (busy.health, busy.syncing, busy.failures_in_row) == ("never synced", False, 0)
    state.start_run(engine, "good", full=False, trigger="schedule")  # then the process died
    good = {r.name: r for r in source_status(settings)}["good"]
    assert (good.health, good.last_run_status, good.syncing) == ("ok", "interrupted", False)

    payload = json.loads(json.dumps([r.to_json() for r in rows.values()]))
    assert payload[0]["name"] == "good" and isinstance(payload[0]["last_success"], str)


@pytest.mark.slow  # syncs an index with the real embedding model
def test_recovery_keeps_the_last_error_visible(make_settings, tmp_path) -> None:
    settings = make_settings({"wiki": {}})
    shutil.rmtree(tmp_path / "wiki")
    assert not sync_source(settings, "wiki").ok
    (tmp_path / "wiki").mkdir()
    (tmp_path / "wiki" / "a.md").write_text("# A\nSome text about the office.\n")
    assert sync_source(settings, "wiki").ok
    [row] = source_status(settings)
    assert row.health == "ok" and row.failures_in_row == 0
    assert "does not exist" in row.last_error and row.last_success > row.last_error_at


def test_cli_status_table_and_json(make_settings, tmp_path, monkeypatch) -> None:
    settings = make_settings({"wiki": {"schedule": {"every": "30m"}}, "docs": {}})
    shutil.rmtree(tmp_path / "docs")
    sync_source(settings, "docs")
    monkeypatch.setattr(cli.console, "width", 200)
    runner = CliRunner()
    table = runner.invoke(app, ["--config", str(settings.config_path), "status"])
    assert table.exit_code == 0, table.output
    assert "never synced" in table.output and "failing (1x)" in table.output
    assert "on demand" in table.output and "source 'docs': folder" in table.output
    assert "scheduler: not running" in table.output

    out = runner.invoke(app, ["--config", str(settings.config_path), "status", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["scheduler"] is None
    assert [(s["name"], s["health"]) for s in data["sources"]] == [("wiki", "never synced"),
                                                                   ("docs", "failing")]
    assert "does not exist" in data["sources"][1]["last_error"]


def test_cli_scheduler_refuses_when_nothing_is_scheduled(make_settings) -> None:
    settings = make_settings({"wiki": {}})
    result = CliRunner().invoke(app, ["--config", str(settings.config_path), "scheduler"])
    assert result.exit_code == 2 and "No source has a schedule" in result.output


def test_spans() -> None:
    now = datetime(2024, 6, 1, tzinfo=timezone.utc)
    assert until(now + timedelta(minutes=12, seconds=5), now) == "in 12 minutes"
    assert until(now - timedelta(seconds=5), now) == "now" and until(None) == "-"
    assert span(2 * 86400 + 5) == "2 days" and span(1) == "1 second" and span(None) == "-"


def test_status_shows_how_many_bodies_the_last_sync_fetched(make_settings, tmp_path,
                                                             monkeypatch) -> None:
    settings = make_settings({"wiki": {}})
    assert source_status(settings)[0].last_fetched is None  # never synced
    assert sync_source(settings, "wiki").ok
    assert source_status(settings)[0].last_fetched == 2
    (tmp_path / "wiki" / "vpn.md").write_text("# VPN\nThe VPN token is reset by IT.\n")
    assert sync_source(settings, "wiki").ok
    assert source_status(settings)[0].last_fetched == 1  # only the edited page was read

    monkeypatch.setattr(cli.console, "width", 200)
    runner = CliRunner()
    table = runner.invoke(app, ["--config", str(settings.config_path), "status"])
    assert table.exit_code == 0, table.output
    header = next(line for line in table.output.splitlines() if "documents" in line)
    assert "fetched" in header
    out = runner.invoke(app, ["--config", str(settings.config_path), "status", "--json"])
    assert json.loads(out.output)["sources"][0]["last_fetched"] == 1
