"""Schedules as triggers, on fixed clocks: cron numbering, intervals, quiet hours, jitter, zones,
and the config errors a typo gets."""

from __future__ import annotations

import pickle
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, ScheduleConfig, parse_settings
from bot.knowledge.triggers import build_trigger
from bot.timefmt import cron_trigger, crontab_days

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def fires(trigger, start: datetime, n: int) -> list[datetime]:
    """The next n fire times after `start`, fed back as APScheduler does (previous -> next)."""
    out, previous = [], None
    for _ in range(n):
        previous = trigger.get_next_fire_time(previous, start if previous is None else previous)
        out.append(previous)
    return out


def schedule(**kw) -> ScheduleConfig:
    return ScheduleConfig(**{"jitter_s": 0, **kw})


def test_cron_weekdays_use_crontab_numbering_not_apschedulers() -> None:
    # Saturday 2024-06-01. Crontab 1-5 is Monday..Friday; raw APScheduler 3.x would read Tue..Sat.
    got = fires(cron_trigger("0 9 * * 1-5", "UTC"), datetime(2024, 6, 1, tzinfo=UTC), 5)
    assert [d.strftime("%a %H:%M") for d in got] == ["Mon 09:00", "Tue 09:00", "Wed 09:00",
                                                      "Thu 09:00", "Fri 09:00"]
    sundays = fires(cron_trigger("30 7 * * 0", "UTC"), datetime(2024, 6, 1, tzinfo=UTC), 2)
    assert [d.strftime("%a %d") for d in sundays] == ["Sun 02", "Sun 09"]
    assert crontab_days("7") == crontab_days("0") == "sun"
    assert crontab_days("*/2") == "tue,thu,sat,sun"  # 0,2,4,6
    assert crontab_days("MON-fri") == crontab_days("1-5")


def test_every_two_hours_on_weekdays_from_the_brief() -> None:
    got = fires(build_trigger(schedule(cron="0 */2 * * 1-5"), "UTC"),
                datetime(2024, 6, 7, 21, 30, tzinfo=UTC), 3)  # Friday evening
    assert got == [datetime(2024, 6, 7, 22, 0, tzinfo=UTC), datetime(2024, 6, 10, 0, 0, tzinfo=UTC),
                   datetime(2024, 6, 10, 2, 0, tzinfo=UTC)]


def test_interval_counts_from_its_start() -> None:
    start = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    trigger = build_trigger(schedule(every="30m"), "UTC", start=start)
    assert fires(trigger, start, 3) == [start + timedelta(minutes=m) for m in (30, 60, 90)]


def test_quiet_hours_defer_to_the_end_of_the_window_and_collapse_runs() -> None:
    start = datetime(2024, 6, 1, 21, 0, tzinfo=BERLIN)
    trigger = build_trigger(schedule(every="20m", quiet_hours="22:00-06:00"), "Europe/Berlin",
                            start=start)
    got = [d.astimezone(BERLIN).strftime("%d %H:%M") for d in fires(trigger, start, 6)]
    # 21:20, 21:40; 22:00 is inside -> 06:00 next morning (the night's runs are one run), then on.
    assert got == ["01 21:20", "01 21:40", "02 06:00", "02 06:20", "02 06:40", "02 07:00"]


def test_quiet_hours_with_cron_and_a_daytime_window() -> None:
    trigger = build_trigger(schedule(cron="0 * * * *", quiet_hours="09:00-17:30"), "UTC")
    got = fires(trigger, datetime(2024, 6, 3, 7, 30, tzinfo=UTC), 4)
    assert [d.strftime("%H:%M") for d in got] == ["08:00", "17:30", "18:00", "19:00"]


def test_quiet_hours_are_wall_clock_in_the_scheduler_timezone_across_dst() -> None:
    # Berlin leaves summer time on 2024-10-27: 06:00 local is 04:00 UTC before, 05:00 UTC after.
    trigger = build_trigger(schedule(cron="0 3 * * *", quiet_hours="22:00-06:00"), "Europe/Berlin")
    got = fires(trigger, datetime(2024, 10, 25, 12, 0, tzinfo=UTC), 3)
    assert [d.astimezone(UTC).strftime("%d %H:%M") for d in got] == ["26 04:00", "27 05:00",
                                                                      "28 05:00"]
    assert {d.astimezone(BERLIN).strftime("%H:%M") for d in got} == {"06:00"}


