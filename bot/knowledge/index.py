"""`Index`: the one object that owns ragbot's knowledge state, for every entry point.

The CLI, the scheduler, `/ragadmin`, `ragbot status`, Slack's `/healthz` and the answer pipeline
all reach the database, Chroma, the record manager and the embedding model through an `Index`
built from the settings, and sync through `Index.sync` (failure alerts included, whoever asks).

- `engine`: the database named by `database_url` (SQLite under data_dir by default, or
  PostgreSQL), migrated before first use (`bot.knowledge.migrations`).
- `embeddings`, `vector_store()`, `collection`: loaded on first use only. Listing, status, health
  and pause/resume never load the embedding model (about a second and a half of imports and
  weights); a sync that embeds or a question does.
- `record_manager(source)`: LangChain's `SQLRecordManager` on the same engine, one namespace per
  source (which is what makes `cleanup="full"` safe for one source).
- `pause`/`resume`/`schedules`: a source's scheduled runs, kept in the APScheduler job store in
  the same database, so a pause made through any process (any replica) holds for the scheduler
  wherever it runs.
- `last_success(source=None)`: the one answer to "when did the index last change for sure".

Constructing an `Index` is cheap: engines, Chroma clients and models are cached per process by
what identifies them (URL, path, model), so two `Index(settings)` share them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bot.config import ConfigError, Settings
from bot.knowledge import db, leases, state

if TYPE_CHECKING:
    from bot.knowledge.alerts import Notify
    from bot.knowledge.status import SourceStatus
    from bot.knowledge.sync import Progress, SyncResult

log = logging.getLogger("ragbot.index")

JOB_PREFIX = "sync:"
SCHEDULER_LEASE = "scheduler"
SKIPPED = "skipped"


class ScheduleError(ValueError):
    """A scheduling request that cannot be met (the source has no schedule)."""


@dataclass(frozen=True)
class JobState:
    source: str
    schedule: str  # the job's description ("every 30m (UTC)")
    next_run: datetime | None  # None while paused
    paused: bool


def job_id(source: str) -> str:
    return f"{JOB_PREFIX}{source}"


class Index:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- parts ------------------------------------------------------------------------------

    @cached_property
    def url(self) -> str:
        return db.database_url(self.settings)

    @cached_property
    def engine(self):
        if self.url.startswith("sqlite"):
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return db.open_engine(self.url)

    @property
    def embeddings(self):
        from bot.knowledge import vectors

        return vectors.embeddings(self.settings)

    @property
    def collection(self):
        from bot.knowledge import vectors

        return vectors.collection(self.settings)

    def vector_store(self, embedding=None):
        from bot.knowledge import vectors

        return vectors.vector_store(self.settings, embedding)

    def record_manager(self, source: str):
        from langchain_classic.indexes import SQLRecordManager

        return SQLRecordManager(f"ragbot/{source}", engine=self.engine)

    # -- syncing ----------------------------------------------------------------------------

    def sync(self, source: str, *, full: bool = False, trigger: str = "manual",
             progress: Progress | None = None, notify: Notify | None = None) -> SyncResult | None:
        """Sync `source` now in this thread, then raise or clear its failure alert.

        The same path for `ragbot sync`, scheduled runs and `/ragadmin resync`. A source already
        syncing elsewhere raises `SyncInProgressError`, except for `trigger="schedule"`, where
        it is recorded as a skipped run (never an alert) and None is returned. `ConfigError`
        for an unknown source."""
        from bot.knowledge import alerts
        from bot.knowledge.sync import SyncInProgressError, sync_source

        self.settings.source(source)
        try:
            result = sync_source(self.settings, source, full=full, trigger=trigger,
                                 progress=progress, index=self)
        except SyncInProgressError as exc:
            if trigger != "schedule":
                raise
            run = state.start_run(self.engine, source, full=False, trigger=trigger)
            state.finish_run(self.engine, run, status=SKIPPED, counts={}, error=str(exc))
            log.info("scheduled sync of %r skipped: %s", source, exc)
            return None
        if result.ok:
            log.info("synced %r: %s in %.1fs", source, result.counts(), result.duration_s)
        else:
            log.warning("sync of %r failed: %s", source, result.error)
        try:
            alerts.check(self.settings, source, notify or alerts.post_to_admin_channel,
                         engine=self.engine)
        except Exception:  # noqa: BLE001 - alert bookkeeping must never fail the sync
            log.exception("could not check failure alerts for %r", source)
        return result

    def is_syncing(self, source: str) -> bool:
        return leases.current(self.engine, f"sync:{source}") is not None

    # -- what happened ----------------------------------------------------------------------

    def last_success(self, source: str | None = None) -> datetime | None:
        """When the last successful sync (of `source`, or of any source) finished."""
        runs = state.sync_runs
        query = select(func.max(runs.c.finished_at)).where(runs.c.status == "ok")
        if source is not None:
            query = query.where(runs.c.source == source)
        with self.engine.connect() as conn:
            return state.aware(conn.execute(query).scalar())

    def status(self, now: datetime | None = None) -> list[SourceStatus]:
        from bot.knowledge.status import source_status

        return source_status(self, now)

    def scheduler_holder(self) -> str | None:
        """Who runs the scheduler now ("host:pid:…"), or None when nobody does."""
        held = leases.current(self.engine, SCHEDULER_LEASE)
        return held[0] if held else None

    # -- schedules ----------------------------------------------------------------------------

    def job_store(self):
        from bot.knowledge.scheduler import SharedEngineJobStore

        return SharedEngineJobStore(self.engine)

    def schedules(self) -> dict[str, JobState]:
        """source -> its scheduled job, read from the job store (no scheduler needed)."""
        jobs = {}
        for job in self.job_store().get_all_jobs():
            if job.id.startswith(JOB_PREFIX):
                name = job.id.removeprefix(JOB_PREFIX)
                jobs[name] = JobState(name, job.name, job.next_run_time, job.next_run_time is None)
        return jobs

    def next_run(self, source: str) -> datetime | None:
        """When `source` syncs next by schedule; None if paused, unscheduled, or never scheduled
        (no scheduler has run since the schedule was configured)."""
        self.settings.source(source)
        job = self.schedules().get(source)
        return job.next_run if job else None

    def pause(self, source: str) -> None:
        """Stop scheduled runs of `source` until `resume`, for the scheduler in any process."""
        self._set_paused(source, True)
        log.info("scheduled syncs of %r paused", source)

    def resume(self, source: str) -> datetime | None:
        """Resume scheduled runs of `source`; returns its next run time."""
        next_run = self._set_paused(source, False)
        log.info("scheduled syncs of %r resumed", source)
        return next_run

    def _set_paused(self, source: str, paused: bool) -> datetime | None:
        from bot.knowledge import scheduler

        config = self.settings.source(source)  # ConfigError names the known sources
        if config.schedule is None or not config.enabled:
            raise ScheduleError(f"source {source!r} has no schedule to pause or resume"
                                + ("" if config.enabled else " (it is disabled)")
                                + "; add e.g. `schedule: {every: 30m}` to it in the config")
        store = self.job_store()
        job = store.lookup_job(job_id(source))
        if job is None:  # configured since the scheduler last ran: make its job now
            scheduler.ensure_jobs(self)
            job = store.lookup_job(job_id(source))
        if job is None:
            raise ConfigError(f"no scheduled job for {source!r}")
        if paused:
            job.next_run_time = None
        elif job.next_run_time is None:
            job.next_run_time = job.trigger.get_next_fire_time(None, scheduler.now(self.settings))
        store.update_job(job)
        scheduler.wake(self)  # a scheduler in this process sees it at once, others within HEARTBEAT_S
        return job.next_run_time
