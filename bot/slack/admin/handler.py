"""`/ragadmin`: admins resync and inspect sources from Slack.

The flow of one command (on a Bolt listener thread; Bolt answers Slack as soon as `ack` is
called, `process_before_response=False`):
1. parse the text (pure) and decide from memory whether the user is an admin (config list, or a
   cached `users.info` answer);
2. ack: with the reply itself when it needs no I/O (help, usage, sources, a refusal, "Resyncing
   handbook..."), else empty, and the reply follows through the response_url. Nothing before the
   ack touches the disk or the network, so the 3-second limit is never at risk;
3. an admin not decided yet is looked up (`users.info`, after the ack);
4. the command runs (status/history/pause/resume here, a resync on its own thread, see
   resync.py) and everything, allowed or refused, is written to the audit log.
Replies are ephemeral: admin noise stays out of channels.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.config import Settings
from bot.knowledge import state
from bot.knowledge.index import Index, ScheduleError
from bot import records as store
from bot.slack.admin import blocks as admin_blocks
from bot.slack.admin.auth import AdminCheck, Decision
from bot.slack.admin.commands import (Help, History, Parsed, Pause, Resume, Resync, Sources,
                                      Status, UsageError, parse)
from bot.slack.admin.resync import Responder, ResyncJob, Resyncs
from bot.slack.mrkdwn import plain

log = logging.getLogger("ragbot.slack.admin")

HISTORY_RUNS = 10


class Reply:
    """The first reply rides on the ack (shown at once, costs no response_url use); later ones
    go through the response_url."""

    def __init__(self, ack: Ack, responder: Responder) -> None:
        self._ack, self.responder = ack, responder
        self.acked = False

    def defer(self) -> None:
        """Ack without a reply (work with I/O follows)."""
        if not self.acked:
            self.acked = True
            self._ack()

    def send(self, message: dict[str, Any]) -> None:
        if not self.acked:
            self.acked = True
            self._ack(response_type="ephemeral", **message)
        else:
            self.responder.send(message, final=True)


class Admin:
    """One bot's `/ragadmin`: its settings, the admin check (with its cache), resyncs in hand."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.index = Index(settings)  # opened on first use: no I/O before the first ack
        self.auth = AdminCheck(settings.admins)
        self.resyncs = Resyncs()

    @property
    def engine(self):
        return self.index.engine

    # -- the flow -------------------------------------------------------------------------------

    def handle(self, ack: Ack, payload: dict[str, Any], client: WebClient, user: str) -> None:
        text = plain(payload.get("text")).strip()
        parsed = parse(text, [s.name for s in self.settings.sources])
        reply = Reply(ack, Responder(payload.get("response_url"), client,
                                     payload.get("channel_id"), user))
        audit = dict(at=state.utcnow(), user=user, user_name=payload.get("user_name"),
                     team=payload.get("team_id"), channel=payload.get("channel_id"),
                     command=f"{payload.get('command') or '/ragadmin'} {text}".strip(),
                     action=parsed.name)
        decision = self.auth.known(user)
        if decision is None:
            reply.defer()  # users.info may be slow or rate limited: ack first
            decision = self.auth.check(client, user)
        if not decision.allowed:
            reply.send(admin_blocks.refused_message(user, decision.reason))
            self._audit(audit, False, _refusal(decision))
            log.info("/ragadmin refused for %s (%s): %s", user, decision.via, text)
            return
        try:
            self._dispatch(parsed, reply, audit)
        except Exception:  # noqa: BLE001 - the admin gets an error id, the log the traceback
            error_id = uuid.uuid4().hex[:8]
            log.exception("/ragadmin %s failed (error id %s)", text, error_id)
            reply.send(admin_blocks.error_message(error_id))
            self._audit(audit, True, f"error {error_id}")

    def _dispatch(self, parsed: Parsed, reply: Reply, audit: dict[str, Any]) -> None:
        settings = self.settings
        if isinstance(parsed, UsageError):
            reply.send(admin_blocks.usage_message(parsed))
            self._audit(audit, True, f"usage error: {parsed.message}")
        elif isinstance(parsed, Help):
            reply.send(admin_blocks.help_message())
            self._audit(audit, True, "ok")
        elif isinstance(parsed, Sources):
            reply.send(admin_blocks.sources_message(settings))
            self._audit(audit, True, "ok")
        elif isinstance(parsed, Status):
            reply.defer()
            rows = self.index.status()
            reply.send(admin_blocks.status_message(
                rows, scheduler_running=self.index.scheduler_holder() is not None))
            self._audit(audit, True, "ok")
        elif isinstance(parsed, History):
            reply.defer()
            runs = state.recent_runs(self.engine, parsed.source, limit=HISTORY_RUNS)
            reply.send(admin_blocks.history_message(parsed.source, runs))
            self._audit(audit, True, f"ok ({len(runs)} runs)")
        elif isinstance(parsed, (Pause, Resume)):
            reply.defer()
            self._pause_or_resume(parsed, reply, audit)
        elif isinstance(parsed, Resync):
            self._resync(parsed, reply, audit)
        else:  # pragma: no cover - the parser returns nothing else
            raise TypeError(f"unhandled command {parsed!r}")

    def _pause_or_resume(self, command: Pause | Resume, reply: Reply,
                         audit: dict[str, Any]) -> None:
        try:
            if isinstance(command, Pause):
                self.index.pause(command.source)
                message, result = admin_blocks.paused_message(command.source), "paused"
            else:
                next_run = self.index.resume(command.source)
                message = admin_blocks.resumed_message(command.source, next_run)
                result = "resumed" + (f", next run {next_run.isoformat()}" if next_run else "")
        except ScheduleError as exc:
            message, result = admin_blocks.schedule_error_message(str(exc)), f"not done: {exc}"
        reply.send(message)
        self._audit(audit, True, result)

    def _resync(self, command: Resync, reply: Reply, audit: dict[str, Any]) -> None:
        enabled = {s.name for s in self.settings.sources if s.enabled}
        names = tuple(n for n in command.sources if n in enabled)
        if not names:
            if command.all:
                reply.send(admin_blocks.usage_message(UsageError(
                    "no source is enabled, so there is nothing to resync")))
                self._audit(audit, True, "nothing to resync")
            else:
                reply.send(admin_blocks.disabled_message(command.sources[0]))
                self._audit(audit, True, "not done: source disabled")
            return
        claimed, busy, ahead = self.resyncs.claim(names)
        if not claimed:
            reply.send(admin_blocks.already_syncing_message(busy))
            self._audit(audit, True, "not started: already syncing " + ", ".join(busy))
            return
        try:
            reply.send(admin_blocks.resync_started(claimed, command.full, ahead, busy))
            audit_id = self._audit(audit, True, "started", finished=False)
        except BaseException:
            self.resyncs.release(*claimed)
            raise
        job = ResyncJob(self.settings, tuple(claimed), command.full, reply.responder,
                        on_done=self._finisher(audit_id, busy))
        self.resyncs.start(job)

    # -- audit ----------------------------------------------------------------------------------

    def _audit(self, audit: dict[str, Any], allowed: bool, result: str,
               finished: bool = True) -> int | None:
        try:
            return store.audit(self.engine, allowed=allowed, result=result, finished=finished,
                               **audit)
        except Exception:  # noqa: BLE001 - the command itself already happened
            log.exception("could not write the audit log: %s %s", audit, result)
            return None

    def _finisher(self, audit_id: int | None,
                  busy: list[str]) -> Callable[[list[admin_blocks.Outcome]], None]:
        def finish(outcomes: list[admin_blocks.Outcome]) -> None:
            if audit_id is not None:
                skipped = [admin_blocks.Outcome(name, busy=True) for name in busy]
                store.finish_audit(self.engine, audit_id, resync_result(outcomes + skipped))

        return finish