def test_jitter_stays_within_bounds_and_never_lands_in_quiet_hours() -> None:
    random.seed(7)
    trigger = build_trigger(schedule(every="2h", quiet_hours="22:00-06:00", jitter_s=120),
                            "UTC", start=datetime(2024, 6, 1, 8, 0, tzinfo=UTC))
    base = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
    got = fires(trigger, base, 12)
    for time in got:
        assert not (time.hour >= 22 or time.hour < 6), time
    assert base + timedelta(hours=2) < got[0] <= base + timedelta(hours=2, seconds=120)
    offsets = {(later - earlier).total_seconds() for earlier, later in zip(got, got[1:])
               if later - earlier < timedelta(hours=3)}
    assert len(offsets) > 1 and all(7200 <= o <= 7320 for o in offsets)  # 2h plus 0..120 s


def test_jitter_moves_a_run_pushed_into_quiet_hours_to_the_window_end(monkeypatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda lo, hi: hi)
    start = datetime(2024, 6, 1, 21, 0, tzinfo=UTC)
    trigger = build_trigger(schedule(every="59m", quiet_hours="22:00-06:00", jitter_s=300),
                            "UTC", start=start)
    assert trigger.get_next_fire_time(None, start) == datetime(2024, 6, 2, 6, 5, tzinfo=UTC)


def test_cron_hours_follow_the_configured_zone() -> None:
    trigger = build_trigger(schedule(cron="0 9 * * *"), "Europe/Berlin")
    summer = trigger.get_next_fire_time(None, datetime(2024, 7, 1, tzinfo=UTC))
    winter = trigger.get_next_fire_time(None, datetime(2024, 12, 1, tzinfo=UTC))
    assert summer.astimezone(UTC).hour == 7 and winter.astimezone(UTC).hour == 8


def test_trigger_pickles_as_the_job_store_keeps_it() -> None:
    trigger = build_trigger(schedule(cron="15 6 * * 1-5", quiet_hours="22:00-06:00",
                                     jitter_s=30), "Europe/Berlin")
    copy = pickle.loads(pickle.dumps(trigger))
    now = datetime(2024, 6, 1, tzinfo=UTC)
    random.seed(1)
    a = trigger.get_next_fire_time(None, now)
    random.seed(1)
    assert copy.get_next_fire_time(None, now) == a
    assert str(copy) == "cron 15 6 * * 1-5, quiet 22:00-06:00, jitter 30s (Europe/Berlin)"


@pytest.mark.parametrize(("schedule_data", "message"), [
    ({"every": "30 minutes"}, "sources.0.schedule.every: '30 minutes' is not a duration"),
    ({"every": "20s"}, "shorter than one minute"),
    ({"cron": "0 */2 * *"}, "has 4 field(s); a crontab line has 5: minute, hour"),
    ({"cron": "0 25 * * *"}, "sources.0.schedule.cron: cron '0 25 * * *' is not valid"),
    ({"cron": "0 9 * * 8"}, "day of week '8' is out of range"),
    ({"cron": "0 9 * * fri-mon"}, "runs backwards"),
    ({"every": "1h", "quiet_hours": "10pm-6am"}, 'must look like "22:00-06:00"'),
    ({"every": "1h", "quiet_hours": "24:00-06:00"}, "does not exist on a 24-hour clock"),
    ({"every": "1h", "cron": "0 * * * *"}, "exactly one of `every` or `cron`"),
    ({"every": "1h", "jitter": 5}, "sources.0.schedule.jitter: unknown key"),
])
def test_schedule_errors_name_the_key_and_the_fix(schedule_data, message) -> None:
    data = {"sources": [{"name": "wiki", "type": "folder", "path": ".", "schedule": schedule_data}]}
    with pytest.raises(ConfigError) as exc:
        parse_settings(data, Path("/tmp"))
    assert message in str(exc.value)


@pytest.mark.parametrize(("scheduler", "message"), [
    ({"timezone": "Europe/Berln"}, "scheduler.timezone: unknown time zone 'Europe/Berln'"),
    ({"alert_after_failures": 0}, "scheduler.alert_after_failures"),
    ({"misfire_grace": 5}, "scheduler.misfire_grace: unknown key"),
])
def test_scheduler_section_errors(scheduler, message) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_settings({"scheduler": scheduler}, Path("/tmp"))
    assert message in str(exc.value)


def test_scheduler_defaults() -> None:
    settings = parse_settings({}, Path("/tmp"))
    assert (settings.scheduler.timezone, settings.scheduler.misfire_grace_s,
            settings.scheduler.alert_after_failures, settings.scheduler.run_in_serve) == (
                "UTC", 600, 3, True)
