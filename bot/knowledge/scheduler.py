"""Scheduled syncs: APScheduler 3.x with its jobs in `ragbot.sqlite`.

Where it runs: inside `ragbot serve` (`start_scheduler`, unless `scheduler.run_in_serve: false`)
or alone as `ragbot scheduler` (`run_forever`) for deployments that keep embedding work away from
the bot. Only one scheduler per data dir runs at a time: it holds `locks/scheduler.lock`, and a
second one stands by (the CLI) or does without (serve). APScheduler 3.x cannot share one job store
between two running schedulers: both would fire every job.

Constraints and why:
- Jobs live in a `SQLAlchemyJobStore` on the app database, so schedules, next run times and
  paused state survive restarts. The store pickles a job's trigger and arguments and refers to
  its function by import path: the job function is the module-level `run_scheduled_sync`, its
  arguments are plain strings (a settings reference, the source name).
- `coalesce=True`, `max_instances=1` and `misfire_grace_time=scheduler.misfire_grace_s`: runs
  missed while the process was down collapse into one (dropped if later than the grace time), and
  a sync still running when its next run comes up makes that run be skipped, never queued. One
  worker thread: embedding is CPU-bound, two syncs at once only compete for the same cores.
- The per-source lock in sync.py keeps two processes (say, `ragbot sync` and this worker) from
  syncing one source at once; a scheduled run that finds the source locked is recorded as a
  "skipped" run and is no error, so it never feeds a failure alert.
- `sync_jobs` matches the jobs to the config: a job whose schedule is unchanged is left as it is
  (its next run time and paused state stay; re-adding it would restart an interval on every
  restart), a changed schedule is rescheduled and keeps its paused state, and jobs of sources
  that lost their schedule (or were disabled) are removed.
- `pause`/`resume` from a process that does not run the scheduler (a bot while a separate worker
  schedules) write the job store directly; the worker sees the change within `HEARTBEAT_S`
  (APScheduler only re-reads its stores when it wakes, and a heartbeat job keeps it waking).
- Config changes reach a running scheduler on restart (jobs are matched to the config then).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, EVENT_SCHEDULER_START
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.config import ConfigError, Settings, load_settings
from bot.knowledge import alerts, state, store
from bot.knowledge.schedule import build_trigger, describe
from bot.knowledge.sync import Progress, SyncInProgressError, SyncResult, sync_source

log = logging.getLogger("ragbot.scheduler")

JOB_PREFIX = "sync:"
JOBS_TABLE = "apscheduler_jobs"
HEARTBEAT_S = 30.0
STANDBY_POLL_S = 5.0
SKIPPED = "skipped"

# Settings by reference, for job functions: a job stores only `settings_ref(settings)`.
_settings: dict[str, Settings] = {}
# The scheduler this process runs, per data dir, with its lock's file descriptor.
_running: dict[str, tuple[BaseScheduler, int]] = {}
_running_lock = threading.RLock()


class ScheduleError(ValueError):
    """A scheduling request that cannot be met (the source has no schedule)."""


@dataclass(frozen=True)
class JobState:
    source: str
    schedule: str  # the job's description ("every 30m (UTC)")
    next_run: datetime | None  # None while paused
    paused: bool


class _SharedEngineJobStore(SQLAlchemyJobStore):
    """The stock store, except that shutdown leaves the engine alone: it is ragbot's shared
    engine (`store.engine`), which the bot keeps using after a scheduler stops."""

    def shutdown(self) -> None:
        pass


def job_id(source: str) -> str:
    return f"{JOB_PREFIX}{source}"


def settings_ref(settings: Settings) -> str:
    """What a job stores to find its settings again: the config file, or (config built in code,
    tests) a key into this process's registry."""
    return str(settings.config_path) if settings.config_path else f"inline:{settings.data_dir}"


def _settings_for(ref: str) -> Settings:
    if ref not in _settings:
        if ref.startswith("inline:"):
            raise ConfigError(f"settings {ref!r} were built in another process; this job cannot "
                              "run here (start the scheduler with a config file)")
        _settings[ref] = load_settings(ref)
    return _settings[ref]


