"""The extractive composer: a short answer built only from sentences of the retrieved passages.

Every sentence of the draft is copied from a passage and carries that passage's `[n]`; passages
are numbered in order of first use. Nothing is paraphrased, so nothing can be invented: the
citations are correct by construction. Units are scored by embedding similarity to the question
plus a small bonus for the passage's retrieval rank and for shared keywords, then the best few
are kept in reading order (passage by passage, in the order the page has them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.answering.lexical import tokenize
from bot.answering.sentences import split_units
from bot.answering.types import Citation, Passage

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
    position: int
    text: str
    score: float = 0.0


def _keyword_overlap(question_terms: set[str], text: str) -> float:
    if not question_terms:
        return 0.0
    return len(question_terms & set(tokenize(text))) / len(question_terms)


def compose(question: str, question_vector: np.ndarray, passages: list[Passage], embed_many,
            *, max_sentences: int, max_passages: int) -> Draft | None:
    """A cited draft from the top passages, or None when no sentence is worth quoting.

    `embed_many(texts) -> list[vector]` embeds the candidate units (one batched call).
    """
    candidates: list[_Candidate] = []
    seen: set[str] = set()
    for rank, passage in enumerate(passages[:max_passages]):
        for unit in split_units(passage.text):
            key = " ".join(unit.text.lower().split())
            if key in seen:  # chunk overlap repeats sentences; quote each once
                continue
            seen.add(key)
            text = unit.text if len(unit.text) <= MAX_UNIT_CHARS else \
                unit.text[:MAX_UNIT_CHARS].rsplit(" ", 1)[0] + " ..."
            candidates.append(_Candidate(rank, unit.position, text))
    if not candidates:
        return None
    vectors = np.asarray(embed_many([c.text for c in candidates]), dtype=np.float32)
    similarity = vectors @ question_vector
    terms = set(tokenize(question))
    for cand, sim in zip(candidates, similarity):
        cand.score = float(sim) + 0.15 * _keyword_overlap(terms, cand.text) - 0.03 * cand.passage_rank
    ranked = sorted(candidates, key=lambda c: -c.score)
    best = ranked[0].score
    chosen = [c for c in ranked[:max_sentences] if c.score >= best - 0.12]
    chosen.sort(key=lambda c: (c.passage_rank, c.position))

    numbers = CitationNumbers(passages)
    sentences = [f"{end_sentence(cand.text)} [{numbers.number(cand.passage_rank)}]"
                 for cand in chosen]
    return Draft(text=" ".join(sentences), citations=numbers.citations, best_score=best)
