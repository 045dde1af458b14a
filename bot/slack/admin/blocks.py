"""`/ragadmin` replies as Block Kit: pure functions of data, tested directly.

Same rules as bot/slack/blocks.py: every message is `{"text": fallback, "blocks": [...]}`; every
piece of config, wiki or connector text (source names, errors, channel names, typed words) goes
through `mrkdwn.safe`; sections stay under Slack's 3,000 characters (`blocks.split_text`) and a
message under 50 blocks (long lists end with "... and N more", pointing at the CLI). Replies are
sent ephemeral by the caller; nothing here decides where a message goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.config import Settings, SourceConfig
from bot.knowledge.triggers import describe
from bot.knowledge.status import SourceStatus, span, until
from bot.knowledge.sync import SyncResult
from bot.slack.admin.commands import SUMMARY, USAGE, UsageError
from bot.slack.blocks import BLOCK_LIMIT, fallback, split_text
from bot.slack.mrkdwn import safe
from bot.timefmt import ago

Message = dict[str, Any]

ERROR_LIMIT = 300  # characters of a sync error shown in Slack; `ragbot status` has the rest
HEALTH_ICON = {"ok": ":large_green_circle:", "failing": ":red_circle:",
               "never synced": ":white_circle:", "paused": ":double_vertical_bar:",
               "syncing": ":arrows_counterclockwise:", "disabled": ":heavy_minus_sign:"}


def _message(first_line: str, lines: Sequence[str] = (), *, more_hint: str = "") -> Message:
    """`first_line` and `lines` (mrkdwn, already safe) as sections within Slack's limits."""
    text = "\n".join([first_line, *lines])
    pieces = split_text(text)
    if len(pieces) > BLOCK_LIMIT:
        pieces = pieces[:BLOCK_LIMIT - 1] + [f"… and more{more_hint}"]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": p}} for p in pieces]
    return {"text": fallback(first_line), "blocks": blocks}


def _short(text: str | None, limit: int = ERROR_LIMIT) -> str:
    text = " ".join((text or "unknown error").split())
    return safe(text if len(text) <= limit else text[:limit - 1] + "…")


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 60 else span(value)


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"*{safe(n)}*" for n in names)


# -- help, usage, refusals ---------------------------------------------------------------------

def help_message() -> Message:
    lines = [f"`{safe(USAGE[name])}` — {safe(SUMMARY[name])}" for name in USAGE]
    return _message("*`/ragadmin`: sync status and resyncs, for ragbot's admins*", lines
                    + ["Replies are visible only to you; every command is written to the audit "
                       "log (`ragbot audit`)."])


def usage_message(error: UsageError) -> Message:
    lines = []
    if error.known_sources:
        lines.append(f"Configured sources: {_names(error.known_sources)}")
    if error.usage:
        lines.append(f"Usage: `{safe(error.usage)}`")
    else:
        lines.append("Commands: " + ", ".join(f"`{name}`" for name in USAGE)
                     + " (`/ragadmin help` explains them)")
    text = safe(error.message)
    return _message(f":pencil2: {text[0].upper()}{text[1:]}.", lines)


def refused_message(user: str, reason: str | None = None) -> Message:
    why = f" ({safe(reason)})" if reason else ""
    return _message(f":no_entry: `/ragadmin` is only for ragbot's admins{why}. Nothing was run.",
                    [f"To become one, ask an admin to add your user id `{safe(user)}` to "
                     "`admins.users` in the bot's config."])


def disabled_message(source: str) -> Message:
    return _message(f":heavy_minus_sign: *{safe(source)}* is disabled (`enabled: false` in the "
                    "config), so it is not synced. Enable it in the config and restart the bot.")


def error_message(error_id: str) -> Message:
    return _message(f":boom: That failed on the bot's side (error id `{safe(error_id)}`); the "
                    "bot's log has the details.")


# -- status, sources, history ------------------------------------------------------------------

SKIPS_SHOWN = 5


def status_line(row: SourceStatus, now: datetime | None = None) -> str:
    icon = HEALTH_ICON.get(row.health, ":grey_question:")
    health = row.health + (f" ({row.failures_in_row}× in a row)" if row.health == "failing" else "")
    synced = f"last sync {ago(row.last_success, now)}" if row.last_success else "never synced"
    if row.paused:
        next_run = "schedule paused"
    elif not row.schedule or not row.enabled:
        next_run = "on demand only"
    elif row.next_run is None:
        next_run = "next run: not planned (no scheduler has run yet)"
    else:
        next_run = f"next run {until(row.next_run, now)}"
    fetched = "" if row.last_fetched is None else \
        f", {row.last_fetched} fetched by the last sync"
    line = (f"{icon} *{safe(row.name)}* — {health} · {synced} · {row.documents} documents, "
            f"{row.chunks} chunks{fetched} · {next_run}")
    if row.last_error:
        line += f"\n      last error {ago(row.last_error_at, now)}: {_short(row.last_error)}"
    for item, reason in row.skipped_items[:SKIPS_SHOWN]:
        line += f"\n      skipped `{safe(item)}`: {_short(reason)}"
    if len(row.skipped_items) > SKIPS_SHOWN:
        line += (f"\n      … and {len(row.skipped_items) - SKIPS_SHOWN} more skipped "
                 "(`ragbot status` lists them)")
    return line


