"""The extractive composer: a short answer built only from sentences of the retrieved passages.

Every sentence of the draft is copied from a passage and carries that passage's `[n]`; passages
are numbered in order of first use. Nothing is paraphrased, so nothing can be invented: the
citations are correct by construction. Units are scored by embedding similarity to the question
plus a small bonus for the passage's retrieval rank and for shared keywords, then the best few
are kept in reading order (passage by passage, in the order the page has them).

A unit is embedded with its page title and heading path in front ("Onboarding > Buddy program:
1 month, meeting once a week."), the same context the chunks carry: on their own, the sentences
that hold an answer are often too short to say what they are about. A question in the wiki (an
FAQ entry, "How far back do our checks run?") is never quoted as an answer: when it is the best
match, the unit after it, its answer, is quoted in its place.

Measured on the handbook dev set (bench/questions/sourcegraph_dev.jsonl, 165 answerable): the
heading context took the share of answers citing a passage that holds the expected span from
0.606 to 0.679, and answers quoting the span itself from 0.418 to 0.491 (0.509 with the FAQ
rule); the untuned hold-out moved 0.657 -> 0.716 and 0.388 -> 0.507.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bot.answering.lexical import tokenize
from bot.answering.reading import TYPE_NOUNS, KeyTerms, carries, expected_type
from bot.answering.sentences import Unit, split_units
from bot.answering.types import Citation, Passage
from bot.knowledge.chunking import heading_line

MAX_UNIT_CHARS = 400


@dataclass(slots=True)
class Draft:
    text: str
    citations: list[Citation]
    best_score: float
    # Why this draft is not what the configured backend would have written (e.g. the LLM
    # endpoint timed out and the extractive composer answered instead); None when it is.
    note: str | None = None
    # Set (with no text) when the passages are about the question's topic but do not hold what
    # it asks for: one line saying what is missing, shown instead of an answer.
    gap: str | None = None


class CitationNumbers:
    """Numbers passages `[1]`, `[2]`, ... in order of first use, as every composer must.

    `number(i)` gives passage `passages[i]` its number (the same one each time it is cited);
    `citations` lists one `Citation` per cited passage, in number order.
    """

    def __init__(self, passages: list[Passage]) -> None:
        self._passages = passages
        self._numbers: dict[int, int] = {}
        self.citations: list[Citation] = []

    def number(self, index: int) -> int:
        if index not in self._numbers:
            passage = self._passages[index]
            self._numbers[index] = len(self._numbers) + 1
            self.citations.append(Citation(n=self._numbers[index], source=passage.source,
                                           source_id=passage.source_id, title=passage.title,
                                           url=passage.url, passage=passage.text,
                                           updated_at=passage.updated_at,
                                           headings=passage.headings))
        return self._numbers[index]


def end_sentence(text: str) -> str:
    """`text` with closing punctuation, so a `[n]` after it reads as the end of a sentence."""
    text = text.rstrip()
    if text and text[-1] not in ".!?:…" and not text.endswith("..."):
        text += "."
    return text


@dataclass(slots=True)
class _Candidate:
    passage_rank: int
    unit: Unit  # what is quoted
    context: str  # page title and heading path, embedded in front of `match`
    match: str  # what is compared with the question: the unit with what it must be read with
    terms: set[str]  # key-term reading: the words of the unit, its lead and its context
    typed: bool = True  # carries the kind of answer the question expects
    fit: float = 1.0  # for an FAQ answer, how well its question matches the one asked
    score: float = 0.0

    @property
    def position(self) -> int:
        return self.unit.position


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_UNIT_CHARS else \
        text[:MAX_UNIT_CHARS].rsplit(" ", 1)[0] + " ..."


def _in_view(unit: Unit, units: list[Unit], *, entry: bool = True) -> list[Unit]:
    """The units a reader needs before `unit` (the sentence its subject is in, its list's
    lead-in, and with `entry` the FAQ question it answers), nearest last."""
    before: list[Unit] = []
    current = unit
    while current.lead is not None and len(before) < 2:
        current = units[current.lead]
        before.insert(0, current)
    if entry and unit.entry is not None and all(u.position != unit.entry for u in before):
        before.insert(0, units[unit.entry])
    return before


class _Passage:
    def __init__(self, passage: Passage) -> None:
        self.opening = passage.chunk == 0 and not passage.headings.count(" > ")
        self.context = heading_line(passage.title, [h for h in passage.headings.split(" > ") if h])
        self.units = split_units(passage.text)


def _opens_page(passage: _Passage, unit: Unit) -> bool:
    """The page's own first sentence, where a page says what it is about."""
    return passage.opening and unit.position == 0


