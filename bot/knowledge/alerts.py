"""Failure-streak alerts: one message to `slack.admin_channel` per streak, one when it recovers.

The streak is read from `sync_runs` (runs with status ok/failed; "skipped" runs, which only mean
another process was already syncing, neither extend nor end a streak), so it counts failures of
every trigger, `ragbot sync` included. Whether the current streak was already announced is kept in
`sync_alerts` (one row per source while an alert is outstanding, keyed by the streak's first failed
run). The row is inserted before the message is sent, under the table's primary key, so two
processes finishing runs at once announce a streak at most once; a message that fails to send is
logged and the row removed, so the next failure tries again.

Slack is used only when SLACK_BOT_TOKEN is set and `slack.admin_channel` is configured; otherwise
the alert goes to the log (warning), which is also where every alert is logged in any case.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (Column, DateTime, Integer, MetaData, String, Table, delete, func, insert,
                        select)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.config import Settings
from bot.knowledge import state

log = logging.getLogger("ragbot.alerts")

DEFAULT_API_URL = "https://slack.com/api/"

metadata = MetaData()
sync_alerts = Table(
    "sync_alerts", metadata,
    Column("source", String(64), primary_key=True),
    Column("streak_start_run", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("alerted_at", DateTime(timezone=True), nullable=False),
)

Notify = Callable[[Settings, str], None]


@dataclass(frozen=True)
class Streak:
    failures: int  # consecutive failed runs since the last success
    first_run: int | None  # id of the first of them
    last_error: str | None


def failure_streak(engine: Engine, source: str) -> Streak:
    runs = state.sync_runs
    with engine.connect() as conn:
        last_ok = conn.execute(select(runs.c.id).where(runs.c.source == source,
                                                       runs.c.status == "ok")
                               .order_by(runs.c.id.desc()).limit(1)).scalar()
        query = (select(runs.c.id, runs.c.error).where(runs.c.source == source,
                                                       runs.c.status == "failed")
                 .order_by(runs.c.id))
        if last_ok is not None:
            query = query.where(runs.c.id > last_ok)
        failed = conn.execute(query).all()
    if not failed:
        return Streak(0, None, None)
    return Streak(len(failed), failed[0].id, failed[-1].error)


def post_to_admin_channel(settings: Settings, text: str) -> None:
    """Send `text` to `slack.admin_channel` when Slack is configured; log it either way."""
    log.warning("%s", text)
    token = os.environ.get("SLACK_BOT_TOKEN")
    channel = settings.slack.admin_channel
    if not token or not channel:
        log.info("alert not sent to Slack: %s", "SLACK_BOT_TOKEN is not set" if not token
                 else "slack.admin_channel is not configured")
        return
    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    base_url = (os.environ.get("SLACK_API_URL") or DEFAULT_API_URL).rstrip("/") + "/"
    client = WebClient(token=token, base_url=base_url, timeout=30)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    client.chat_postMessage(channel=channel, text=text, unfurl_links=False, unfurl_media=False)


def check(settings: Settings, source: str, notify: Notify = post_to_admin_channel, *,
          engine: Engine | None = None) -> str | None:
    """After a run of `source` finished: send the streak alert or the recovery note if one is
    due. Returns "alert", "recovered" or None (nothing to say). Never raises for Slack errors."""
    if engine is None:
        from bot.knowledge.index import Index

        engine = Index(settings).engine
    threshold = settings.scheduler.alert_after_failures
    streak = failure_streak(engine, source)
    with engine.connect() as conn:
        row = conn.execute(select(sync_alerts).where(sync_alerts.c.source == source)).first()

    if streak.failures == 0:
        if row is None:
            return None
        with engine.begin() as conn:
            gone = conn.execute(delete(sync_alerts).where(sync_alerts.c.source == source)).rowcount
        if gone:
            runs = state.sync_runs
            with engine.connect() as conn:
                failed = conn.execute(select(func.count()).where(
                    runs.c.source == source, runs.c.status == "failed",
                    runs.c.id >= row.streak_start_run)).scalar()
            _send(settings, notify, f":white_check_mark: Source *{source}* synced again after "
                  f"{failed or row.failures} failed run(s) in a row.")
            return "recovered"
        return None

    announced = row is not None and row.streak_start_run == streak.first_run
    if streak.failures < threshold or announced:
        return None
    try:
        with engine.begin() as conn:
            if row is not None:  # an older streak whose recovery was never seen: replace it
                conn.execute(delete(sync_alerts).where(sync_alerts.c.source == source))
            conn.execute(insert(sync_alerts).values(
                source=source, streak_start_run=streak.first_run, failures=streak.failures,
                alerted_at=state.utcnow()))
    except IntegrityError:  # another process announced this streak just now
        return None
    text = (f":rotating_light: Source *{source}* failed {streak.failures} times in a row. "
            f"Last error: {_short(streak.last_error)}\n"
            f"Details: `ragbot status`; retry: `ragbot sync --source {source}`.")
    if not _send(settings, notify, text):
        with engine.begin() as conn:
            conn.execute(delete(sync_alerts).where(sync_alerts.c.source == source))
        return None
    return "alert"


def _short(error: str | None, limit: int = 500) -> str:
    if not error:
        return "unknown"
    return error if len(error) <= limit else error[:limit - 1] + "…"


def _send(settings: Settings, notify: Notify, text: str) -> bool:
    try:
        notify(settings, text)
        return True
    except Exception:  # noqa: BLE001 - an alert that cannot be sent must not fail the sync job
        log.exception("could not send the sync alert to Slack")
        return False


def outstanding(engine: Engine) -> set[str]:
    """Sources with an alert sent and no recovery yet."""
    with engine.connect() as conn:
        return set(conn.execute(select(sync_alerts.c.source)).scalars())