def _job_store(settings: Settings) -> _SharedEngineJobStore:
    engine = store.engine(settings)
    job_store = _SharedEngineJobStore(engine=engine, tablename=JOBS_TABLE)
    job_store.jobs_t.create(engine, checkfirst=True)
    return job_store


def _heartbeat() -> None:
    """Does nothing: being due makes APScheduler wake and re-read the job store."""


def build_scheduler(settings: Settings, background: bool = True) -> BaseScheduler:
    """A scheduler over the app database's job store; not started.

    On start it matches its jobs to the config (`sync_jobs`) before running any, so
    `scheduler.start()` (or `start(paused=True)`) is all a caller needs.
    """
    engine = store.engine(settings)
    state.create_schema(engine)
    alerts.create_schema(engine)
    _settings[settings_ref(settings)] = settings
    cls = BackgroundScheduler if background else BlockingScheduler
    scheduler = cls(
        jobstores={"default": _job_store(settings), "memory": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(1), "heartbeat": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": settings.scheduler.misfire_grace_s},
        timezone=ZoneInfo(settings.scheduler.timezone))
    scheduler.add_job(_heartbeat, "interval", seconds=HEARTBEAT_S, id="ragbot:heartbeat",
                      jobstore="memory", executor="heartbeat")
    logging.getLogger("apscheduler.executors.heartbeat").setLevel(logging.WARNING)

    def on_start(_event) -> None:
        try:
            sync_jobs(scheduler, settings)
        except Exception:  # APScheduler would swallow it with a vaguer message
            log.exception("could not match the scheduled syncs to the config; the jobs stored "
                          "before are kept as they were")

    scheduler.add_listener(on_start, EVENT_SCHEDULER_START)
    return scheduler


def sync_jobs(scheduler: BaseScheduler, settings: Settings) -> dict[str, list[str]]:
    """Add, reschedule and remove sync jobs to match the config (see the module docstring).

    The scheduler must be started (`start(paused=True)` will do): a stopped APScheduler cannot
    read its job stores. Returns the source names per action, for logging.
    """
    if scheduler.state == STATE_STOPPED:
        raise RuntimeError("sync_jobs needs a started scheduler (start(paused=True) is enough)")
    tz = settings.scheduler.timezone
    wanted = {s.name: s for s in settings.sources if s.enabled and s.schedule is not None}
    existing = {job.id.removeprefix(JOB_PREFIX): job
                for job in scheduler.get_jobs(jobstore="default") if job.id.startswith(JOB_PREFIX)}
    ref = settings_ref(settings)
    grace = settings.scheduler.misfire_grace_s
    done: dict[str, list[str]] = {"added": [], "rescheduled": [], "kept": [], "removed": []}
    for name, job in existing.items():
        if name not in wanted:
            scheduler.remove_job(job.id, jobstore="default")
            done["removed"].append(name)
    for name, source in wanted.items():
        description = f"{describe(source.schedule)} ({tz})"
        job = existing.get(name)
        if job is None:
            scheduler.add_job(run_scheduled_sync, build_trigger(source.schedule, tz),
                              args=[ref, name], id=job_id(name), name=description,
                              jobstore="default", replace_existing=True)
            done["added"].append(name)
            continue
        changes: dict = {}
        if list(job.args) != [ref, name]:
            changes["args"] = [ref, name]
        if job.misfire_grace_time != grace:
            changes["misfire_grace_time"] = grace
        if job.name != description:
            trigger = build_trigger(source.schedule, tz)
            paused = job.next_run_time is None
            changes.update(name=description, trigger=trigger, next_run_time=None if paused else
                           trigger.get_next_fire_time(None, datetime.now(scheduler.timezone)))
        if changes:
            scheduler.modify_job(job.id, jobstore="default", **changes)
        done["rescheduled" if "trigger" in changes else "kept"].append(name)
    for action, names in done.items():
        if names and action != "kept":
            log.info("scheduled syncs %s: %s", action, ", ".join(names))
    return done


# --- the job ------------------------------------------------------------------------------------

def run_scheduled_sync(settings_reference: str, source: str) -> None:
    """The job function (module level, plain-string arguments: the job store pickles them)."""
    try:
        settings = _settings_for(settings_reference)
        settings.source(source)
    except ConfigError as exc:
        log.warning("scheduled sync of %r not run: %s", source, exc)
        return
    run_sync(settings, source, trigger="schedule")


def run_sync(settings: Settings, source: str, *, full: bool = False, trigger: str = "schedule",
             notify: alerts.Notify = alerts.post_to_admin_channel,
             progress: Progress | None = None) -> SyncResult | None:
    """One sync, with failure alerts. A source already syncing elsewhere is recorded as a
    skipped run and returns None (for `trigger="schedule"`) or raises SyncInProgressError."""
    try:
        result = sync_source(settings, source, full=full, trigger=trigger, progress=progress)
    except SyncInProgressError as exc:
        if trigger != "schedule":
            raise
        record_skipped(settings, source, trigger, str(exc))
        log.info("scheduled sync of %r skipped: %s", source, exc)
        return None
    if result.ok:
        log.info("synced %r: %s in %.1fs", source, result.counts(), result.duration_s)
    else:
        log.warning("sync of %r failed: %s", source, result.error)
    try:
        alerts.check(settings, source, notify)
    except Exception:  # noqa: BLE001 - alert bookkeeping must never fail the job
        log.exception("could not check failure alerts for %r", source)
    return result


def record_skipped(settings: Settings, source: str, trigger: str, reason: str) -> None:
    engine = store.engine(settings)
    run = state.start_run(engine, source, full=False, trigger=trigger)
    state.finish_run(engine, run, status=SKIPPED, counts={}, error=reason)


def run_now(settings: Settings, source: str, full: bool = False, *,
            trigger: str = "manual", progress: Progress | None = None) -> SyncResult:
    """Sync `source` now, in the calling thread (call it from a worker thread or a Bolt lazy
    listener, never before an ack). Runs whether or not the source's schedule is paused; failure
    alerts apply as for scheduled runs. Raises SyncInProgressError when it is already syncing
    (in any process) and ConfigError for an unknown source."""
    settings.source(source)
    result = run_sync(settings, source, full=full, trigger=trigger, progress=progress)
    if result is None:  # only scheduled runs become skipped runs; kept for type checkers
        raise SyncInProgressError(f"source {source!r} is already syncing")
    return result


# --- reading and changing jobs from any process -------------------------------------------------

def job_states(settings: Settings) -> dict[str, JobState]:
    """source -> its job, read from the job store (no scheduler needed)."""
    jobs = {}
    for job in _job_store(settings).get_all_jobs():
        if job.id.startswith(JOB_PREFIX):
            name = job.id.removeprefix(JOB_PREFIX)
            jobs[name] = JobState(name, job.name, job.next_run_time, job.next_run_time is None)
    return jobs


def next_run(settings: Settings, source: str) -> datetime | None:
    """When `source` syncs next by schedule; None if paused, unscheduled, or never scheduled
    (no scheduler has run since the schedule was configured)."""
    settings.source(source)
    job = job_states(settings).get(source)
    return job.next_run if job else None


@contextmanager
def _control(settings: Settings) -> Iterator[BaseScheduler]:
    """This process's running scheduler, or a paused one over the same store for one change."""
    with _running_lock:
        running = _running.get(str(settings.data_dir))
    if running is not None:
        yield running[0]
        return
    scheduler = build_scheduler(settings, background=True)
    scheduler.start(paused=True)  # starts the job stores and matches jobs to config; runs nothing
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)