def _refusal(decision: Decision) -> str:
    return f"refused: {decision.reason}" if decision.reason else f"refused: {decision.via}"


def resync_result(outcomes: list[admin_blocks.Outcome]) -> str:
    """The audit log's one-line result of a resync."""
    parts = []
    for o in outcomes:
        if o.busy:
            parts.append(f"{o.source}: already syncing, not started")
        elif o.result is None:
            parts.append(f"{o.source}: error {o.error_id}")
        elif o.result.ok:
            r = o.result
            parts.append(f"{o.source}: ok, {r.added} added, {r.updated} updated, {r.deleted} "
                         f"deleted in {r.duration_s:.1f}s")
        else:
            parts.append(f"{o.source}: failed: {o.result.error}")
    return "; ".join(parts)


def provide_admin() -> Callable[..., None]:
    """Listener middleware giving `/ragadmin` its `Admin` as `context["ragadmin"]`.

    One `Admin` per app (so one admin cache and one resync queue per bot), created on first use
    from the settings the app's Answerer carries (`bot/slack/app.py` puts it in the context).
    """
    holder: dict[str, Admin] = {}
    lock = threading.Lock()

    def provide_ragadmin(context: BoltContext, next: Callable[[], None]) -> None:  # noqa: A002
        with lock:
            if "admin" not in holder:
                holder["admin"] = Admin(context["answerer"].settings)
        context["ragadmin"] = holder["admin"]
        next()

    return provide_ragadmin
