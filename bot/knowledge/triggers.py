"""When a source syncs: its `schedule:` config as an APScheduler trigger (pure; no scheduler here).

- `every: "30m"` is an `IntervalTrigger`, `cron: "0 */2 * * 1-5"` a `CronTrigger`, both in the
  scheduler's timezone (`scheduler.timezone`, default UTC): cron fields and quiet hours are wall
  clock times of that zone, so "09:00" stays 09:00 across daylight-saving changes.
- Cron day-of-week numbers follow crontab (0 and 7 are Sunday, 1-5 Monday to Friday).
  APScheduler 3.x reads numbers as 0 = Monday (its issue #286, fixed only in 4.x), so `1-5` would
  silently mean Tuesday to Saturday; numbers are rewritten to day names before APScheduler sees
  them.
- `quiet_hours: "22:00-06:00"`: no scheduled run starts inside the window; a run that falls inside
  is deferred to the end of the window (plus jitter), and the runs the trigger would have fired in
  the window collapse into that one. The window may cross midnight; start == end is refused.
- `jitter_s`: each run starts up to that many seconds late (uniformly), so sources on the same
  schedule, or every worker after a quiet window, do not all start embedding at once. As with
  APScheduler's own `jitter`, an interval counts from the previous (jittered) run.

`ScheduleTrigger` wraps the plain trigger instead of using APScheduler's own `jitter=` so jitter is
applied once, before the quiet-hours check (a jittered time must not slip into the window). It is
stored pickled in the job store, so it stays a plain module-level class with a versioned state.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

# The config's time text is parsed in bot.timefmt (bot.config validates with it too).
from bot.timefmt import QuietWindow, cron_trigger, parse_duration, parse_quiet_hours


class ScheduleTrigger(BaseTrigger):
    """A plain interval/cron trigger plus jitter and a quiet window (see the module docstring)."""

    _VERSION = 1

    def __init__(self, inner: BaseTrigger, timezone: tzinfo, jitter_s: int = 0,
                 quiet: QuietWindow | None = None, description: str = "") -> None:
        self.inner, self.timezone, self.jitter_s = inner, timezone, jitter_s
        self.quiet, self.description = quiet, description

    def get_next_fire_time(self, previous_fire_time, now):
        fire = self.inner.get_next_fire_time(previous_fire_time, now)
        if fire is None:
            return None
        fire = self._jitter(fire)
        # Bounded: one deferral normally suffices; a second only if jitter lands in a next window.
        for _ in range(3):
            if self.quiet is None:
                break
            local = fire.astimezone(self.timezone)
            if not self.quiet.contains(local):
                break
            fire = self._jitter(self.quiet.end_after(local))
        return fire

    def _jitter(self, fire: datetime) -> datetime:
        if not self.jitter_s:
            return fire
        return fire + timedelta(seconds=random.uniform(0, self.jitter_s))

    def __getstate__(self):
        return {"version": self._VERSION, "inner": self.inner, "timezone": self.timezone,
                "jitter_s": self.jitter_s, "quiet": self.quiet, "description": self.description}

    def __setstate__(self, state):
        if state.get("version", 1) > self._VERSION:
            raise ValueError(f"ScheduleTrigger state version {state['version']} is newer than "
                             "this ragbot; upgrade ragbot")
        self.inner, self.timezone = state["inner"], state["timezone"]
        self.jitter_s = state["jitter_s"]
        self.quiet, self.description = state["quiet"], state["description"]

    def __str__(self) -> str:
        return self.description

    def __repr__(self) -> str:
        return f"<ScheduleTrigger {self.description}>"


def describe(schedule) -> str:
    """"every 30m" / "cron 0 */2 * * 1-5", plus quiet hours: the human form and the job's
    fingerprint (a job whose description is unchanged keeps its next run time across restarts)."""
    text = f"every {schedule.every}" if schedule.every else f"cron {schedule.cron}"
    if schedule.quiet_hours:
        text += f", quiet {parse_quiet_hours(schedule.quiet_hours)}"
    if schedule.jitter_s:
        text += f", jitter {schedule.jitter_s}s"
    return text


def build_trigger(schedule, timezone: str, *, start: datetime | None = None) -> ScheduleTrigger:
    """The trigger for a `ScheduleConfig`. `start` anchors an interval (default: now, so the
    first run comes one interval after the job is created)."""
    tz = ZoneInfo(timezone)
    if schedule.every:
        seconds = parse_duration(schedule.every)
        inner: BaseTrigger = IntervalTrigger(seconds=seconds, timezone=tz,
                                             start_date=(start + timedelta(seconds=seconds))
                                             if start else None)
    else:
        inner = cron_trigger(schedule.cron, tz)
    quiet = parse_quiet_hours(schedule.quiet_hours) if schedule.quiet_hours else None
    return ScheduleTrigger(inner, tz, schedule.jitter_s, quiet,
                           f"{describe(schedule)} ({timezone})")
