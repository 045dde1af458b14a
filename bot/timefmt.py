"""Time as people write and read it: spans ("3 days ago") for the terminal and Slack, and the
config's time text (durations "30m", crontab lines, quiet hours "22:00-06:00") parsed with errors
that say what to fix. Pure, below bot.config, so the config validates schedules without importing
the scheduler (bot/knowledge/triggers.py builds the triggers from these). Stored times are UTC: `utcnow`,
and `aware` for what SQLite hands back naive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything ragbot stores is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def ago(when: datetime | None, now: datetime | None = None) -> str:
    if when is None:
        return "update time unknown"
    now = now or datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    seconds = (now - when).total_seconds()
    if seconds < 0:
        return "just now"
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400),
                       ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def parse_duration(text: str) -> float:
    """"30m" / "2h" / "1d" / "45s" / "90" (seconds) -> seconds; ValueError names the format."""
    raw = str(text).strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    try:
        if raw and raw[-1] in units:
            value = float(raw[:-1]) * units[raw[-1]]
        else:
            value = float(raw)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration; use a number with s, m, h, d or w, "
                         "like \"30m\"") from None
    if value <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return value


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
    from apscheduler.triggers.cron import CronTrigger

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
