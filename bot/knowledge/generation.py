"""Several processes on one embedded index: one writer at a time, readers that follow its writes.

The embedded default (a Chroma `PersistentClient` in `data_dir/chroma`) keeps each collection's
HNSW graph in the memory of every process that opened it. Another process's writes reach the
shared SQLite file but not that in-memory graph, so a long-running reader (`ragbot serve`) that
goes on using its client after a `ragbot sync` / `ragbot scheduler` process wrote gets ids the
SQLite no longer has ("Error finding id") on every question, until restart. Two writers with
stale graphs would also persist over each other's vectors.

The design, and why:
- Every write to the index happens inside `writing()`: an exclusive `flock` on
  `data_dir/locks/index.lock` (one writer at a time across processes; a second writer waits), a
  Chroma client that has seen every write so far (the writer's own, kept from batch to batch
  while no other process wrote, else freshly opened: never a graph another process moved past),
  and a bump of the index generation in `ragbot.sqlite` when the block ends, also when it fails
  half-way (a half-done write has changed the index as much as a whole one).
- A reader (`IndexReader`, the Retriever's handle) reads the generation per question (one
  primary-key SELECT) and, when it moved, opens a fresh private client before searching; the
  lexical index (bot/answering/lexical.py) keys its rebuild on the same generation.
- Readers take the lock shared for each search. Only the write phase of a sync holds it
  exclusively: listing, chunking and embedding the new pages happen before it (the sync
  prefills vectors), so during most of a sync questions are answered from the last good index,
  and a question arriving during the short write phase waits for it instead of reading a
  half-written one. A reader that still meets an inconsistent index (a writer killed with -9
  before it could bump the generation) reopens and retries once.
The alternative, one writer process that the others hand their syncs to, needs a channel
between processes and a live writer; a lock and a counter need neither. A Chroma server
(`index.chroma_url`) is consistent for every client by itself: no lock, no reopening there.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.config import Settings
from bot.knowledge import state, vectors

log = logging.getLogger("ragbot.index")

READ_WAIT_S = 120.0  # a question waits at most this long for a write phase to end
_POLL_S = 0.05


class StaleIndexError(RuntimeError):
    """A read found the vector graph and the stored chunks out of step (another writer)."""


def _lock_path(settings: Settings) -> Path:
    lock_dir = settings.data_dir / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    return lock_dir / "index.lock"


def _embedded(settings: Settings) -> bool:
    return not settings.index.chroma_url


@contextmanager
def _flock(path: Path, mode: int, wait_s: float | None) -> Iterator[bool]:
    """Hold `flock(mode)` on path; True if taken, False if `wait_s` ran out (None: wait)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = None if wait_s is None else time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                taken = True
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    taken = False
                    break
                time.sleep(_POLL_S)
        yield taken
    finally:
        os.close(fd)  # closing releases the lock


class _Opened:
    """A Chroma client of its own (not chromadb's per-path shared one) on the embedded index,
    and the chromadb "system" behind it, which holds the collection's graph in memory.

    chromadb caches one system per path for the whole process; taking it out of that cache
    before and after opening gives this holder a graph loaded now, and leaves other holders of
    the old system working with theirs until they too reopen. A system that is not stopped keeps
    its graph: `close()` stops it (a sync of 20,000 pages reopened per batch grew to 3.5x the
    memory of a 2,000-page one before writers reused their client and closed the old ones).
    """

    def __init__(self, settings: Settings) -> None:
        import chromadb
        from chromadb.api.shared_system_client import SharedSystemClient
        from chromadb.config import Settings as ChromaSettings

        path = settings.data_dir / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        identifier, systems = str(path), SharedSystemClient._identifier_to_system
        with _open_lock:
            systems.pop(identifier, None)
            try:
                self.client = chromadb.PersistentClient(
                    path=identifier, settings=ChromaSettings(anonymized_telemetry=False))
                self.system = systems.get(identifier)
            finally:
                systems.pop(identifier, None)

    def close(self) -> None:
        if self.system is not None:
            try:
                self.system.stop()
            except Exception:  # noqa: BLE001 - releasing memory; nothing to report to anyone
                log.debug("stopping an old Chroma client failed", exc_info=True)
            self.system = None


_open_lock = threading.Lock()
# The writer's client per data_dir, and the generation its own last write left: reused while
# no other process has written since (the common case, batch after batch of one sync).
_writers: dict[str, tuple[_Opened, int]] = {}


@contextmanager
def writing(settings: Settings, engine) -> Iterator[None]:
    """A write phase of a sync: exclusive across processes, on a client that has seen every
    write so far, generation bumped.

    Everything the block writes must go through `vectors.chroma_client(settings)` /
    `vectors.vector_store(settings)` called inside it (they return that client).
    """
    if not _embedded(settings):
        try:
            yield
        finally:
            state.bump_generation(engine)
        return
    key = str(settings.data_dir)
    with _flock(_lock_path(settings), fcntl.LOCK_EX, None):
        opened, left = _writers.pop(key, (None, None))
        if opened is None or left != state.generation(engine):  # another process wrote since
            if opened is not None:
                opened.close()
            opened = _Opened(settings)
        vectors.use_chroma_client(settings, opened.client)
        try:
            yield
        finally:
            state.bump_generation(engine)
            _writers[key] = (opened, state.generation(engine))


class IndexReader:
    """The answering side's collection, reopened whenever another writer moved the index."""

    def __init__(self, settings: Settings, engine) -> None:
        self.settings = settings
        self.engine = engine
        self._lock = threading.Lock()
        self._collection = None
        self._generation: int | None = None
        # The clients this reader opened, newest last. The one before the newest is kept open
        # (a search that started on it may still be running in another thread); older ones are
        # closed, so a long-running bot that follows many syncs does not pile up graphs.
        self._opened: list[_Opened] = []

    def _open(self, generation: int):
        if _embedded(self.settings):
            opened = _Opened(self.settings)
            self._opened.append(opened)
            while len(self._opened) > 2:
                self._opened.pop(0).close()
            client = opened.client
        else:
            client = vectors.chroma_client(self.settings)
        self._collection = client.get_or_create_collection(
            self.settings.index.collection, metadata={"hnsw:space": "cosine"})
        self._generation = generation
        return self._collection

    def collection(self, reopen: bool = False):
        """The collection as of the current generation (`reopen`: load it again regardless)."""
        generation = state.generation(self.engine)
        with self._lock:
            if reopen or self._collection is None or generation != self._generation:
                if self._collection is not None:
                    log.info("index generation %s -> %s: reopening the index", self._generation,
                             generation)
                return self._open(generation)
            return self._collection

    @property
    def generation(self) -> int:
        return self._generation if self._generation is not None else state.generation(self.engine)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold off writers of other processes for one search (shared lock; bounded wait)."""
        if not _embedded(self.settings):
            yield
            return
        with _flock(_lock_path(self.settings), fcntl.LOCK_SH, READ_WAIT_S) as taken:
            if not taken:
                log.warning("the index has been locked for writing over %.0f s; reading anyway",
                            READ_WAIT_S)
            yield

    def run(self, work):
        """`work(collection)` under the read lock; on a Chroma error, reopen and try once more."""
        from chromadb.errors import ChromaError

        with self.reading():
            collection = self.collection()
            try:
                return work(collection)
            except (ChromaError, StaleIndexError) as exc:
                log.warning("index read failed (%s); reopening the index and retrying", exc)
                return work(self.collection(reopen=True))
