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
  freshly opened Chroma client for the writes (never a graph another process has moved past),
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


def private_client(settings: Settings):
    """A Chroma client of its own (not chromadb's per-path shared one) on the embedded index.

    chromadb caches one "system" per path for the whole process; taking it out of that cache
    before and after opening gives this caller a graph loaded now, and leaves other holders of
    the old system working with theirs until they too reopen.
    """
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings as ChromaSettings

    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    identifier = str(path)
    with _open_lock:
        SharedSystemClient._identifier_to_system.pop(identifier, None)
        try:
            return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        finally:
            SharedSystemClient._identifier_to_system.pop(identifier, None)


_open_lock = threading.Lock()


@contextmanager
def writing(settings: Settings, engine) -> Iterator[None]:
    """The write phase of a sync: exclusive across processes, on a fresh client, generation bumped.

    Everything the block writes must go through `vectors.chroma_client(settings)` /
    `vectors.vector_store(settings)` called inside it (they return the fresh client).
    """
    if not _embedded(settings):
        try:
            yield
        finally:
            state.bump_generation(engine)
        return
    with _flock(_lock_path(settings), fcntl.LOCK_EX, None):
        vectors.use_chroma_client(settings, private_client(settings))
        try:
            yield
        finally:
            state.bump_generation(engine)


class IndexReader:
    """The answering side's collection, reopened whenever another writer moved the index."""

    def __init__(self, settings: Settings, engine) -> None:
        self.settings = settings
        self.engine = engine
        self._lock = threading.Lock()
        self._collection = None
        self._generation: int | None = None

    def _open(self, generation: int):
        if _embedded(self.settings):
            client = private_client(self.settings)
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
