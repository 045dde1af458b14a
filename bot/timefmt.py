"""Human time spans ("3 days ago"), shared by the terminal and Slack renderings."""

from __future__ import annotations

from datetime import datetime, timezone


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