def _scheduled(settings: Settings, source: str) -> None:
    config = settings.source(source)  # ConfigError names the known sources
    if config.schedule is None or not config.enabled:
        raise ScheduleError(f"source {source!r} has no schedule to pause or resume"
                            + ("" if config.enabled else " (it is disabled)")
                            + "; add e.g. `schedule: {every: 30m}` to it in the config")


def pause(settings: Settings, source: str) -> None:
    """Stop scheduled runs of `source` until `resume`; persisted in the job store."""
    _scheduled(settings, source)
    with _control(settings) as scheduler:
        scheduler.pause_job(job_id(source), jobstore="default")
    log.info("scheduled syncs of %r paused", source)


def resume(settings: Settings, source: str) -> datetime | None:
    """Resume scheduled runs of `source`; returns its next run time."""
    _scheduled(settings, source)
    with _control(settings) as scheduler:
        job = scheduler.resume_job(job_id(source), jobstore="default")
    log.info("scheduled syncs of %r resumed", source)
    return job.next_run_time if job else None


# --- running it ----------------------------------------------------------------------------------

def _take_lock(settings: Settings) -> int | None:
    """The scheduler lock's fd, or None when another scheduler (any process) holds it."""
    lock_dir = settings.data_dir / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / "scheduler.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def scheduler_pid(settings: Settings) -> int | None:
    """The pid of the live process running the scheduler for this data dir, if any.

    Read from the pid the holder wrote into the lock file (cleared on a clean stop), not by
    probing the lock: a probe holds the lock for an instant and could make a scheduler that
    starts at that moment believe another one runs.
    """
    path = settings.data_dir / "locks" / "scheduler.lock"
    try:
        pid = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # the holder crashed; its lock went with it
    except PermissionError:
        pass  # alive, another user's
    return pid


