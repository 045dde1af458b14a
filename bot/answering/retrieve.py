"""Hybrid retrieval: dense (Chroma, cosine) + lexical (BM25), fused by score.

Fusion is a convex combination of the two scores, each put on a 0..1 scale over its own pool of
`retrieval.pool` candidates: dense similarity min-max scaled (the pool's best is 1, its last is
0), BM25 divided by the pool's best. `retrieval.dense_weight` (0.5) weighs them. Unlike reciprocal
rank fusion it keeps *how much* better a passage is: a chunk that wins BM25 by a mile and is
decent in dense space beats one that is merely second in both. Measured on the Sourcegraph
handbook (bench/retrieval_vs_tutorial.py; weight and pool chosen on the dev set; the hold-out was
scored for the same few settings, so it is no longer untouched): MRR 0.777 -> 0.791 (dev) and 0.754 -> 0.796 (hold-out) against RRF k=60.

Scoping happens here, inside the search, not after it: a passage from a source the asker may not
see is never fetched, so it can never leak into a citation, a quote or a "nearest pages" list.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from bot.answering.lexical import LexicalCache, tokenize
from bot.answering.types import Passage
from bot.config import Settings
from bot.knowledge.index import Index
from bot.knowledge.chunking import passage_text
from bot.knowledge.generation import IndexReader, StaleIndexError


# Remembered unit vectors per process: 384 float32 each, so ~13 MB at most.
VECTOR_CACHE_SIZE = 8192


class Retriever:
    def __init__(self, settings: Settings, index: Index | None = None) -> None:
        self.settings = settings
        self.index = index or Index(settings)
        # Another process's sync moves the index under us: every read goes through the reader,
        # which reopens the collection when the index generation moved (bot/knowledge/generation.py).
        self.reader = IndexReader(settings, self.index.engine)
        self.engine = self.index.engine
        self._lexical = LexicalCache()
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()  # text -> vector, LRU
        self._vectors_lock = threading.Lock()

    @property
    def embeddings(self):
        return self.index.embeddings  # loaded by the first question, not by opening the index

    @property
    def collection(self):
        return self.reader.collection()

    def embed(self, text: str) -> np.ndarray:
        return np.asarray(self.embeddings.embed_query(text), dtype=np.float32)

    def embed_many(self, texts: list[str]) -> list[np.ndarray]:
        """Vectors of the composer's candidate units, remembered by text.

        Questions about the same pages read the same units again (over the demo question set,
        6,019 units embed as 1,856 distinct texts), and embedding them is most of an answer's
        time. A vector is a function of its text, so a remembered one is the same answer.
        """
        with self._vectors_lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for text in known:
                self._vectors.move_to_end(text)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            fresh = np.asarray(self.embeddings.embed_documents(missing), dtype=np.float32)
            with self._vectors_lock:
                for text, vector in zip(missing, fresh):
                    known[text] = self._vectors[text] = vector
                while len(self._vectors) > VECTOR_CACHE_SIZE:
                    self._vectors.popitem(last=False)
        return [known[t] for t in texts]

    def search(self, query: str, *, sources: set[str] | None = None, k: int | None = None,
               query_vector: np.ndarray | None = None) -> list[Passage]:
        """The k best passages for `query` among `sources` (None: every source)."""
        cfg = self.settings.retrieval
        k = k or cfg.k
        if sources is not None and not sources:
            return []
        pool = max(cfg.pool, k)
        vector = self.embed(query) if query_vector is None else query_vector
        passages, dense_range = self.reader.run(
            lambda collection: self._candidates(collection, query, sources, pool, vector))
        fused = fuse(passages.values(), cfg.dense_weight if cfg.hybrid else 1.0, dense_range)
        ranked = sorted(passages.values(), key=lambda p: -fused[p.id])[:k]
        for p in ranked:
            p.score = fused[p.id]
        return ranked

    def _candidates(self, collection, query, sources, pool, vector):
        where = {"source": {"$in": sorted(sources)}} if sources is not None else None
        found = collection.query(query_embeddings=[vector.tolist()], n_results=pool,
                                 where=where, include=["documents", "metadatas", "distances"])
        passages: dict[str, Passage] = {}
        for cid, doc, meta, dist in zip(found["ids"][0], found["documents"][0],
                                        found["metadatas"][0], found["distances"][0]):
            passages[cid] = _passage(cid, doc, meta, dense=1.0 - float(dist))
        dense_range = (max((p.dense for p in passages.values()), default=1.0),
                       min((p.dense for p in passages.values()), default=0.0))
        if self.settings.retrieval.hybrid:
            self._add_lexical(collection, query, sources, pool, vector, passages)
        return passages, dense_range

    def expand(self, passages: list[Passage], n: int, neighbours: int = 1) -> None:
        """Give each of the first `n` passages the text of the `neighbours` chunks on either side
        of it on its page (in page order, overlap removed), in place.

        Small chunks find the right spot; the reader needs the sentences around it ("The
        rotation changes every week." is often the chunk after the one that matched). A
        neighbour that is itself among the first `n` is left to that passage. Neighbours come
        from the same source and page, so scoping holds."""
        head = passages[:n]
        if not head or neighbours <= 0:
            return
        taken = {(p.source, p.source_id, p.chunk) for p in head}
        clauses = [{"$and": [{"source": p.source}, {"source_id": p.source_id},
                             {"chunk": {"$in": [p.chunk + d for d in range(-neighbours,
                                                                          neighbours + 1) if d]}}]}
                   for p in head]
        where = clauses[0] if len(clauses) == 1 else {"$or": clauses}
        got = self.reader.run(lambda collection: collection.get(
            where=where, include=["documents", "metadatas"]))
        found = {(m.get("source", ""), m.get("source_id", ""), int(m.get("chunk", 0))):
                 passage_text(doc) for doc, m in zip(got["documents"], got["metadatas"])}
        for p in head:
            before = [found.get((p.source, p.source_id, p.chunk + d)) for d in
                      range(-neighbours, 0)]
            after = [found.get((p.source, p.source_id, p.chunk + d)) for d in
                     range(1, neighbours + 1)]
            text = p.text
            for i, piece in enumerate(reversed(before), 1):
                if piece is None or (p.source, p.source_id, p.chunk - i) in taken:
                    break
                text = join_overlapping(piece, text)
            for i, piece in enumerate(after, 1):
                if piece is None or (p.source, p.source_id, p.chunk + i) in taken:
                    break
                text = join_overlapping(text, piece)
            p.text = text

    def idf(self, term: str) -> float:
        """How rare a (tokenized) term is in the index (BM25's IDF; unseen terms count as rare)."""
        # The composer asks per term, right after this question's search refreshed the index:
        # no lock and no generation check per term.
        lexical = self._lexical.current() or self.reader.run(
            lambda collection: self._lexical.get(collection, self.reader.generation))
        return lexical.idf(term)

    def coverage(self, query: str, passages: list[Passage]) -> float:
        """IDF-weighted share of the question's terms that the passages contain (0..1).

        A question whose rare word ("Berlin", "HIPAA") appears in none of the passages is usually
        one the wiki does not answer, however close the passages are in embedding space.
        """
        terms = set(tokenize(query))
        if not terms:
            return 1.0
        lexical = self.reader.run(
            lambda collection: self._lexical.get(collection, self.reader.generation))
        present = set(tokenize(" ".join(f"{p.title} {p.headings} {p.text}" for p in passages)))
        total = sum(lexical.idf(t) for t in terms)
        return sum(lexical.idf(t) for t in terms if t in present) / total if total else 1.0

    def _add_lexical(self, collection, query, sources, pool, vector, passages) -> None:
        lexical = self._lexical.get(collection, self.reader.generation)
        hits = lexical.search(query, sources, pool)
        missing = [lexical.ids[row] for row, _ in hits if lexical.ids[row] not in passages]
        if missing:  # lexical-only hits: fetch them and their dense score, for abstention
            got = collection.get(ids=missing, include=["documents", "metadatas", "embeddings"])
            for cid, doc, meta, emb in zip(got["ids"], got["documents"], got["metadatas"],
                                           got["embeddings"]):
                passages[cid] = _passage(cid, doc, meta, dense=float(np.dot(vector, emb)))
        for row, score in hits:
            cid = lexical.ids[row]
            if cid in passages:
                passages[cid].lexical = score


def join_overlapping(first: str, second: str, longest: int = 400) -> str:
    """`first` then `second`, without the text the splitter repeated at their boundary."""
    for k in range(min(longest, len(first), len(second)), 15, -1):
        if first.endswith(second[:k]):
            return first + second[k:]
    return f"{first}\n\n{second}"


def fuse(passages, dense_weight: float, dense_range: tuple[float, float]) -> dict[str, float]:
    """id -> dense_weight x scaled dense + (1 - dense_weight) x scaled BM25 (see the module doc).

    `dense_range` is the (best, last) similarity of the dense pool: passages found by BM25 alone
    rank below that pool, so they get 0 from the dense side. BM25 is scaled by its best score."""
    passages = list(passages)
    top, bottom = dense_range
    span = top - bottom or 1.0
    best_lexical = max((p.lexical for p in passages), default=0.0) or 1.0
    return {p.id: dense_weight * max(0.0, (p.dense - bottom) / span)
            + (1.0 - dense_weight) * p.lexical / best_lexical for p in passages}


def _passage(cid: str, doc: str | None, meta: dict | None, dense: float) -> Passage:
    if doc is None or meta is None:  # the graph names a chunk the store no longer has
        raise StaleIndexError(f"chunk {cid} is in the vector graph but not in the store")
    return Passage(id=cid, source=meta.get("source", ""), source_id=meta.get("source_id", ""),
                   title=meta.get("title", ""), url=meta.get("url", ""),
                   headings=meta.get("headings", ""), text=passage_text(doc), dense=dense,
                   chunk=int(meta.get("chunk", 0)))
