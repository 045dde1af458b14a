"""Scheduled syncs: which jobs exist (matched to the config) and which process runs them.

Where it runs: inside `ragbot serve` (`start_scheduler`, unless `scheduler.run_in_serve: false`)
or alone as `ragbot scheduler` (`run_forever`). Exactly one scheduler runs per database, across
processes and hosts: it holds the `scheduler` lease (bot/knowledge/leases.py), renewed every
third of `scheduler.lease_s`; every other candidate stands by and takes over within `lease_s` of
the holder stopping or dying. APScheduler 3.x cannot share one job store between two running
schedulers: both would fire every job.

Constraints and why:
- Jobs live in a `SQLAlchemyJobStore` on the app database (PostgreSQL for several hosts), so
  schedules, next run times and paused state survive restarts and are one for all replicas. The
  store pickles a job's trigger and arguments and refers to its function by import path: the job
  function is the module-level `run_scheduled_sync`, its arguments plain strings.
- `coalesce=True`, `max_instances=1` and `misfire_grace_time=scheduler.misfire_grace_s`: runs
  missed while no scheduler ran collapse into one (dropped if later than the grace time), and a
  sync still running when its next run comes up makes that run be skipped, never queued. One
  worker thread: embedding is CPU-bound, two syncs at once only compete for the same cores.
- A run is `Index.sync` (alerts included); a source already syncing elsewhere (its `sync:` lease
  is held) is recorded as a "skipped" run, which never feeds a failure alert.
- `sync_jobs` matches the jobs to the config: an unchanged schedule is left as it is (its next
  run time and paused state stay), a changed one is rescheduled and keeps its paused state, and
  jobs of sources that lost their schedule (or were disabled) are removed.
- Pause/resume (`Index.pause`) write the job store from any process; the running scheduler sees
  the change within `HEARTBEAT_S` or `lease_s`, whichever is shorter (APScheduler only re-reads
  its stores when it wakes, and a heartbeat job keeps it waking).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, EVENT_SCHEDULER_START
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import BaseJobStore
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.config import ConfigError, Settings, load_settings
from bot.knowledge.index import JOB_PREFIX, SCHEDULER_LEASE, Index, job_id
from bot.knowledge.leases import Lease
from bot.knowledge.migrations import JOBS_TABLE
from bot.knowledge.triggers import build_trigger, describe

log = logging.getLogger("ragbot.scheduler")

HEARTBEAT_S = 30.0
STANDBY_POLL_S = 5.0

# Settings by reference, for job functions: a job stores only `settings_ref(settings)`.
_settings: dict[str, Settings] = {}
# The scheduler this process runs, per database URL, with the lease it holds.
_running: dict[str, tuple[BaseScheduler, Lease]] = {}
_running_lock = threading.RLock()


class SharedEngineJobStore(SQLAlchemyJobStore):
    """The stock store on ragbot's engine: its table comes from the migrations (start creates
    nothing), and shutdown leaves the engine alone (the process keeps using it)."""

    def __init__(self, engine) -> None:
        super().__init__(engine=engine, tablename=JOBS_TABLE)

    def start(self, scheduler, alias) -> None:
        BaseJobStore.start(self, scheduler, alias)

    def shutdown(self) -> None:
        pass


def now(settings: Settings) -> datetime:
    return datetime.now(ZoneInfo(settings.scheduler.timezone))


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


def _heartbeat() -> None:
    """Does nothing: being due makes APScheduler wake and re-read the job store."""


def build_scheduler(settings: Settings, background: bool = True) -> BaseScheduler:
    """A scheduler over the app database's job store; not started.

    On start it matches its jobs to the config (`sync_jobs`) before running any, so
    `scheduler.start()` (or `start(paused=True)`) is all a caller needs.
    """
    _settings[settings_ref(settings)] = settings
    cls = BackgroundScheduler if background else BlockingScheduler
    scheduler = cls(
        jobstores={"default": Index(settings).job_store(), "memory": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(1), "heartbeat": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": settings.scheduler.misfire_grace_s},
        timezone=ZoneInfo(settings.scheduler.timezone))
    heartbeat = min(HEARTBEAT_S, settings.scheduler.lease_s)
    scheduler.add_job(_heartbeat, "interval", seconds=heartbeat, id="ragbot:heartbeat",
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


def ensure_jobs(index: Index) -> None:
    """Match the stored jobs to the config without running anything (a scheduler started
    paused over the same store, for a pause of a job no scheduler has made yet)."""
    scheduler = build_scheduler(index.settings, background=True)
    scheduler.start(paused=True)  # starts the job stores and runs `sync_jobs`
    scheduler.shutdown(wait=False)


def wake(index: Index) -> None:
    """Make this process's scheduler (if it runs one) re-read its job store now."""
    with _running_lock:
        running = _running.get(index.url)
    if running is not None:
        running[0].wakeup()