def status_message(rows: Sequence[SourceStatus], *, scheduler_running: bool,
                   now: datetime | None = None) -> Message:
    if not rows:
        return _message(":information_source: No sources are configured (`sources:` in the "
                        "config).")
    lines = [status_line(r, now) for r in rows]
    if any(r.schedule and r.enabled for r in rows) and not scheduler_running:
        lines.append(":warning: The scheduler is not running, so scheduled syncs do not happen "
                     "(`ragbot serve` or `ragbot scheduler` runs it).")
    return _message(f"*Sources* ({len(rows)})", lines, more_hint=" (`ragbot status` lists all)")


def _channel(key: str) -> str:
    if key.startswith(("C", "G")) and key.isalnum():
        return f"<#{key}>"  # Slack shows the channel's name; a channel link notifies nobody
    return safe(key)


def _uses(names: Sequence[str], source: SourceConfig) -> bool:
    return source.name in names or ("*" in names and source.visibility == "public")


def where_used(settings: Settings, source: SourceConfig) -> str:
    """Which conversations may be answered from `source`, per the rules of bot/slack/scope.py."""
    if not source.enabled:
        return "nowhere (disabled)"
    slack = settings.slack
    public = source.visibility == "public"
    places = [_channel(key) for key, names in slack.channels.items() if _uses(names, source)]
    if _uses(slack.default_sources, source):
        places.append("any other channel" if public else "any other private channel")
    dm_users = [user for user, names in slack.dm_sources.users.items() if _uses(names, source)]
    if _uses(slack.dm_sources.default, source):
        places.append("DMs")
    elif dm_users:
        places.append("DMs of " + ", ".join(f"`{safe(u)}`" for u in dm_users))
    text = ", ".join(places) if places else "no conversation"
    if not public and places:
        text += " (private: never in public channels)"
    return text


def sources_message(settings: Settings) -> Message:
    if not settings.sources:
        return _message(":information_source: No sources are configured (`sources:` in the "
                        "config).")
    lines = []
    for s in settings.sources:
        schedule = describe(s.schedule) if s.schedule else "on demand only"
        if s.schedule:
            schedule += f" ({safe(settings.scheduler.timezone)})"
        state = "" if s.enabled else " · *disabled*"
        lines.append(f"*{safe(s.name)}* · {safe(s.type)} · {s.visibility} · {safe(schedule)}"
                     f"{state}\n      used in: {where_used(settings, s)}")
    return _message(f"*Sources* ({len(settings.sources)})", lines,
                    more_hint=" (the config lists all)")


def _run_line(run: dict[str, Any], now: datetime | None) -> str:
    started, finished = run.get("started_at"), run.get("finished_at")
    took = f" · {_seconds((finished - started).total_seconds())}" if started and finished else ""
    kind = f"{safe(run.get('trigger') or '?')}{', full' if run.get('full') else ''}"
    status = run.get("status") or "?"
    line = f"`#{run.get('id')}` {ago(started, now)} · {safe(status)} · {kind}{took}"
    if status == "ok":
        line += (f" · {run.get('added') or 0} added, {run.get('updated') or 0} updated, "
                 f"{run.get('deleted') or 0} deleted")
    elif run.get("error"):
        line += f" · {_short(run['error'], 200)}"
    return line


def history_message(source: str, runs: Sequence[dict[str, Any]],
                    now: datetime | None = None) -> Message:
    if not runs:
        return _message(f":information_source: *{safe(source)}* has no sync runs yet "
                        f"(`/ragadmin resync {safe(source)}` runs one).")
    return _message(f"*Last {len(runs)} sync run(s) of {safe(source)}*, newest first",
                    [_run_line(r, now) for r in runs])


# -- pause / resume ----------------------------------------------------------------------------

def paused_message(source: str) -> Message:
    return _message(f":double_vertical_bar: Scheduled syncs of *{safe(source)}* are paused "
                    f"(kept across restarts). `/ragadmin resume {safe(source)}` restarts them; "
                    "`resync` still works meanwhile.")


def resumed_message(source: str, next_run: datetime | None, now: datetime | None = None) -> Message:
    when = f"; next run {until(next_run, now)}" if next_run else ""
    return _message(f":arrow_forward: Scheduled syncs of *{safe(source)}* resumed{when}.")


