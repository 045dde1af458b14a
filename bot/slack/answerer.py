"""Answering a question from Slack, off the ack path.

Threading model, and why:
- Bolt acknowledges an event before its listener runs (`process_before_response=False`: events
  are auto-acked, then the listener runs on Bolt's listener pool). The listener only parses the
  event and calls `Answerer.take`, which puts it on an in-memory intake queue and returns, so
  Bolt's pool is free at once (the acks of actions, which wait for their listener to call
  `ack()`, never queue behind anything slow).
- One intake thread claims each event in the store (dedupe), checks thread ownership, puts the
  "working" reaction on the question and queues it. One thread rather than one per listener:
  in a burst, the HTTP threads that send acks then compete with one thread for the GIL, not
  ten (bench/slack_load.py: the app's own p50 share of a burst ack fell from ~20 ms to <1 ms).
- Questions run on a small pool of our own (`workers`, default 4) so Slack I/O overlaps: posting
  one answer (which may sleep through a 429's Retry-After) while the next question is being
  answered. The model part (`pipeline.answer`: embedding, retrieval, composing, tone) is gated by
  a semaphore of `model_slots` (default 1): on 2 cores torch already uses both for one question,
  so two at once only makes both slower and starves the HTTP threads.
- Work waiting is bounded (`max_pending` questions, `INTAKE_LIMIT` events): past it the asker is
  told the bot is busy instead of a queue growing without limit. Nobody is ever left without a
  reply: every question ends in an answer, an abstention with its reason, the question's own
  problem, "busy", "restarting", or an error id.

Dedupe: `msg:<channel>:<ts>` (one message can arrive as `app_mention` and as `message`) and
`ev:<event_id>` (Slack's retries of one event, X-Slack-Retry-Num) are claimed together in the
store; the first claim wins, across threads, processes and restarts. A claim is made before the
answer: an event whose process dies mid-answer is not answered by its retry (the asker sees the
reaction stay and asks again) — preferred to a double answer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answering.pipeline import Pipeline, check_question
from bot.answering.types import NO_MATCH, PRIVATE_ONLY, QuestionError
from bot.config import Settings
from bot.knowledge.index import Index
from bot import records as store
from bot.slack import blocks
from bot.slack.incoming import Question
from bot.slack.scope import DIRECT_MESSAGE, PRIVATE_TYPES, Conversation, allowed_sources

log = logging.getLogger("ragbot.slack")

CHANNEL_INFO_TTL_S = 600.0
INTAKE_LIMIT = 1000  # events waiting to be claimed; past it the asker is told to retry


class Answerer:
    def __init__(self, settings: Settings, pipeline: Pipeline, *, workers: int = 4,
                 model_slots: int = 1, max_pending: int = 200) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.engine = Index(settings).engine
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ragbot-answer")
        self._model = threading.BoundedSemaphore(model_slots)
        self._slots = threading.BoundedSemaphore(max_pending)
        self._pending = 0
        self._closing = False
        self._lock = threading.Lock()
        self._conversations: dict[str, tuple[float, Conversation]] = {}
        self._intake: queue.Queue = queue.Queue(maxsize=INTAKE_LIMIT)
        self._intake_thread = threading.Thread(target=self._intake_loop, name="ragbot-intake",
                                               daemon=True)
        self._intake_thread.start()
        self._private = frozenset(s.name for s in settings.sources if s.visibility == "private")

    @property
    def pending(self) -> int:
        return self._pending

    # -- on a Bolt listener thread, after the ack ------------------------------------------

    def take(self, question: Question, client: WebClient, event_id: str | None) -> None:
        """Hand `question` to the intake thread; never blocks the Bolt listener thread."""
        try:
            self._intake.put_nowait((question, client, event_id))
        except queue.Full:
            log.warning("intake full; telling %s in %s to retry", question.user, question.channel)
            self._post(client, question, [blocks.busy_message()], self._reply_ts(question, None))

    # -- on the intake thread --------------------------------------------------------------------

    def _intake_loop(self) -> None:
        while (item := self._intake.get()) is not None:
            try:
                self._admit(*item)
            except Exception:  # e.g. the database is unwritable: still never silent
                question, client, _ = item
                self._report_error(question, client, self._reply_ts(question, None))

    def _admit(self, question: Question, client: WebClient, event_id: str | None) -> bool:
        """Claim, signal and queue `question`; False when it is a duplicate or not for the bot.

        One thread does this for every event, so a burst of events costs the HTTP threads
        (the acks) one competitor for the GIL instead of one per listener thread.
        """
        if question.follow_up_only and store.thread_questions(
                self.engine, question.channel, question.thread_ts or "") is None:
            return False  # a thread reply in a thread the bot does not own
        keys = [f"msg:{question.channel}:{question.ts}"] + ([f"ev:{event_id}"] if event_id else [])
        if not store.claim(self.engine, *keys):
            log.info("event %s / message %s already taken (a retry or a twin); ignored",
                     event_id, question.ts)
            return False
        self._react("reactions_add", client, question)
        if not self._slots.acquire(blocking=False):
            log.warning("answer queue full; telling %s in %s to retry", question.user,
                        question.channel)
            self._post(client, question, [blocks.busy_message()], self._reply_ts(question, None))
            self._react("reactions_remove", client, question)
            return True
        with self._lock:
            self._pending += 1
        self._pool.submit(self._run, question, client)
        return True

    # -- on an answer worker -----------------------------------------------------------------

    def _run(self, question: Question, client: WebClient) -> None:
        reply_ts = None
        try:
            if self._closing:  # shutting down: say so rather than leave the question hanging
                self._post(client, question, [blocks.restarting_message()],
                           self._reply_ts(question, None))
                return
            conversation = self.conversation(question, client)
            reply_ts = self._reply_ts(question, conversation)
            self._answer(question, client, conversation, reply_ts)
        except Exception:
            self._report_error(question, client, reply_ts or self._reply_ts(question, None))
        finally:
            self._react("reactions_remove", client, question)
            with self._lock:
                self._pending -= 1
            self._slots.release()

    def _answer(self, question: Question, client: WebClient, conversation: Conversation,
                reply_ts: str | None) -> None:
        sources = allowed_sources(self.settings, conversation, question.user)
        try:
            text = check_question(question.text, self.settings.answer.max_question_chars)
        except QuestionError as exc:
            self._post(client, question, [blocks.question_error_message(str(exc))], reply_ts)
            return
        history: list[str] = []
        if reply_ts:  # the thread's earlier questions; the thread becomes the bot's
            history = store.thread_questions(self.engine, question.channel, reply_ts) or []
            store.add_thread_question(self.engine, question.channel, reply_ts, text)
        with self._model:
            answer = self.pipeline.answer(text, sources=sources, history=history)
        if answer.reason == PRIVATE_ONLY and conversation.type not in PRIVATE_TYPES \
                and not self.settings.slack.private_hint_in_public:
            answer.reason = NO_MATCH  # the hint would tell everyone the topic exists somewhere
        if answer.abstained:
            messages = [blocks.abstain_message(answer)]
        else:
            answer_id = uuid.uuid4().hex
            store.save_answer(self.engine, store.AnswerRecord(
                id=answer_id, question=text, answer=answer.text, draft=answer.draft,
                citations=[{"n": c.n, "source": c.source, "source_id": c.source_id,
                            "title": c.title, "url": c.url, "passage": c.passage}
                           for c in answer.citations],
                channel=question.channel, thread_ts=reply_ts, asker=question.user))
            messages = blocks.answer_messages(answer, answer_id,
                                              private_sources=self._private & sources)
        self._post(client, question, messages, reply_ts, strict=True)

    # -- helpers ------------------------------------------------------------------------------

    def conversation(self, question: Question, client: WebClient) -> Conversation:
        """The conversation's type (and name, for `#name` scope keys); unknown counts as public."""
        if question.channel_type == DIRECT_MESSAGE or question.channel.startswith("D"):
            return Conversation(question.channel, DIRECT_MESSAGE)
        needs_name = any(key.startswith("#") for key in self.settings.slack.channels)
        if question.channel_type and not needs_name:
            return Conversation(question.channel, question.channel_type)
        cached = self._conversations.get(question.channel)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            info = client.conversations_info(channel=question.channel)["channel"]
        except SlackApiError as exc:
            log.warning("conversations.info(%s) failed (%s); treating it as a public channel",
                        question.channel, exc.response.get("error"))
            return Conversation(question.channel, question.channel_type)
        kind = ("im" if info.get("is_im") else "mpim" if info.get("is_mpim")
                else "group" if info.get("is_private") else "channel")
        result = Conversation(question.channel, question.channel_type or kind, info.get("name"))
        self._conversations[question.channel] = (time.monotonic() + CHANNEL_INFO_TTL_S, result)
        return result

    @staticmethod
    def _reply_ts(question: Question, conversation: Conversation | None) -> str | None:
        """In a thread when asked in one or in a channel; at the top level of a DM."""
        if question.in_thread:
            return question.thread_ts
        is_dm = (conversation.type if conversation else question.channel_type) == DIRECT_MESSAGE
        return None if is_dm or question.channel.startswith("D") else question.ts

    def _post(self, client: WebClient, question: Question, messages: list[dict],
              reply_ts: str | None, *, strict: bool = False) -> None:
        """Post `messages` in order; `strict`: a failure raises (so the asker gets an error id
        instead of half an answer), else it is logged (the error message itself, "busy")."""
        for message in messages:
            try:
                client.chat_postMessage(channel=question.channel, thread_ts=reply_ts,
                                        unfurl_links=False, unfurl_media=False, **message)
            except Exception:
                if strict:
                    raise
                log.exception("posting the reply to %s in %s failed", question.user,
                              question.channel)
                return

    def _report_error(self, question: Question, client: WebClient, reply_ts: str | None) -> None:
        """Never silent: the asker gets a short error id, the log the traceback under that id."""
        error_id = uuid.uuid4().hex[:8]
        log.exception("answering failed (error id %s) for %s in %s", error_id, question.user,
                      question.channel)
        self._post(client, question, [blocks.error_message(error_id)], reply_ts)

    def _react(self, method: str, client: WebClient, question: Question) -> None:
        try:
            getattr(client, method)(channel=question.channel, timestamp=question.ts,
                                    name=self.settings.slack.working_reaction)
        except SlackApiError as exc:  # already_reacted, no_reaction, missing scope: cosmetic
            log.debug("%s failed: %s", method, exc.response.get("error"))
        except Exception:
            log.warning("%s failed", method, exc_info=True)

    def close(self, wait: bool = True) -> None:
        """Stop taking work: questions being answered finish; queued ones are told to ask again."""
        if self._intake_thread.is_alive():
            self._intake.put(None)
            self._intake_thread.join(10 if wait else 0)
        self._closing = True
        self._pool.shutdown(wait=wait)