def _faq_fit(unit: Unit, units: list[Unit], keys: KeyTerms) -> float:
    """How much of the question's key terms the FAQ question `unit` answers covers (1 when
    `unit` is not an FAQ answer): an FAQ answer answers its own question, not any other."""
    if unit.entry is None:
        return 1.0
    return keys.coverage(set(tokenize(units[unit.entry].text)))


def _candidates(passages: list[_Passage], kind: str | None, keys: KeyTerms) -> list[_Candidate]:
    candidates: list[_Candidate] = []
    seen: set[str] = set()
    for rank, passage in enumerate(passages):
        context_terms = set(tokenize(passage.context))
        units = passage.units
        for i, unit in enumerate(units):
            key = " ".join(unit.text.lower().split())
            if key in seen:  # chunk overlap repeats sentences; quote each once
                continue
            seen.add(key)
            quoted = unit
            if unit.is_question:  # matched as the question, quoted as its answer
                quoted = units[i + 1] if i + 1 < len(units) else None
                if quoted is None or quoted.is_question or quoted.entry != unit.position:
                    continue  # a question with no answer after it has nothing to quote
            lead = " ".join(u.text for u in _in_view(quoted, units, entry=False)) \
                if MATCH_WITH_LEAD else ""
            match = _shorten(f"{lead} {quoted.text}".strip()) if quoted is unit \
                else _shorten(f"{unit.text} {quoted.text}")
            candidates.append(_Candidate(
                rank, quoted, passage.context, match,
                terms=set(tokenize(f"{lead} {quoted.text}")) | context_terms,
                typed=carries(kind, quoted.text) if kind != "overview" else
                _opens_page(passages[rank], quoted),
                fit=_faq_fit(quoted, units, keys)))
    return candidates


# Tuned on the handbook dev set with bench/compose_replay.py (see the module doc).
MARGIN = 0.15  # units scoring within this of the best may join it
RANK_PENALTY = 0.03  # per retrieval rank of the unit's passage
KEY_WEIGHT = 0.3  # x the IDF-weighted share of the question's key terms a unit covers
TYPE_WEIGHT = 0.1  # bonus for carrying the kind of answer the question asks for
FAQ_PENALTY = 0.1  # x the share of key terms an FAQ answer's own question misses
FAQ_FIT = 0.5  # another page's FAQ answer joins only if its question covers this much
MATCH_WITH_LEAD = True  # a unit is matched with what it must be read with
SHOW_LEAD = True  # ... and quoted with it
# "One answer, not three facts": another page's unit joins only when it scores within
# SECOND_MARGIN of the best, or the chosen units leave more than SECOND_PASSAGE_GAP of the key
# terms uncovered and it covers some (and, with KEY_REQUIRED, it holds a key term). Measured
# strict (SECOND_MARGIN 0, at most 2 pages) it cost dev and demo `cited` (demo 0.824 -> 0.756),
# so by default a close unit of another page still joins.
SECOND_MARGIN = 0.15
SECOND_PASSAGE_GAP = 0.5
KEY_REQUIRED = False
MAX_PASSAGES_USED = 3
# Answer instead with "The wiki covers X but doesn't give <kind>" when no unit carries the
# asked-for kind (or, below 1.0, when a key term with this share of the weight is on no unit).
# Off: on dev the kind rule caught no unanswerable question and cost 2 answerable ones; the
# term rule abstained on 23% of unanswerable questions at 10% of answerable ones.
GAP_ABSTAIN = False
GAP_TERM_SHARE = 1.0  # abstain when a key term with this share of the weight is on no unit


def _score(candidates: list[_Candidate], similarity, keys: KeyTerms) -> None:
    for cand, sim in zip(candidates, similarity):
        cand.score = (float(sim) + KEY_WEIGHT * keys.coverage(cand.terms)
                      + TYPE_WEIGHT * cand.typed - RANK_PENALTY * cand.passage_rank
                      - FAQ_PENALTY * (1.0 - cand.fit))


def _chosen(ranked: list[_Candidate], passages: list[_Passage], keys: KeyTerms,
            max_sentences: int) -> list[_Candidate]:
    """The best unit, then units of its own passage within MARGIN of it (never another FAQ
    entry's answer); a unit of a second passage only while the chosen ones leave more than
    SECOND_PASSAGE_GAP of the key terms uncovered and it covers some of them. Reading order."""
    best = ranked[0]
    chosen = [best]
    covered = set(best.terms)
    quoted = {best.unit.text}
    for cand in ranked[1:]:
        if len(chosen) >= max_sentences or cand.score < best.score - MARGIN:
            break
        if cand.unit.text in quoted:
            continue
        same = [c for c in chosen if c.passage_rank == cand.passage_rank]
        if same:
            if any(c.unit.entry != cand.unit.entry for c in same
                   if c.unit.entry is not None or cand.unit.entry is not None):
                continue  # another FAQ entry's answer: it answers another question
        else:
            used = len({c.passage_rank for c in chosen})
            gap = 1.0 - keys.coverage(covered)
            fills = gap > SECOND_PASSAGE_GAP and keys.coverage(cand.terms - covered) > 0
            close = cand.score >= best.score - SECOND_MARGIN
            if used >= MAX_PASSAGES_USED or not (close or fills) or cand.fit < FAQ_FIT \
                    or (KEY_REQUIRED and keys.weights and not keys.coverage(cand.terms)):
                continue  # another page's unit must add to the answer, not just sit near it
        chosen.append(cand)
        quoted.add(cand.unit.text)
        covered |= cand.terms
    chosen.sort(key=lambda c: (c.passage_rank, c.position))
    return chosen


