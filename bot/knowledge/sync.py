"""One sync of one source: list it, index what changed, remove what is gone, record the run.

The same function serves `ragbot sync`, the scheduler and `/ragadmin resync`.

Order of operations, and why:
1. List the whole source first. A `ConnectorError` (or any other failure) here ends the run with
   the error recorded and *nothing deleted*: a listing we cannot vouch for never causes deletions.
2. Pages whose content hash is unchanged are skipped without chunking or embedding.
3. New and changed pages go through LangChain's `index()` (cleanup="incremental", grouped by
   `source_id`): unchanged chunks inside a changed page are not re-embedded, stale ones are removed.
4. Only then are the chunks of pages missing from the listing deleted (through the record manager,
   so the vector store and the record manager stay in step).
`full=True` re-reads and re-chunks every page and lets `index()` reconcile with cleanup="full"
inside this source's record-manager namespace: anything of this source not seen is removed.

A per-source file lock means two processes (the bot and a `ragbot scheduler` worker) never sync the
same source at once; the second gets `SyncInProgressError` at once instead of waiting.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


from bot.config import Settings, SourceConfig
from bot.knowledge import state, store
from bot.knowledge.chunking import CHUNKER_VERSION, chunk_document
from connectors.base import ConnectorContext, ConnectorError, SkippedItem, SourceDocument
from connectors.registry import connector_class

Progress = Callable[[int, int], None]  # (chunks embedded so far, chunks to embed)


class SyncInProgressError(RuntimeError):
    """Another process or thread is syncing this source right now."""


@dataclass
class SyncResult:
    source: str
    ok: bool = False
    full: bool = False
    added: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    chunks_embedded: int = 0
    chunks_deleted: int = 0
    skipped_items: list[SkippedItem] = field(default_factory=list)
    error: str | None = None
    duration_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase of `_sync`

    def counts(self) -> dict[str, int]:
        return {"added": self.added, "updated": self.updated, "skipped": self.skipped,
                "deleted": self.deleted, "chunks_embedded": self.chunks_embedded,
                "chunks_deleted": self.chunks_deleted, "items_skipped": len(self.skipped_items)}


class _CountingEmbeddings:
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

    def __init__(self, inner: Any, total: int,
                 progress: Progress | None) -> None:
        self._inner, self.total, self.progress, self.done = inner, total, progress, 0
        self.seconds = 0.0  # all embedding of this sync
        self.upfront_seconds = 0.0  # the part done by `prefill`
        self._cache: dict = {}  # text -> float32 vector

    @property
    def inner(self):
        """The model (an `Embeddings`), built on first use when given as a factory: a sync that
        only deletes never loads it."""
        if not hasattr(self._inner, "embed_documents"):
            self._inner = self._inner()
        return self._inner

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
            vectors = np.asarray(self.inner.embed_documents(part), dtype=np.float32)
            self._cache.update(zip(part, vectors))
            self.done += len(part)
            if self.progress:
                self.progress(min(self.done, self.total), self.total)
        seconds = time.perf_counter() - started
        self.seconds += seconds
        return seconds

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


@contextmanager
def source_lock(settings: Settings, source: str) -> Iterator[None]:
    lock_dir = settings.data_dir / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / f"{source}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncInProgressError(f"source {source!r} is already syncing") from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def is_syncing(settings: Settings, source: str) -> bool:
    try:
        with source_lock(settings, source):
            return False
    except SyncInProgressError:
        return True


def build_connector(settings: Settings, source: SourceConfig):
    cls = connector_class(source.type)
    context = ConnectorContext(source_name=source.name,
                               state_dir=settings.data_dir / "sources" / source.name,
                               env=dict(os.environ))
    return cls(source.options, context)


def page_hash(settings: Settings, doc: SourceDocument) -> str:
    digest = hashlib.sha256()
    for part in (CHUNKER_VERSION, str(settings.index.chunk_size), str(settings.index.chunk_overlap),
                 doc.title, doc.url or "", doc.content_type, doc.content):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _list(connector: Any) -> list[SourceDocument]:
    docs: dict[str, SourceDocument] = {}
    for doc in connector.list_documents():
        if doc.source_id in docs:
            connector.skip(doc.source_id, "listed twice by the source; the first copy was kept")
            continue
        docs[doc.source_id] = doc
    return list(docs.values())


def _sync(settings: Settings, source: SourceConfig, result: SyncResult, progress: Progress | None):
    engine = store.engine(settings)
    clock = time.perf_counter()
    connector = build_connector(settings, source)
    try:
        listing = _list(connector)
    finally:
        result.skipped_items = list(connector.skipped)
    known = state.page_rows(engine, source.name)
    if not listing and known and not result.full:
        raise ConnectorError(
            f"source {source.name!r} listed no pages but the index holds {len(known)}; nothing "
            f"was deleted. If the source really is empty now, run `ragbot sync --source "
            f"{source.name} --full`.")

    result.timings["list"] = time.perf_counter() - clock
    rows: list[state.PageRow] = []
    to_index = []
    hashing = chunking = 0.0
    for doc in listing:
        clock = time.perf_counter()
        digest = page_hash(settings, doc)
        old = known.get(doc.source_id)
        changed = result.full or old is None or old.content_hash != digest
        chunk_start = time.perf_counter()
        hashing += chunk_start - clock
        chunks = chunk_document(doc, source.name, settings.index.chunk_size,
                                settings.index.chunk_overlap) if changed else None
        chunking += time.perf_counter() - chunk_start
        if chunks is not None:
            to_index.extend(chunks)
        if old is None:
            result.added += 1
        elif old.content_hash != digest:
            result.updated += 1
        else:
            result.skipped += 1
        rows.append(state.PageRow(doc.source_id, digest, doc.title, doc.url, doc.updated_at,
                                  len(chunks) if chunks is not None else old.chunks))
    removed = sorted(set(known) - {doc.source_id for doc in listing})
    result.timings.update(hash=hashing, chunk=chunking)

    if not (to_index or removed or result.full):
        # Nothing to embed or delete: no embedding model, and no Chroma unless the embedding
        # config changed since the space was last checked (a no-op sync is ~1 s as a process,
        # not the 5-10 s of importing torch/Chroma and building the model). Page rows are still
        # written: update times can change without the content hash changing.
        if known and not state.space_checked(engine, source.name, _space_config(settings)):
            _check_space(settings, source.name, True, False)
            state.mark_space_checked(engine, source.name, _space_config(settings))
        state.save_pages(engine, source.name, rows, removed)
        return
    clock = time.perf_counter()
    force = _check_space(settings, source.name, bool(known), result.full)
    manager = store.record_manager(settings, source.name)
    counting = _CountingEmbeddings(lambda: store.embeddings(settings), len(to_index), progress)
    vectors = store.vector_store(settings, embedding=counting)
    result.timings["open"] = time.perf_counter() - clock
    clock = time.perf_counter()
    if to_index or result.full:
        # Vectors up front for what is certainly new: every chunk when re-embedding everything,
        # else the new pages' chunks. A changed page's chunks stay lazy: index() skips the ones
        # whose text did not change, and only the rest get embedded.
        fresh = [c.page_content for c in to_index if force or known.get(
            c.metadata["source_id"]) is None]
        counting.prefill(fresh)
        from langchain_core.indexing import index

        # batch_size: fewer record-manager and Chroma round trips; vectors come from the cache.
        outcome = index(to_index, manager, vectors, cleanup="full" if result.full else "incremental",
                        source_id_key="source_id", key_encoder="sha256", force_update=force,
                        batch_size=max(2048, settings.index.embed_batch_size * 4))
        result.chunks_embedded = outcome["num_added"] + outcome["num_updated"]
        result.chunks_deleted = outcome["num_deleted"]
    result.timings["embed"] = counting.seconds
    result.timings["embed_upfront"] = counting.upfront_seconds
    result.timings["index_other"] = time.perf_counter() - clock - counting.seconds
    clock = time.perf_counter()
    if removed:
        keys = manager.list_keys(group_ids=removed)
        if keys:
            vectors.delete(keys)
            manager.delete_keys(keys)
        result.chunks_deleted += len(keys)
    result.deleted = len(removed)
    state.save_pages(engine, source.name, rows, removed)
    if to_index or result.full:
        store.record_space(settings, source.name)
    # a re-embed into another space invalidates what earlier configs were checked against
    state.mark_space_checked(engine, source.name, _space_config(settings), reset=force)
    if result.chunks_embedded or result.chunks_deleted or result.added or result.deleted:
        state.bump_generation(engine)
    result.timings["finish"] = time.perf_counter() - clock


def _space_config(settings: Settings) -> str:
    """What decides a source's vector space, as configured (compared without loading anything)."""
    return f"{settings.index.embedding_model}|{settings.index.backend}"