def start_scheduler(settings: Settings) -> BackgroundScheduler | None:
    """Start the background scheduler in this process (what `ragbot serve` calls).

    Returns None, having logged why, when `scheduler.run_in_serve` is false or another process
    already runs the scheduler for this data dir. Stop it with `scheduler.shutdown()`.
    """
    if not settings.scheduler.run_in_serve:
        log.info("scheduler not started here (scheduler.run_in_serve is false)")
        return None
    return _start(settings)


def _start(settings: Settings, announce: bool = True) -> BackgroundScheduler | None:
    key = str(settings.data_dir)
    with _running_lock:
        if key in _running:
            return _running[key][0]  # type: ignore[return-value]
        fd = _take_lock(settings)
        if fd is None:
            (log.warning if announce else log.debug)(
                "scheduler not started here: another process (pid %s) runs it for %s",
                scheduler_pid(settings) or "?", settings.data_dir)
            return None
        scheduler = build_scheduler(settings, background=True)

        def on_shutdown(_event) -> None:
            with _running_lock:
                if _running.get(key, (None,))[0] is scheduler:
                    del _running[key]
            os.ftruncate(fd, 0)  # no pid: nobody runs it
            os.close(fd)  # releases the lock

        scheduler.add_listener(on_shutdown, EVENT_SCHEDULER_SHUTDOWN)
        try:
            scheduler.start()
        except BaseException:
            os.close(fd)
            raise
        # Registered only once started: pause/resume use it, and a stopped APScheduler cannot
        # see the jobs in its stores.
        _running[key] = (scheduler, fd)
    scheduled = job_states(settings)
    log.info("scheduler started: %d scheduled source(s)%s", len(scheduled),
             "".join(f"; {j.source}: {'paused' if j.paused else j.next_run}" for j in
                     scheduled.values()))
    return scheduler


def run_forever(settings: Settings, stop: threading.Event, *,
                on_standby=lambda pid: None) -> None:
    """`ragbot scheduler`: run the scheduler until `stop` is set, then wait for a running sync.

    While another process holds the scheduler lock this stands by, polling every
    `STANDBY_POLL_S`, and takes over when that process stops (`on_standby(pid)` is called once).
    """
    scheduler = None
    announced = False
    while not stop.is_set():
        scheduler = _start(settings, announce=False)
        if scheduler is not None:
            break
        if not announced:
            on_standby(scheduler_pid(settings))
            announced = True
        stop.wait(STANDBY_POLL_S)
    if scheduler is None:
        return
    try:
        while not stop.wait(1.0):  # a timed wait, so signal handlers run promptly
            pass
    finally:
        scheduler.shutdown(wait=True)
