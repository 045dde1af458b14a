"""Hybrid retrieval: dense (Chroma, cosine) + lexical (BM25), fused by reciprocal rank.

Scoping happens here, inside the search, not after it: a passage from a source the asker may not
see is never fetched, so it can never leak into a citation, a quote or a "nearest pages" list.
"""

from __future__ import annotations

import numpy as np

from bot.answering.lexical import LexicalCache, tokenize
from bot.answering.types import Passage
from bot.config import Settings
from bot.knowledge import state, store
from bot.knowledge.chunking import passage_text

RRF_K = 60


class Retriever:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embeddings = store.embeddings(settings)
        self.collection = store.chroma_client(settings).get_or_create_collection(
            settings.index.collection, metadata={"hnsw:space": "cosine"})
        self.engine = store.engine(settings)
        state.create_schema(self.engine)
        self._lexical = LexicalCache()

    def embed(self, text: str) -> np.ndarray:
        return np.asarray(self.embeddings.embed_query(text), dtype=np.float32)

    def search(self, query: str, *, sources: set[str] | None = None, k: int | None = None,
               query_vector: np.ndarray | None = None) -> list[Passage]:
        """The k best passages for `query` among `sources` (None: every source)."""
        k = k or self.settings.retrieval.k
        if sources is not None and not sources:
            return []
        pool = max(3 * k, 30)
        vector = self.embed(query) if query_vector is None else query_vector
        where = {"source": {"$in": sorted(sources)}} if sources is not None else None
        found = self.collection.query(query_embeddings=[vector.tolist()], n_results=pool,
                                      where=where, include=["documents", "metadatas", "distances"])
        passages: dict[str, Passage] = {}
        fused: dict[str, float] = {}
        for rank, (cid, doc, meta, dist) in enumerate(zip(
                found["ids"][0], found["documents"][0], found["metadatas"][0],
                found["distances"][0])):
            passages[cid] = _passage(cid, doc, meta, dense=1.0 - float(dist))
            fused[cid] = 1.0 / (RRF_K + rank + 1)
        if self.settings.retrieval.hybrid:
            self._add_lexical(query, sources, pool, vector, passages, fused)
        ranked = sorted(passages.values(), key=lambda p: -fused[p.id])[:k]
        for p in ranked:
            p.score = fused[p.id]
        return ranked

    def coverage(self, query: str, passages: list[Passage]) -> float:
        """IDF-weighted share of the question's terms that the passages contain (0..1).

        A question whose rare word ("Berlin", "HIPAA") appears in none of the passages is usually
        one the wiki does not answer, however close the passages are in embedding space.
        """
        terms = set(tokenize(query))
        if not terms:
            return 1.0
        lexical = self._lexical.get(self.collection, state.generation(self.engine))
        present = set(tokenize(" ".join(f"{p.title} {p.headings} {p.text}" for p in passages)))
        total = sum(lexical.idf(t) for t in terms)
        return sum(lexical.idf(t) for t in terms if t in present) / total if total else 1.0

    def _add_lexical(self, query, sources, pool, vector, passages, fused) -> None:
        lexical = self._lexical.get(self.collection, state.generation(self.engine))
        hits = lexical.search(query, sources, pool)
        missing = [lexical.ids[row] for row, _ in hits if lexical.ids[row] not in passages]
        if missing:  # lexical-only hits: fetch them and their dense score, for abstention
            got = self.collection.get(ids=missing, include=["documents", "metadatas", "embeddings"])
            for cid, doc, meta, emb in zip(got["ids"], got["documents"], got["metadatas"],
                                           got["embeddings"]):
                passages[cid] = _passage(cid, doc, meta, dense=float(np.dot(vector, emb)))
        for rank, (row, score) in enumerate(hits):
            cid = lexical.ids[row]
            if cid in passages:
                passages[cid].lexical = score
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)


def _passage(cid: str, doc: str, meta: dict, dense: float) -> Passage:
    return Passage(id=cid, source=meta.get("source", ""), source_id=meta.get("source_id", ""),
                   title=meta.get("title", ""), url=meta.get("url", ""),
                   headings=meta.get("headings", ""), text=passage_text(doc), dense=dense,
                   chunk=int(meta.get("chunk", 0)))
