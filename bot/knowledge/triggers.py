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
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.timefmt import parse_duration

_DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]  # crontab numbering
_DOW_PART = re.compile(r"^(?:(\*)|([a-z]{3}|\d)(?:-([a-z]{3}|\d))?)(?:/(\d+))?$")
_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")


def _day_number(token: str) -> int:
    if token.isdigit():
        value = int(token)
        if value > 7:
            raise ValueError(f"day of week {token!r} is out of range (0-7, 0 and 7 are Sunday)")
        return value % 7
    if token not in _DAY_NAMES:
        raise ValueError(f"day of week {token!r} is not a day (use 0-7 or sun, mon, ... sat)")
    return _DAY_NAMES.index(token)


def crontab_days(field: str) -> str:
    """A crontab day-of-week field -> APScheduler's (day names, so no numbering mix-up)."""
    field = field.strip().lower()
    if field in {"*", "?"}:
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        match = _DOW_PART.match(part)
        if not match:
            raise ValueError(f"day of week {part!r} is not understood (use e.g. 1-5, mon-fri, "
                             "0,6 or */2)")
        star, first, last, step = match.groups()
        step_n = int(step) if step else 1
        if step_n < 1:
            raise ValueError(f"day of week step in {part!r} must be at least 1")
        if star:
            lo, hi = 0, 6
        else:
            lo = _day_number(first)
            hi = (7 if last == "7" else _day_number(last)) if last else lo
            if last and hi < lo:
                raise ValueError(f"day of week range {part!r} runs backwards; write it as two "
                                 "parts, e.g. fri-sat,sun")
            if not last and step:
                hi = 6
        days.update(d % 7 for d in range(lo, hi + 1, step_n))
    # APScheduler's day names are the same three letters; order Monday first for readability.
    return ",".join(_DAY_NAMES[d] for d in sorted(days, key=lambda d: (d - 1) % 7))


def cron_trigger(expr: str, timezone: str | tzinfo) -> CronTrigger:
    """A standard 5-field crontab line as a CronTrigger; ValueError says what is wrong."""
    fields = str(expr).split()
    if len(fields) != 5:
        raise ValueError(f"cron {expr!r} has {len(fields)} field(s); a crontab line has 5: "
                         f"{', '.join(_CRON_FIELDS)} (e.g. \"0 */2 * * 1-5\")")
    minute, hour, day, month, dow = fields
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                           day_of_week=crontab_days(dow), timezone=timezone)
    except ValueError as exc:
        raise ValueError(f"cron {expr!r} is not valid: {exc}") from None


@dataclass(frozen=True)
class QuietWindow:
    start: time
    end: time

    def contains(self, local: datetime) -> bool:
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def end_after(self, local: datetime) -> datetime:
        """The first end of the window after `local` (aware, same zone)."""
        for days in range(2):
            candidate = datetime.combine(local.date() + timedelta(days=days), self.end,
                                         tzinfo=local.tzinfo)
            if candidate > local:
                return candidate
        raise AssertionError("unreachable: an end time of day always comes within two days")

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_quiet_hours(text: str) -> QuietWindow:
    match = _QUIET.match(str(text))
    if not match:
        raise ValueError(f"quiet_hours {text!r} must look like \"22:00-06:00\" (HH:MM-HH:MM, "
                         "24-hour clock, in scheduler.timezone)")
    h1, m1, h2, m2 = map(int, match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"quiet_hours {text!r} has a time that does not exist on a 24-hour clock")
    window = QuietWindow(time(h1, m1), time(h2, m2))
    if window.start == window.end:
        raise ValueError(f"quiet_hours {text!r} starts and ends at the same time")
    return window


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
