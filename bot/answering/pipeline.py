"""The one answer pipeline: question -> retrieve (scoped, hybrid) -> compose (cited draft) -> tone.

`ragbot ask`, `ragbot eval` and the Slack bot all call `Pipeline.answer`, so an answer in Slack
and in the terminal for the same question and config are the same answer. Build one Pipeline per
process: it holds the loaded models (embedding model, tone model) and the lexical index.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Collection, Sequence

from bot.answering.compose import missing_line
from bot.answering.llm import composer_for
from bot.answering.retrieve import Retriever
from bot.answering.types import (NO_INDEX, NO_MATCH, NO_SOURCES, PRIVATE_ONLY, Answer, Passage,
                                 QuestionError)
from bot.config import Settings
from bot.knowledge import state

# A question leans on the previous one when it is elliptical ("and on Linux?") or refers back
# ("does that apply to contractors?"); a new, self-contained question must not drag the last
# topic into its retrieval.
_FOLLOW_UP = re.compile(
    r"^\s*(and|or|but|also|what about|how about|what if|same for|ok(ay)?,? (and|what|how))\b"
    r"|\b(it|its|that|this|those|these|they|them|there|one|ones)\b", re.IGNORECASE)
FOLLOW_UP_MAX_WORDS = 12  # a short question in a thread is read together with the previous one


def is_follow_up(question: str) -> bool:
    words = question.split()
    if len(words) <= 3:
        return True
    return len(words) <= FOLLOW_UP_MAX_WORDS and bool(_FOLLOW_UP.search(question))


# Weight of the rare-term coverage bonus in the answerability score; chosen with
# bench/calibrate_abstention.py on the demo questions.
COVERAGE_WEIGHT = 0.3


def check_question(question: str, max_chars: int) -> str:
    text = " ".join((question or "").split())
    if not text:
        raise QuestionError("The question is empty: type what you want to know, e.g. "
                            "\"how do I reset my VPN token?\"")
    if len(text) > max_chars:
        raise QuestionError(f"The question is {len(text):,} characters long; the limit is "
                            f"{max_chars:,}. Ask about one thing at a time, in a sentence or two.")
    return text


class Pipeline:
    def __init__(self, settings: Settings, *, tone=None) -> None:
        self.settings = settings
        self._retriever: Retriever | None = None
        self._tone = tone
        self._tone_loaded = tone is not None
        self._lock = threading.Lock()

    @property
    def retriever(self) -> Retriever:
        with self._lock:
            if self._retriever is None:
                self._retriever = Retriever(self.settings)
            return self._retriever

    @property
    def tone(self):
        """The tone stage, loaded once per process; None when `tone.enabled` is false."""
        with self._lock:
            if not self._tone_loaded:
                if self.settings.tone.enabled:
                    from bot.tone.stage import load_tone_stage

                    self._tone = load_tone_stage(self.settings)
                self._tone_loaded = True
            return self._tone

    def warm_up(self) -> None:
        """Load every model now (serve calls this before taking traffic)."""
        self.retriever.embed("warm up")
        _ = self.tone

    def answer(self, question: str, *, sources: Collection[str] | None = None,
               history: Sequence[str] = ()) -> Answer:
        """Answer `question` from `sources` (names; None: every configured source).

        `history` holds earlier questions of the same thread, oldest first. Raises
        QuestionError for an unusable question; never raises for "no answer": that is an
        Answer with `abstained=True` and a `reason`.
        """
        started = time.perf_counter()
        question = check_question(question, self.settings.answer.max_question_chars)
        answer = self._answer(question, None if sources is None else set(sources), history)
        answer.latency_ms = (time.perf_counter() - started) * 1000
        return answer

    def _answer(self, question: str, allowed: set[str] | None, history: Sequence[str]) -> Answer:
        cfg = self.settings
        retriever = self.retriever
        counts = state.page_counts(retriever.engine)
        index_time = retriever.index.last_success()
        if not counts:
            return Answer(question, text="", abstained=True, reason=NO_INDEX,
                          index_updated_at=index_time)
        if allowed is not None and not allowed:
            return Answer(question, text="", abstained=True, reason=NO_SOURCES,
                          index_updated_at=index_time)
        query = question
        if history and is_follow_up(question):
            query = f"{history[-1]} {question}"
        vector = retriever.embed(query)
        passages = retriever.search(query, sources=allowed, query_vector=vector)
        _fill_updated(retriever.engine, passages)
        score = self.answerability(query, passages)
        retriever.expand(passages, cfg.retrieval.passages, cfg.retrieval.neighbours)
        answer = self.compose_answer(question, vector, passages, score)
        answer.index_updated_at = index_time
        if answer.abstained:
            if allowed is not None and self._matches_elsewhere(query, vector, allowed):
                answer.reason, answer.text = PRIVATE_ONLY, ""  # not "the wiki lacks it"
            return answer
        self._apply_tone(answer)
        return answer

    def compose_answer(self, question: str, vector, passages: list[Passage], score: float, *,
                       embed_many=None) -> Answer:
        """The cited answer from retrieved (and expanded) passages whose answerability is
        `score`, or an abstention (NO_MATCH) with the nearest pages. No tone stage here."""
        cfg = self.settings
        draft = None
        if score >= cfg.retrieval.min_score:
            draft = composer_for(cfg.answer)(
                question, vector, passages, embed_many or self.retriever.embed_many,
                max_sentences=cfg.answer.max_sentences, max_passages=cfg.retrieval.passages,
                idf=self.retriever.idf)
        if draft is None or draft.gap:
            # what the wiki lacks ("The wiki covers X but doesn't mention Y.") when it can be
            # said; the terminal and Slack show it in place of the generic line
            read = passages[:cfg.retrieval.passages]
            text = draft.gap if draft else missing_line(question, read, self.retriever.idf)
            return Answer(question, text=text or "", abstained=True, reason=NO_MATCH,
                          retrieved=passages, nearest=_nearest_pages(passages))
        return Answer(question, text=draft.text, draft=draft.text, citations=draft.citations,
                      retrieved=passages)

    def answerability(self, query: str, passages: list[Passage]) -> float:
        """Best dense similarity among the passages read, plus a bonus for covering the question's
        rare terms; compared with `retrieval.min_score` (calibrated by
        bench/calibrate_abstention.py)."""
        top = passages[:self.settings.retrieval.passages]
        if not top:
            return 0.0
        dense = max(p.dense for p in top)
        return dense + COVERAGE_WEIGHT * self.retriever.coverage(query, top)

    def _matches_elsewhere(self, query, vector, allowed: set[str]) -> bool:
        """Would a source this asker may not use have answered? (Said, never quoted.)"""
        others = {s.name for s in self.settings.sources} - allowed
        if not others:
            return False
        hidden = self.retriever.search(query, sources=others, query_vector=vector,
                                       k=self.settings.retrieval.passages)
        return self.answerability(query, hidden) >= self.settings.retrieval.min_score

    def _apply_tone(self, answer: Answer) -> None:
        stage = self.tone
        if stage is None:
            answer.tone_reason = "tone stage disabled (tone.enabled: false)"
            return
        outcome = stage.rewrite(answer.draft)
        answer.text, answer.toned, answer.tone_reason = outcome.text, outcome.accepted, outcome.reason
        answer.tone_ms = outcome.latency_ms


def _fill_updated(engine, passages: list[Passage]) -> None:
    rows = state.pages_by_id(engine, {p.page_key for p in passages})
    for p in passages:
        row = rows.get(p.page_key)
        p.updated_at = row.updated_at if row else None


def _nearest_pages(passages: list[Passage], n: int = 3) -> list[Passage]:
    seen: set[tuple[str, str]] = set()
    out: list[Passage] = []
    for p in passages:
        if p.page_key not in seen:
            seen.add(p.page_key)
            out.append(p)
        if len(out) == n:
            break
    return out