# --- the job ------------------------------------------------------------------------------------

def run_scheduled_sync(settings_reference: str, source: str) -> None:
    """The job function (module level, plain-string arguments: the job store pickles them)."""
    try:
        settings = _settings_for(settings_reference)
        settings.source(source)
    except ConfigError as exc:
        log.warning("scheduled sync of %r not run: %s", source, exc)
        return
    Index(settings).sync(source, trigger="schedule")


# --- which process runs it ------------------------------------------------------------------------

def _start(settings: Settings, announce: bool = True) -> BackgroundScheduler | None:
    """Take the scheduler lease and start the scheduler; None when another process holds it."""
    index = Index(settings)
    key = index.url
    with _running_lock:
        if key in _running:
            return _running[key][0]  # type: ignore[return-value]

        def on_lost() -> None:  # this process stalled past lease_s and another took over
            with _running_lock:
                running = _running.get(key)
            if running is not None and running[1] is lease:
                running[0].shutdown(wait=False)

        lease = Lease(index.engine, SCHEDULER_LEASE, settings.scheduler.lease_s, on_lost=on_lost)
        if not lease.try_acquire():  # before building anything: standbys call this every poll
            (log.warning if announce else log.debug)(
                "scheduler not started here: %s runs it", index.scheduler_holder() or "another "
                "process")
            return None
        try:
            scheduler = build_scheduler(settings, background=True)
        except BaseException:
            lease.release()
            raise

        def on_shutdown(_event) -> None:
            with _running_lock:
                if _running.get(key, (None,))[0] is scheduler:
                    del _running[key]
            lease.release()

        scheduler.add_listener(on_shutdown, EVENT_SCHEDULER_SHUTDOWN)
        try:
            scheduler.start()
        except BaseException:
            lease.release()
            raise
        # Registered only once started: `wake` uses it.
        _running[key] = (scheduler, lease)
    scheduled = index.schedules()
    log.info("scheduler started (%s): %d scheduled source(s)%s", lease.holder, len(scheduled),
             "".join(f"; {j.source}: {'paused' if j.paused else j.next_run}" for j in
                     scheduled.values()))
    return scheduler


def _poll_s(settings: Settings) -> float:
    return min(STANDBY_POLL_S, settings.scheduler.lease_s / 3)


class Standby:
    """`ragbot serve`'s scheduler: runs it when this process holds the lease, else stands by
    on a daemon thread and takes over when the holder stops or dies (within `lease_s`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="ragbot-scheduler")
        self.scheduler: BackgroundScheduler | None = None

    def start(self) -> "Standby":
        self._thread.start()
        return self

    def _run(self) -> None:
        announced = False
        while not self._stop.is_set():
            if self.scheduler is None or not self.scheduler.running:
                try:
                    self.scheduler = _start(self.settings, announce=not announced)
                except Exception:  # noqa: BLE001 - the database may be down: try again
                    log.exception("could not start the scheduler; retrying")
                announced = True
            self._stop.wait(_poll_s(self.settings))

    def shutdown(self, wait: bool = False) -> None:
        self._stop.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=wait)


def start_scheduler(settings: Settings) -> Standby | None:
    """Run the scheduler in this process when it can (what `ragbot serve` calls): at once if no
    other process runs it, else as soon as that one stops. None when `scheduler.run_in_serve` is
    false. Stop it with `.shutdown()`."""
    if not settings.scheduler.run_in_serve:
        log.info("scheduler not started here (scheduler.run_in_serve is false)")
        return None
    return Standby(settings).start()


def run_forever(settings: Settings, stop: threading.Event, *,
                on_standby=lambda holder: None) -> None:
    """`ragbot scheduler`: run the scheduler until `stop` is set, then wait for a running sync.

    While another process holds the scheduler lease this stands by, polling, and takes over when
    that process stops (`on_standby(holder)` is called once). If this process loses the lease
    (it stalled past `lease_s`), it stands by again.
    """
    scheduler = None
    announced = False
    while not stop.is_set():
        if scheduler is None or not scheduler.running:
            scheduler = _start(settings, announce=False)
            if scheduler is None and not announced:
                on_standby(Index(settings).scheduler_holder())
                announced = True
        stop.wait(1.0 if scheduler is not None else _poll_s(settings))  # timed: signals run
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=True)