def _render(chosen: list[_Candidate], passages: list[_Passage], numbers: CitationNumbers) -> str:
    """Each passage's units as one run ending in its `[n]`, with what each must be read with."""
    runs: list[str] = []
    rank = None
    pieces: list[str] = []
    shown: set[int] = set()
    for cand in chosen + [None]:
        if cand is None or cand.passage_rank != rank:
            if pieces:
                runs.append(f"{' '.join(pieces)} [{numbers.number(rank)}]")
            if cand is None:
                break
            rank, pieces, shown = cand.passage_rank, [], set()
        units = passages[rank].units
        for unit in (_in_view(cand.unit, units) if SHOW_LEAD else []) + [cand.unit]:
            if unit.position not in shown:
                shown.add(unit.position)
                pieces.append(end_sentence(_shorten(unit.text)))
    return " ".join(runs)


def _gap(question: str, kind: str | None, keys: KeyTerms, candidates: list[_Candidate],
         passages: list[Passage]) -> str | None:
    """Why the passages cover the topic but not the asked fact, or None when they may hold it."""
    if not GAP_ABSTAIN:
        return None
    topic = passages[0].title
    if kind not in (None, "overview") and not any(c.typed for c in candidates):
        return f"The wiki covers {topic} but doesn't give {TYPE_NOUNS[kind]}."
    if GAP_TERM_SHARE < 1.0:
        present = set().union(*(c.terms for c in candidates))
        total = sum(keys.weights.values()) or 1.0
        absent = [t for t in keys.missing(present) if keys.weights[t] / total >= GAP_TERM_SHARE]
        if absent:
            said = _said_as(absent[0], question)
            return f"The wiki covers {topic} but doesn't mention {said}."
    return None


def missing_line(question: str, passages: list[Passage], idf=None) -> str | None:
    """For an abstention: "The wiki pages nearest to this question don't mention "<word>"."
    when the nearest passages lack one of the question's key terms (the rarest), else None."""
    if not passages:
        return None
    keys = KeyTerms.of(question, idf)
    present = set(tokenize(" ".join(f"{p.title} {p.headings} {p.text}" for p in passages)))
    # the rarest; between equally rare words (both unseen), the longer, more specific one
    absent = sorted(keys.missing(present), key=lambda t: (-keys.weights[t], -len(t)))
    if not absent:
        return None
    return f"The wiki pages nearest to this question don't mention {_said_as(absent[0], question)}."


def _said_as(term: str, question: str) -> str:
    """The question's own word for a (stemmed) key term."""
    for word in re.findall(r"[\w'-]+", question):
        if tokenize(word) == [term]:
            return f'"{word}"'
    return f'"{term}"'


def compose(question: str, question_vector: np.ndarray, passages: list[Passage], embed_many,
            *, max_sentences: int, max_passages: int, idf=None) -> Draft | None:
    """A cited draft from the top passages, or None when no sentence is worth quoting; a draft
    with `gap` set (and no text) when the passages cover the topic but not what was asked.

    `embed_many(texts) -> list[vector]` embeds the candidate units (one batched call);
    `idf(term)` weighs the question's key terms (None: all weigh the same).
    """
    read = [_Passage(p) for p in passages[:max_passages]]
    kind = expected_type(question)
    keys = KeyTerms.of(question, idf)
    candidates = _candidates(read, kind, keys)
    if not candidates:
        return None
    vectors = np.asarray(embed_many([f"{c.context}: {c.match}" for c in candidates]),
                         dtype=np.float32)
    _score(candidates, vectors @ question_vector, keys)
    ranked = sorted(candidates, key=lambda c: -c.score)
    gap = _gap(question, kind, keys, candidates, passages)
    if gap:
        return Draft(text="", citations=[], best_score=ranked[0].score, gap=gap)
    chosen = _chosen(ranked, read, keys, max_sentences)
    numbers = CitationNumbers(passages)
    text = _render(chosen, read, numbers)
    return Draft(text=text, citations=numbers.citations, best_score=ranked[0].score)
