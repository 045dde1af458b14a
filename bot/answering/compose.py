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

from dataclasses import dataclass

import numpy as np

from bot.answering.lexical import tokenize
from bot.answering.sentences import split_units
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
    position: int  # where `text` sits in its passage
    text: str  # what is quoted
    context: str  # page title and heading path, embedded in front of `match`
    match: str  # what is compared with the question: `text`, or for a wiki question the question
    score: float = 0.0


def _is_question(text: str) -> bool:
    return text.rstrip().endswith("?")


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_UNIT_CHARS else \
        text[:MAX_UNIT_CHARS].rsplit(" ", 1)[0] + " ..."


def _candidates(passages: list[Passage]) -> list[_Candidate]:
    candidates: list[_Candidate] = []
    seen: set[str] = set()
    for rank, passage in enumerate(passages):
        context = heading_line(passage.title, [h for h in passage.headings.split(" > ") if h])
        units = split_units(passage.text)
        for i, unit in enumerate(units):
            key = " ".join(unit.text.lower().split())
            if key in seen:  # chunk overlap repeats sentences; quote each once
                continue
            seen.add(key)
            quoted = unit
            if _is_question(unit.text):  # matched as the question, quoted as its answer
                quoted = units[i + 1] if i + 1 < len(units) else None
                if quoted is None or _is_question(quoted.text):
                    continue  # a question with no answer after it has nothing to quote
            candidates.append(_Candidate(rank, quoted.position, _shorten(quoted.text), context,
                                         match=_shorten(unit.text)))
    return candidates


def _chosen(ranked: list[_Candidate], max_sentences: int, margin: float) -> list[_Candidate]:
    """The best `max_sentences` within `margin` of the best, each quoted once (a wiki question
    and the unit after it both quote that unit), in reading order."""
    best = ranked[0].score
    chosen: list[_Candidate] = []
    quoted: set[str] = set()
    for cand in ranked[:max_sentences]:
        if cand.score < best - margin:
            break
        if cand.text not in quoted:
            quoted.add(cand.text)
            chosen.append(cand)
    chosen.sort(key=lambda c: (c.passage_rank, c.position))
    return chosen


def _keyword_overlap(question_terms: set[str], text: str) -> float:
    if not question_terms:
        return 0.0
    return len(question_terms & set(tokenize(text))) / len(question_terms)


def compose(question: str, question_vector: np.ndarray, passages: list[Passage], embed_many,
            *, max_sentences: int, max_passages: int) -> Draft | None:
    """A cited draft from the top passages, or None when no sentence is worth quoting.

    `embed_many(texts) -> list[vector]` embeds the candidate units (one batched call).
    """
    candidates = _candidates(passages[:max_passages])
    if not candidates:
        return None
    vectors = np.asarray(embed_many([f"{c.context}: {c.match}" for c in candidates]),
                         dtype=np.float32)
    similarity = vectors @ question_vector
    terms = set(tokenize(question))
    for cand, sim in zip(candidates, similarity):
        cand.score = float(sim) + 0.15 * _keyword_overlap(terms, cand.match) - 0.03 * cand.passage_rank
    ranked = sorted(candidates, key=lambda c: -c.score)
    best = ranked[0].score
    chosen = _chosen(ranked, max_sentences, margin=0.12)

    numbers = CitationNumbers(passages)
    sentences = [f"{end_sentence(cand.text)} [{numbers.number(cand.passage_rank)}]"
                 for cand in chosen]
    return Draft(text=" ".join(sentences), citations=numbers.citations, best_score=best)
