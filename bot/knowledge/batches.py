"""Pages flow through a sync in bounded batches: hash, chunk, embed, write, record.

`Batches` is the write side of `bot.knowledge.sync`: the listing (full or by ids) hands it
documents, and it keeps at most `BATCH_PAGES` of them, their chunks and their vectors in memory.
`CountingEmbeddings` is the embedding cache it writes through. Each write phase runs inside
`generation.writing` (one writer across processes on the embedded index).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot.config import Settings, SourceConfig
from bot.knowledge import generation, state
from bot.knowledge.chunking import CHUNKER_VERSION, chunk_document
from connectors.base import SourceDocument

if TYPE_CHECKING:
    from bot.knowledge.index import Index
    from bot.knowledge.sync import SyncResult

Progress = Callable[[int, int], None]  # (chunks embedded so far, chunks queued so far)
BATCH_PAGES = 200  # documents per chunk/embed/write batch: bounds a sync's memory


def page_hash(settings: Settings, doc: SourceDocument) -> str:
    digest = hashlib.sha256()
    for part in (CHUNKER_VERSION, str(settings.index.chunk_size), str(settings.index.chunk_overlap),
                 doc.title, doc.url or "", doc.content_type, doc.content):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


class CountingEmbeddings:
    """Embeds a sync's new chunks up front (`prefill`), then serves `index()` from that cache.

    Every distinct text is encoded once (boilerplate repeats across pages), all of them in the
    backend's token-length order (`length_order`) so batches carry little padding, in slices of
    `PROGRESS_SLICE` so that progress moves (`index()` has no callback of its own). Sorting by
    characters, or only within each `index()` batch, left 21% of every batch as padding on the
    10.8k-chunk handbook and made embedding inside sync 1.23x the raw encode of the same texts.
    Texts `index()` asks for that were not prefilled are embedded then. Vectors are kept as
    float32 arrays (10k chunks: 15 MB). A failed sync loses the embedding work, never the index.

    Duck-typed rather than a `langchain_core` `Embeddings` subclass: importing that base class
    costs ~0.3-0.8 s (it pulls in langchain_core.runnables), which a no-op sync must not pay;
    `index()` and the Chroma store only call `embed_documents` / `embed_query`.
    """

    PROGRESS_SLICE = 256

    @property
    def inner(self):
        """The model (an `Embeddings`), built on first use when given as a factory: a sync that
        only deletes never loads it."""
        if not hasattr(self._inner, "embed_documents"):
            self._inner = self._inner()
        return self._inner

    def __init__(self, inner: Any, total: int, progress: Progress | None) -> None:
        self._inner, self.total, self.progress, self.done = inner, total, progress, 0
        self.seconds = 0.0  # all embedding of this sync
        self.upfront_seconds = 0.0  # the part done by `prefill`
        self._cache: dict = {}  # text -> float32 vector

    def prefill(self, texts: list[str]) -> None:
        self.upfront_seconds += self._embed_missing(texts)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self._embed_missing(texts)
        return [self._cache[t].tolist() for t in texts]

    def _embed_missing(self, texts: list[str]) -> float:
        """Embed the texts not in the cache yet; returns the seconds it took."""
        import numpy as np

        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if not todo:
            return 0.0
        started = time.perf_counter()
        order = getattr(self.inner, "length_order", None)  # by tokens where the backend can
        todo = [todo[i] for i in order(todo)] if order else sorted(todo, key=len, reverse=True)
        for i in range(0, len(todo), self.PROGRESS_SLICE):
            part = todo[i:i + self.PROGRESS_SLICE]
            embedded = np.asarray(self.inner.embed_documents(part), dtype=np.float32)
            self._cache.update(zip(part, embedded))
            self.done += len(part)
            if self.progress:
                self.progress(min(self.done, self.total), self.total)
        seconds = time.perf_counter() - started
        self.seconds += seconds
        return seconds

    def forget(self) -> None:
        """Drop the cached vectors (after each written batch: memory stays bounded)."""
        self._cache.clear()

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


class Batches:
    """Pages flow through here in bounded batches: hash, chunk, embed, write, record.

    At most `BATCH_PAGES` documents, their chunks and their vectors are held at once, so the
    peak memory of a sync does not grow with the size of the source (the ids of the pages seen
    and the stored page rows do, at a few hundred bytes a page). Each batch's page rows are saved
    right after its chunks are written, so the rows, the markers and the index stay in step even
    if a later batch or the listing fails (deletions wait for the end; see `_sync`).
    """

    def __init__(self, index: Index, source: SourceConfig, result: SyncResult,
                 known: dict[str, state.PageRow], tag: str, force: bool,
                 progress: Progress | None) -> None:
        self.index, self.settings, self.source = index, index.settings, source
        self.result, self.known = result, known
        self.tag, self.force, self.progress = tag, force, progress
        self.engine = index.engine
        self.pending: list[tuple[SourceDocument, str | None]] = []
        self.touched: list[state.PageRow] = []
        self.indexed = False
        self._manager: Any = None
        # a full sync removes what it did not refresh since this time
        self.started = self.manager.get_time() if result.full else None
        self.counting: CountingEmbeddings | None = None

    @property
    def manager(self) -> Any:
        """LangChain's record manager, opened on first use (its import costs a no-op sync ~0.5 s)."""
        if self._manager is None:
            self._manager = self.index.record_manager(self.source.name)
        return self._manager

    def _open(self) -> CountingEmbeddings:
        """The embedding cache, on first use (a sync with nothing to do loads no model)."""
        if self.counting is None:
            index = self.index
            self.counting = CountingEmbeddings(lambda: index.embeddings, 0, self.progress)
        return self.counting

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        """One write phase (a batch, the deletions): exclusive across processes, on a vector store
        opened inside it, the index generation bumped after it (bot/knowledge/generation.py).
        Embedding happens before it, so other processes answer from the last index meanwhile."""
        with generation.writing(self.settings, self.engine):
            clock = time.perf_counter()
            store = self.index.vector_store(embedding=self._open())
            self.result.timings["open"] += time.perf_counter() - clock
            yield store

    def tagged(self, marker: str | None) -> str | None:
        return f"{self.tag}:{marker}" if marker else None

    def add(self, doc: SourceDocument, marker: str | None) -> None:
        """A document read from the source (counts as a fetched body)."""
        self.result.fetched += 1
        self.pending.append((doc, marker))
        if len(self.pending) >= BATCH_PAGES:
            self.flush()

    def unchanged(self, source_id: str, marker: str) -> None:
        """The source vouched this page unchanged (HTTP 304): keep it, store its new marker."""
        self.result.skipped += 1
        self.touched.append(replace(self.known[source_id], marker=self.tagged(marker)))
        if len(self.touched) >= BATCH_PAGES:
            self.flush()

    def flush(self) -> None:
        docs, self.pending = self.pending, []
        rows, self.touched = self.touched, []
        result, settings = self.result, self.settings
        to_index = []
        for doc, marker in docs:
            clock = time.perf_counter()
            digest = page_hash(settings, doc)
            old = self.known.get(doc.source_id)
            changed = result.full or old is None or old.content_hash != digest
            chunk_start = time.perf_counter()
            result.timings["hash"] += chunk_start - clock
            chunks = chunk_document(doc, self.source.name, settings.index.chunk_size,
                                    settings.index.chunk_overlap) if changed else None
            result.timings["chunk"] += time.perf_counter() - chunk_start
            if chunks is not None:
                to_index.extend(chunks)
            if old is None:
                result.added += 1
            elif old.content_hash != digest:
                result.updated += 1
            else:
                result.skipped += 1
            rows.append(state.PageRow(doc.source_id, digest, doc.title, doc.url, doc.updated_at,
                                      len(chunks) if chunks is not None else old.chunks,
                                      self.tagged(marker)))
        if to_index:
            self._write(to_index)
        if rows:
            clock = time.perf_counter()
            state.save_pages(self.engine, self.source.name, rows, ())
            result.timings["finish"] += time.perf_counter() - clock

    def _write(self, to_index: list) -> None:
        counting, known = self._open(), self.known
        clock = time.perf_counter()
        # Vectors up front for what is certainly new: every chunk when re-embedding everything,
        # else the new pages' chunks. A changed page's chunks stay lazy: index() skips the ones
        # whose text did not change, and only the rest get embedded.
        fresh = [c.page_content for c in to_index
                 if self.force or known.get(c.metadata["source_id"]) is None]
        counting.total += len(to_index)
        embedded = counting.seconds
        counting.prefill(fresh)
        from langchain_core.indexing import index as langchain_index

        # batch_size: fewer record-manager and Chroma round trips; vectors come from the cache.
        with self._writing() as store:
            outcome = langchain_index(to_index, self.manager, store, cleanup="incremental",
                                      source_id_key="source_id", key_encoder="sha256",
                                      force_update=self.force,
                                      batch_size=max(2048, self.settings.index.embed_batch_size * 4))
        counting.forget()  # the batch is written: its vectors need not stay in memory
        self.result.chunks_embedded += outcome["num_added"] + outcome["num_updated"]
        self.result.chunks_deleted += outcome["num_deleted"]
        self.indexed = True
        self.result.timings["index_other"] += (time.perf_counter() - clock
                                               - (counting.seconds - embedded))

    def remove(self, source_ids: list[str]) -> None:
        """Delete the chunks of these pages (full: of every page this sync did not refresh)."""
        clock = time.perf_counter()
        keys: list[str] = []
        with self._writing() as store:
            if self.result.full:
                while batch := self.manager.list_keys(before=self.started, limit=1000):
                    self._delete(store, batch)
                    keys += batch
            else:
                for start in range(0, len(source_ids), 500):
                    batch = self.manager.list_keys(group_ids=source_ids[start:start + 500])
                    self._delete(store, batch)
                    keys += batch
        self.result.chunks_deleted += len(keys)
        self.result.timings["finish"] += time.perf_counter() - clock

    def _delete(self, store: Any, keys: list[str]) -> None:
        if keys:
            store.delete(keys)
            self.manager.delete_keys(keys)
