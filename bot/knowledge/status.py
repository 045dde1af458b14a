"""Per-source sync status: the data behind `ragbot status` and `/ragadmin` (renderers only format).

Health, in order of precedence:
- "syncing": a run is in progress right now (its run row says running and the source's sync
  lease is held; a "running" row whose lease lapsed was interrupted, e.g. the process was killed);
- "disabled": `enabled: false` in the config;
- "paused": its schedule is paused (`ragbot scheduler` pause / `/ragadmin`);
- "failing": the latest finished run failed (runs "skipped" because another process was
  syncing do not count);
- "never synced": no run has succeeded yet;
- "ok".
Staleness is the time since the last successful sync: the index can be at most that far behind
the source. `last_fetched` is how many page bodies the last finished sync read from the source
(an unchanged page's are not read where the source can say what changed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from bot.config import Settings
from bot.knowledge import alerts, state
from bot.knowledge.index import Index
from bot.knowledge.triggers import describe

HEALTHS = ("ok", "failing", "never synced", "paused", "syncing", "disabled")


@dataclass
class SourceStatus:
    name: str
    type: str
    visibility: str
    enabled: bool
    health: str  # one of HEALTHS
    schedule: str | None  # "every 30m, jitter 60s"; None: synced only on demand
    paused: bool
    syncing: bool
    next_run: datetime | None
    last_success: datetime | None  # when the last successful run finished
    last_run: datetime | None  # when the latest run started (any status)
    last_run_status: str | None  # ok | failed | skipped | running | interrupted
    last_error: str | None  # of the latest failed run (also shown when healthy again)
    last_error_at: datetime | None
    failures_in_row: int
    alerted: bool  # a failure alert went out and no recovery since
    documents: int
    chunks: int
    stale_s: float | None  # seconds since last_success
    last_fetched: int | None = None  # page bodies the last finished sync read from the source
    # (item, reason) of what the latest finished run left out (a link out of the folder, a
    # file name that is not UTF-8, a page over max_page_mb): named so someone can fix them.
    skipped_items: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        if data["stale_s"] is not None:
            data["stale_s"] = round(data["stale_s"])
        return data


def _latest(engine, source: str, *statuses: str) -> dict | None:
    runs = state.sync_runs
    query = select(runs).where(runs.c.source == source).order_by(runs.c.id.desc()).limit(1)
    if statuses:
        query = query.where(runs.c.status.in_(statuses))
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    row = dict(row)
    row["started_at"], row["finished_at"] = state.aware(row["started_at"]), state.aware(
        row["finished_at"])
    return row


def source_status(index: Index | Settings, now: datetime | None = None) -> list[SourceStatus]:
    """One SourceStatus per configured source, in config order."""
    index = index if isinstance(index, Index) else Index(index)
    settings = index.settings
    now = now or datetime.now(timezone.utc)
    engine = index.engine
    counts = state.page_counts(engine)
    jobs = index.schedules()
    alerted = alerts.outstanding(engine)
    result = []
    for source in settings.sources:
        name = source.name
        latest = _latest(engine, name)
        latest_real = _latest(engine, name, "running", "ok", "failed")  # skipped runs aside
        last_failed = _latest(engine, name, "failed")
        last_done = _latest(engine, name, "ok", "failed")
        streak = alerts.failure_streak(engine, name)
        syncing = bool(latest_real and latest_real["status"] == "running"
                       and index.is_syncing(name))
        run_status = latest["status"] if latest else None
        if run_status == "running" and not syncing:
            run_status = "interrupted"
        scheduled = source.enabled and source.schedule is not None
        job = jobs.get(name) if scheduled else None
        paused = bool(job and job.paused)
        last_success = index.last_success(name)
        if syncing:
            health = "syncing"
        elif not source.enabled:
            health = "disabled"
        elif paused:
            health = "paused"
        elif streak.failures:
            health = "failing"
        elif last_success is None:
            health = "never synced"
        else:
            health = "ok"
        documents, chunks = counts.get(name, (0, 0))
        finished = _latest(engine, name, "ok", "failed")
        skipped_items = state.run_skips(engine, finished["id"]) if finished else []
        result.append(SourceStatus(
            name=name, type=source.type, visibility=source.visibility, enabled=source.enabled,
            health=health, schedule=describe(source.schedule) if source.schedule else None,
            paused=paused, syncing=syncing, next_run=job.next_run if job else None,
            last_success=last_success, last_run=latest["started_at"] if latest else None,
            last_run_status=run_status,
            last_error=last_failed["error"] if last_failed else None,
            last_error_at=last_failed["finished_at"] if last_failed else None,
            failures_in_row=streak.failures, alerted=name in alerted,
            documents=documents, chunks=chunks,
            stale_s=(now - last_success).total_seconds() if last_success else None,
            last_fetched=last_done["fetched"] if last_done else None,
            skipped_items=skipped_items))
    return result


def span(seconds: float | None) -> str:
    """A duration for people: "45 seconds", "3 hours", "2 days"."""
    if seconds is None:
        return "-"
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{int(seconds)} second{'s' if int(seconds) != 1 else ''}"


def until(when: datetime | None, now: datetime | None = None) -> str:
    """"in 12 minutes", "now" (due), or "-" (no run scheduled)."""
    if when is None:
        return "-"
    seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return "now" if seconds < 1 else f"in {span(seconds)}"