def schedule_error_message(message: str) -> Message:
    return _message(f":pencil2: {safe(message)}.")


# -- resync ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """How one source's resync ended: a `SyncResult` (ok or failed), or not run (`busy`:
    already syncing elsewhere; `error_id`: the bot itself failed, see the log)."""

    source: str
    result: SyncResult | None = None
    busy: bool = False
    error_id: str | None = None


def _mode(full: bool) -> str:
    return " (full: re-reading every page, removing what the source no longer has)" if full else ""


def resync_started(sources: Sequence[str], full: bool, queued_behind: Sequence[str] = (),
                   busy: Sequence[str] = ()) -> Message:
    """The ack of a resync. `busy`: asked for but already syncing here (not started again)."""
    what = f"*{safe(sources[0])}*" if len(sources) == 1 else (
        f"{len(sources)} sources ({_names(sources)})")
    lines = [f"{_names(busy)} {'is' if len(busy) == 1 else 'are'} already syncing; not started "
             "again."] if busy else []
    if queued_behind:
        return _message(f":hourglass: Resync of {what} queued{_mode(full)}: it starts when the "
                        f"resync of {_names(queued_behind)} is done.", lines)
    return _message(f":arrows_counterclockwise: Resyncing {what}…{_mode(full)}", lines)


def already_syncing_message(sources: Sequence[str]) -> Message:
    return _message(f":hourglass: {_names(sources)} {'is' if len(sources) == 1 else 'are'} "
                    "already syncing; no second resync was started. `/ragadmin status` shows "
                    "when it is done.")


def _outcome_line(o: Outcome) -> str:
    name = f"*{safe(o.source)}*"
    if o.busy:
        return f":hourglass: {name}: already syncing elsewhere; not started again"
    if o.error_id or o.result is None:
        return f":boom: {name}: the bot failed to run it (error id `{safe(o.error_id or '?')}`)"
    r = o.result
    if not r.ok:
        return f":x: {name} failed after {_seconds(r.duration_s)}: {_short(r.error)}"
    line = (f":white_check_mark: {name} in {_seconds(r.duration_s)}: {r.added} added, "
            f"{r.updated} updated, {r.deleted} deleted ({r.skipped} unchanged; "
            f"{r.chunks_embedded} chunks embedded, {r.chunks_deleted} removed)")
    if r.skipped_items:
        first = r.skipped_items[0]
        line += (f"\n      {len(r.skipped_items)} item(s) skipped, e.g. "
                 f"{safe(first.source_id)}: {_short(first.reason, 150)}")
    return line


def resync_progress(sources: Sequence[str], full: bool, finished: Sequence[Outcome],
                    current: str, done: int, total: int, elapsed_s: float) -> Message:
    """The message while a resync runs: sources finished so far, and the current one's embedding."""
    pct = f" ({100 * done // total}%)" if total else ""
    lines = [_outcome_line(o) for o in finished]
    lines.append(f":arrows_counterclockwise: *{safe(current)}*: embedding {done}/{total} "
                 f"chunks{pct}")
    head = f"*{safe(sources[0])}*" if len(sources) == 1 else f"{len(sources)} sources"
    return _message(f":arrows_counterclockwise: Resyncing {head}…{_mode(full)} "
                    f"{_seconds(elapsed_s)} so far", lines)


def resync_finished(outcomes: Sequence[Outcome], full: bool, elapsed_s: float) -> Message:
    if len(outcomes) == 1 and outcomes[0].busy:
        return already_syncing_message([outcomes[0].source])
    good = all(o.result is not None and o.result.ok for o in outcomes)
    icon = ":white_check_mark:" if good else ":warning:"
    kind = "Full resync" if full else "Resync"
    if len(outcomes) == 1:
        o = outcomes[0]
        if o.result is not None and o.result.ok:
            r = o.result
            head = (f"{icon} {kind} of *{safe(o.source)}* done in {_seconds(r.duration_s)}: "
                    f"{r.added} added, {r.updated} updated, {r.deleted} deleted")
            rest = [f"{r.skipped} unchanged; {r.chunks_embedded} chunks embedded, "
                    f"{r.chunks_deleted} removed"]
            if r.skipped_items:
                rest.append(_outcome_line(o).split("\n", 1)[1].strip())
            return _message(head + ".", rest)
        return _message(_outcome_line(o))
    failed = sum(1 for o in outcomes if not (o.result is not None and o.result.ok))
    head = (f"{icon} {kind} of {len(outcomes)} sources done in {_seconds(elapsed_s)}"
            + (f"; {failed} did not succeed" if failed else ""))
    return _message(head + ".", [_outcome_line(o) for o in outcomes])
