"""BM25 over every chunk in the index, rebuilt when the index generation changes.

Dense retrieval with a small embedding model misses exact tokens people type (error codes, tool
names, "SEV2", "401k"); BM25 catches them. Built in memory from the Chroma collection itself so
there is no second store to keep in step: ~1 s for 9k chunks, then a few ms a query.
"""

from __future__ import annotations

import re
import threading

import numpy as np
from rank_bm25 import BM25Okapi

_TOKEN = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves hey hi hello thanks thank please pls know anyone someone
tell get got i'm im does do doing can could would should wondering quick question ask need want
much many long whats what's often happen happens really actually going like anything something
cant can't doesnt doesn't dont don't wont won't still instead new
""".split())


def stem(token: str) -> str:
    """A deliberately light stemmer: plural and common verb endings only (keeps "sso", "pass")."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3 and not token.endswith("ss"):
            return token[: -len(suffix)] + keep
    return token


def tokenize(text: str) -> list[str]:
    return [stem(t) for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


class LexicalIndex:
    def __init__(self, ids: list[str], texts: list[str], sources: list[str]) -> None:
        self.ids = ids
        self.sources = np.array(sources, dtype=object)
        self._bm25 = BM25Okapi([tokenize(t) or ["_"] for t in texts]) if texts else None

    def idf(self, term: str) -> float:
        """Inverse document frequency of a (tokenized) term; unseen terms count as rare."""
        if self._bm25 is None:
            return 0.0
        return float(self._bm25.idf.get(term, max(self._bm25.idf.values(), default=1.0)))

    def search(self, query: str, allowed: set[str] | None, k: int) -> list[tuple[int, float]]:
        """(row, score) of the k best chunks with a positive score, best first."""
        terms = tokenize(query)
        if self._bm25 is None or not terms:
            return []
        scores = self._bm25.get_scores(terms)
        if allowed is not None:
            scores = np.where(np.isin(self.sources, list(allowed)), scores, 0.0)
        top = np.argsort(-scores)[:k]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


class LexicalCache:
    """One LexicalIndex per process, rebuilt lazily when the index generation moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._index: LexicalIndex | None = None

    def get(self, collection, generation: int) -> LexicalIndex:
        with self._lock:
            if self._index is None or generation != self._generation:
                ids, texts, sources = [], [], []
                total = collection.count()
                for offset in range(0, total, 5000):
                    batch = collection.get(include=["documents", "metadatas"], limit=5000,
                                           offset=offset)
                    ids += batch["ids"]
                    texts += batch["documents"]
                    sources += [m.get("source", "") for m in batch["metadatas"]]
                self._index = LexicalIndex(ids, texts, sources)
                self._generation = generation
            return self._index
