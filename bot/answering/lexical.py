"""BM25 over every chunk in the index, rebuilt when the index generation changes.

Dense retrieval with a small embedding model misses exact tokens people type (error codes, tool
names, "SEV2", "401k"); BM25 catches them. Built in memory from the Chroma collection itself so
there is no second store to keep in step.

Scoring is Okapi BM25 exactly as `rank_bm25.BM25Okapi` computes it (k1 1.5, b 0.75, negative
IDFs floored at 0.25 x the mean IDF), but over an inverted index: a query touches only the
postings of its own terms instead of every chunk once per term. On the 10.8k-chunk handbook that
is well under a millisecond a query where `BM25Okapi.get_scores` took tens of milliseconds
(bench/sync_speed.py reports retrieval p50/p95).
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter

import numpy as np

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
    K1, B, EPSILON = 1.5, 0.75, 0.25

    def __init__(self, ids: list[str], texts: list[str], sources: list[str]) -> None:
        self.ids = ids
        self.sources = np.array(sources, dtype=object)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        lengths = np.zeros(len(texts), dtype=np.float64)
        for row, text in enumerate(texts):
            counts = Counter(tokenize(text) or ["_"])
            lengths[row] = sum(counts.values())
            for term, tf in counts.items():
                rows, tfs = postings.setdefault(term, ([], []))
                rows.append(row)
                tfs.append(tf)
        self._postings = {t: (np.array(r, dtype=np.int64), np.array(f, dtype=np.float64))
                          for t, (r, f) in postings.items()}
        n = len(texts)
        self._idf = {t: math.log(n - len(r) + 0.5) - math.log(len(r) + 0.5)
                     for t, (r, _) in self._postings.items()}
        if self._idf:
            floor = self.EPSILON * sum(self._idf.values()) / len(self._idf)
            self._idf = {t: (v if v >= 0 else floor) for t, v in self._idf.items()}
        average = lengths.mean() if n else 1.0
        # the document-length part of BM25's denominator, once per chunk
        self._norm = self.K1 * (1 - self.B + self.B * lengths / average) if n else lengths
        self._max_idf = max(self._idf.values(), default=1.0)

    def idf(self, term: str) -> float:
        """Inverse document frequency of a (tokenized) term; unseen terms count as rare."""
        if not self._idf:
            return 0.0
        return float(self._idf.get(term, self._max_idf))

    def scores(self, terms: list[str]) -> np.ndarray:
        """The BM25 score of every chunk for these (tokenized) query terms."""
        scores = np.zeros(len(self.ids), dtype=np.float64)
        for term in terms:  # a repeated query term counts again, as in BM25Okapi
            if term not in self._postings:
                continue
            rows, tf = self._postings[term]
            scores[rows] += self._idf[term] * tf * (self.K1 + 1) / (tf + self._norm[rows])
        return scores

    def search(self, query: str, allowed: set[str] | None, k: int) -> list[tuple[int, float]]:
        """(row, score) of the k best chunks with a positive score, best first."""
        terms = tokenize(query)
        if not self.ids or not terms:
            return []
        scores = self.scores(terms)
        if allowed is not None:
            scores = np.where(np.isin(self.sources, list(allowed)), scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        top = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [(int(i), float(scores[i])) for i in top]


class LexicalCache:
    """One LexicalIndex per process, rebuilt lazily when the index generation moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._index: LexicalIndex | None = None

    def current(self) -> LexicalIndex | None:
        """The index last built (for the question being answered), without checking its age."""
        return self._index

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