def _check_space(settings: Settings, source: str, indexed: bool, full: bool) -> bool:
    """Whether this sync must re-embed every chunk of `source` (force_update).

    A collection must never hold vectors of two spaces for one source: a query embedded in one
    space is compared with chunks embedded in another. So a backend or model switch needs a full
    sync, which then re-embeds the source (unchanged chunks included) instead of skipping them.
    """
    from bot.knowledge.embedding import vector_space

    current = store.vector_space(settings)
    recorded = store.indexed_spaces(settings).get(source)
    if recorded is None and indexed:  # indexed before spaces were recorded: torch was all there was
        recorded = vector_space(settings.index.embedding_model, "torch")
    if recorded is None or recorded == current:
        return False
    if not full:
        raise store.EmbeddingMismatchError(
            f"source {source!r} was embedded as {recorded!r} but index.embedding_model/backend "
            f"now give {current!r}; vectors of the two cannot be mixed. Run `ragbot sync "
            f"--source {source} --full` to re-embed it (or set the backend back).")
    return True


def sync_source(settings: Settings, name: str, *, full: bool = False, trigger: str = "manual",
                progress: Progress | None = None) -> SyncResult:
    """Sync one source; never raises for a source failure (see `SyncResult.error`).

    Raises `SyncInProgressError` when the source is already syncing, and `ConfigError` for an
    unknown source name.
    """
    source = settings.source(name)
    result = SyncResult(source=name, full=full)
    engine = store.engine(settings)
    state.create_schema(engine)
    with source_lock(settings, name):
        run_id = state.start_run(engine, name, full=full, trigger=trigger)
        started = time.monotonic()
        try:
            _sync(settings, source, result, progress)
            result.ok = True
        except ConnectorError as exc:
            result.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure must be recorded, never delete
            result.error = f"{type(exc).__name__}: {exc}"
        result.duration_s = time.monotonic() - started
        state.finish_run(engine, run_id, status="ok" if result.ok else "failed",
                         counts=result.counts(), error=result.error)
    return result
