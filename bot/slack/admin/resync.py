"""`/ragadmin resync`, off the ack path: replies through the response_url, syncs on a thread.

Threading, and why not the Answerer's pool or a Bolt lazy listener:
- A resync can embed for minutes. On Bolt's listener pool (where lazy listeners run) it would hold
  one of the few threads that also run every action listener, whose acks must come within 3 s;
  in the Answerer's pool it would take a slot from questions. So each resync gets a daemon thread
  of its own (`ragbot-resync`), and resyncs started from Slack run one at a time
  (`_one_at_a_time`): embedding is CPU-bound, two at once only compete for the same cores, which
  is also why the scheduler has a single worker.
- The sync itself is `Index.sync`: the same path as scheduled runs and `ragbot sync`
  (per-source lease, `sync_runs` row with trigger "admin", failure alerts).
- "Already syncing" is answered without starting anything: at once when this bot has the source
  in hand (queued or running), otherwise by the source lease when the run starts (a scheduled run
  or `ragbot sync` in any process holds it); `Index.sync` then raises and no run row is written.
- A resync cut short by a restart (daemon thread) leaves a run row that `status` shows as
  "interrupted"; the next sync of the source redoes it.

Replies: Slack accepts at most 5 messages per response_url, within 30 minutes, and a slash
command's ephemeral reply is not reliably replaced by `replace_original` (Slack may show each
update as a new message). So progress is sparse: at most 3 updates, at least `MIN_UPDATE_S` apart
and only when the resync has gone another quarter of the way; the final result always keeps a use
of its own. If the response_url is gone (expired, used up), the result comes as
`chat.postEphemeral`, and failing that as a DM, so it is never lost.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.config import Settings
from bot.knowledge.index import Index
from bot.knowledge.sync import SyncInProgressError
from bot.slack.admin import blocks as admin_blocks

log = logging.getLogger("ragbot.slack.admin")

RESPONSE_URL_USES = 5  # Slack's limit per response_url
MIN_UPDATE_S = 2.0
MAX_PROGRESS_UPDATES = 3
WEBHOOK_TIMEOUT_S = 10

Message = dict


class Responder:
    """Ephemeral replies to one slash command, through its response_url, counting its uses."""

    def __init__(self, response_url: str | None, client: WebClient, channel: str | None,
                 user: str) -> None:
        self.response_url, self.client = response_url, client
        self.channel, self.user = channel, user
        self.used = 0
        self._lock = threading.Lock()

    @property
    def left(self) -> int:
        return RESPONSE_URL_USES - self.used if self.response_url else 0

    def send(self, message: Message, *, replace: bool = False, final: bool = False) -> bool:
        """Send `message`; a non-final one only while a use stays free for the final reply."""
        with self._lock:
            if self.left > (0 if final else 1):
                self.used += 1
                try:
                    hook = WebhookClient(self.response_url, timeout=WEBHOOK_TIMEOUT_S)
                    response = hook.send_dict({**message, "response_type": "ephemeral",
                                               "replace_original": replace})
                    if response.status_code == 200:
                        return True
                    log.warning("response_url answered %s: %s", response.status_code,
                                (response.body or "")[:200])
                except Exception:  # noqa: BLE001 - fall back below
                    log.warning("response_url POST failed", exc_info=True)
            if not final:
                return False
        return self._fallback(message)

    def _fallback(self, message: Message) -> bool:
        """The final reply when the response_url cannot take it: ephemeral, else a DM."""
        if self.channel:
            try:
                self.client.chat_postEphemeral(channel=self.channel, user=self.user, **message)
                return True
            except Exception:  # noqa: BLE001 - not in the channel, say; try a DM
                log.info("chat.postEphemeral to %s in %s failed; sending a DM", self.user,
                         self.channel, exc_info=True)
        try:
            self.client.chat_postMessage(channel=self.user, unfurl_links=False, **message)
            return True
        except Exception:  # noqa: BLE001
            log.exception("could not deliver a /ragadmin reply to %s", self.user)
            return False


class ProgressThrottle:
    """Which progress callbacks become a Slack update (see the module docstring)."""

    def __init__(self, max_updates: int, *, min_interval_s: float = MIN_UPDATE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_updates = max(0, max_updates)
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._last = clock()  # the "Resyncing..." reply went out just now
        self.sent = 0

    def due(self, fraction: float) -> bool:
        if self.sent >= self.max_updates:
            return False
        now = self._clock()
        if now - self._last < self.min_interval_s:
            return False
        if fraction < (self.sent + 1) / (self.max_updates + 1):
            return False
        self.sent += 1
        self._last = now
        return True


@dataclass
class ResyncJob:
    settings: Settings
    sources: tuple[str, ...]
    full: bool
    responder: Responder
    on_done: Callable[[list[admin_blocks.Outcome]], None] = lambda outcomes: None
    outcomes: list[admin_blocks.Outcome] = field(default_factory=list)


class Resyncs:
    """The resyncs one bot has in hand: which sources are queued or running, one run at a time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock  # progress throttle and elapsed times
        self._one_at_a_time = threading.Lock()
        self._lock = threading.Lock()
        self._in_hand: dict[str, None] = {}  # sources queued or running, oldest first
        self._threads: list[threading.Thread] = []

    def claim(self, sources: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        """Claim the `sources` not in hand yet. Returns (claimed, already in hand, sources other
        resyncs hold, which run first)."""
        with self._lock:
            busy = [s for s in sources if s in self._in_hand]
            claimed = [s for s in sources if s not in self._in_hand]
            ahead = list(self._in_hand)
            self._in_hand.update(dict.fromkeys(claimed))
            return claimed, busy, ahead

    def release(self, *sources: str) -> None:
        with self._lock:
            for source in sources:
                self._in_hand.pop(source, None)

    def start(self, job: ResyncJob) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(job,), name="ragbot-resync",
                                  daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    def join(self, timeout: float | None = None) -> None:
        """Wait for the resyncs in hand (tests, orderly shutdowns)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _run(self, job: ResyncJob) -> None:
        started = self._clock()
        try:
            with self._one_at_a_time:
                throttle = ProgressThrottle(min(MAX_PROGRESS_UPDATES, job.responder.left - 1),
                                            clock=self._clock)
                for i, name in enumerate(job.sources):
                    try:
                        job.outcomes.append(self._one(job, i, name, throttle, started))
                    finally:
                        self.release(name)
        except Exception:  # noqa: BLE001 - the admin must hear back, whatever happened
            error_id = uuid.uuid4().hex[:8]
            log.exception("resync failed (error id %s)", error_id)
            done = {o.source for o in job.outcomes}
            job.outcomes += [admin_blocks.Outcome(s, error_id=error_id)
                             for s in job.sources if s not in done]
        finally:
            for name in job.sources:
                self.release(name)
        job.responder.send(admin_blocks.resync_finished(job.outcomes, job.full,
                                                        self._clock() - started),
                           replace=True, final=True)
        try:
            job.on_done(job.outcomes)
        except Exception:  # noqa: BLE001
            log.exception("recording the resync's outcome failed")

    def _one(self, job: ResyncJob, index: int, name: str, throttle: ProgressThrottle,
             started: float) -> admin_blocks.Outcome:
        n = len(job.sources)

        def progress(done: int, total: int) -> None:
            fraction = (index + (done / total if total else 1.0)) / n
            if throttle.due(fraction):
                job.responder.send(admin_blocks.resync_progress(
                    job.sources, job.full, job.outcomes, name, done, total,
                    self._clock() - started), replace=True)

        try:
            result = Index(job.settings).sync(name, full=job.full, trigger="admin",
                                              progress=progress)
        except SyncInProgressError:
            return admin_blocks.Outcome(name, busy=True)
        except Exception:  # noqa: BLE001 - one source's trouble must not stop the others
            error_id = uuid.uuid4().hex[:8]
            log.exception("resync of %r failed (error id %s)", name, error_id)
            return admin_blocks.Outcome(name, error_id=error_id)
        return admin_blocks.Outcome(name, result=result)
