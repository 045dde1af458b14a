"""Real APScheduler over a real SQLite job store (the app database in tmp_path)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import inspect, select

from bot.knowledge import leases, scheduler, state
from bot.knowledge.index import Index, ScheduleError, job_id
from bot.knowledge.scheduler import (build_scheduler, run_forever, run_scheduled_sync,
                                     start_scheduler, sync_jobs)
from bot.knowledge.sync import SyncInProgressError, source_lock


def runs(settings) -> list[dict]:
    return list(reversed(state.recent_runs(Index(settings).engine, limit=50)))


def next_run(settings, source):
    return Index(settings).next_run(source)


def pause(settings, source):
    return Index(settings).pause(source)


def resume(settings, source):
    return Index(settings).resume(source)


@pytest.fixture
def paused_scheduler():
    """Start schedulers paused (job stores live, nothing runs); all are shut down after."""
    started = []

    def start(settings):
        sched = build_scheduler(settings)
        sched.start(paused=True)
        started.append(sched)
        return sched

    yield start
    for sched in started:
        if sched.running:
            sched.shutdown(wait=True)


def test_jobs_live_in_the_app_database_with_safe_defaults(make_settings, paused_scheduler) -> None:
    settings = make_settings({"wiki": {"schedule": {"every": "30m"}},
                              "docs": {"schedule": {"cron": "0 */2 * * 1-5", "jitter_s": 0}},
                              "manual": {}})
    sched = paused_scheduler(settings)
    jobs = {job.id: job for job in sched.get_jobs(jobstore="default")}
    assert set(jobs) == {"sync:wiki", "sync:docs"}
    job = jobs["sync:wiki"]
    assert job.func is run_scheduled_sync and job.args == (str(settings.config_path), "wiki")
    assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 600)
    assert job.name == "every 30m, jitter 60s (UTC)"
    assert "apscheduler_jobs" in inspect(Index(settings).engine).get_table_names()
    assert (settings.data_dir / "ragbot.sqlite").exists()
    before = next_run(settings, "wiki")
    assert before is not None
    assert 29 * 60 < (before - datetime.now(timezone.utc)).total_seconds() <= 31 * 60
    assert next_run(settings, "manual") is None


def test_restart_keeps_next_run_and_paused_state(make_settings, paused_scheduler) -> None:
    settings = make_settings({"wiki": {"schedule": {"every": "30m"}},
                              "docs": {"schedule": {"every": "1h"}}})
    first = paused_scheduler(settings)
    planned = next_run(settings, "wiki")
    first.shutdown()

    pause(settings, "docs")  # no scheduler running in this process: straight to the job store
    assert next_run(settings, "docs") is None

    time.sleep(0.05)
    second = paused_scheduler(settings)  # a restart: same file, jobs matched to the same config
    assert next_run(settings, "wiki") == planned  # not restarted from "now"
    assert second.get_job(job_id("docs")).next_run_time is None  # still paused
    second.shutdown()

    # The schedule of the paused source changes: rescheduled, still paused.
    settings = make_settings({"wiki": {"schedule": {"every": "30m"}},
                              "docs": {"schedule": {"every": "2h"}}})
    third = paused_scheduler(settings)
    job = third.get_job(job_id("docs"))
    assert job.next_run_time is None and job.name.startswith("every 2h")
    third.shutdown()

    assert resume(settings, "docs") is not None
    assert next_run(settings, "docs") is not None


def test_sync_jobs_removes_and_reschedules_to_match_config(make_settings, paused_scheduler) -> None:
    settings = make_settings({"wiki": {"schedule": {"every": "30m"}},
                              "docs": {"schedule": {"every": "1h"}}})
    sched = paused_scheduler(settings)
    changed = make_settings({"wiki": {"schedule": {"cron": "0 6 * * *", "jitter_s": 0}},
                             "docs": {"schedule": {"every": "1h"}, "enabled": False}})
    done = sync_jobs(sched, changed)
    assert done == {"added": [], "rescheduled": ["wiki"], "kept": [], "removed": ["docs"]}
    wiki = sched.get_job(job_id("wiki"))
    assert (wiki.next_run_time.hour, wiki.next_run_time.minute) == (6, 0)
    assert sched.get_job(job_id("docs")) is None
    assert sync_jobs(sched, changed)["kept"] == ["wiki"]  # idempotent


def test_pause_refuses_a_source_without_schedule(make_settings) -> None:
    settings = make_settings({"wiki": {}})
    with pytest.raises(ScheduleError, match="has no schedule"):
        pause(settings, "wiki")


def test_a_locked_source_is_recorded_as_skipped_not_failed(make_settings) -> None:
    settings = make_settings()
    with source_lock(settings, "wiki"):  # e.g. a `ragbot sync` in another process
        for _ in range(4):
            run_scheduled_sync(str(settings.config_path), "wiki")
        with pytest.raises(SyncInProgressError):
            Index(settings).sync("wiki")
    recorded = runs(settings)
    assert [(r["status"], r["trigger"]) for r in recorded] == [("skipped", "schedule")] * 4
    assert "already syncing" in recorded[0]["error"]


@pytest.mark.slow  # syncs an index with the real embedding model
def test_index_sync_syncs_and_records_the_trigger(make_settings) -> None:
    settings = make_settings({"wiki": {}})
    result = Index(settings).sync("wiki", trigger="admin")
    assert result.ok and result.added == 2
    assert [(r["status"], r["trigger"]) for r in runs(settings)] == [("ok", "admin")]


def test_start_scheduler_respects_run_in_serve(make_settings) -> None:
    settings = make_settings(scheduler={"run_in_serve": False})
    assert start_scheduler(settings) is None


@pytest.mark.slow  # syncs an index with the real embedding model
def test_worker_runs_a_due_job_and_a_second_scheduler_stands_aside(make_settings) -> None:
    """The one real-time test: `ragbot scheduler`'s loop runs a due job on its worker thread."""
    settings = make_settings({"wiki": {"schedule": {"every": "1h", "jitter_s": 0}}})
    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(settings, stop), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        url = Index(settings).url
        while url not in scheduler._running and time.monotonic() < deadline:
            time.sleep(0.05)
        sched, lease = scheduler._running[url]
        assert Index(settings).scheduler_holder() == lease.holder
        # The serve process's standby finds it running in this process: the same one.
        assert scheduler._start(settings.model_copy()) is sched
        engine = Index(settings).engine
        assert not leases.acquire(engine, "scheduler", "another-host:1:x", 30)  # held

        pause(settings, "wiki")  # through the running scheduler (it wakes up for the change)
        assert sched.get_job(job_id("wiki")).next_run_time is None
        assert resume(settings, "wiki") is not None

        sched.modify_job(job_id("wiki"), jobstore="default",
                         next_run_time=datetime.now(timezone.utc))
        deadline = time.monotonic() + 60  # generous: the machine's 2 cores are shared
        while time.monotonic() < deadline:
            if any(r["status"] != "running" for r in runs(settings)):
                break
            time.sleep(0.1)
        recorded = runs(settings)
        assert [(r["status"], r["trigger"]) for r in recorded] == [("ok", "schedule")], (
            recorded, sched.get_jobs())
        following = next_run(settings, "wiki")
        assert following is not None and following > datetime.now(timezone.utc)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert url not in scheduler._running
    assert Index(settings).scheduler_holder() is None  # released: a standby could take over
    with Index(settings).engine.connect() as conn:
        table = state.sync_runs
        assert conn.execute(select(table.c.trigger)).scalars().all() == ["schedule"]
