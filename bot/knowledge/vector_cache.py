"""Vectors remembered on disk by their text, for the ONNX embedding backends.

A vector is a function of its text and of the exported model, so one computed once can be read
back instead of computed again, by any process on the machine: a `sync --full` or a rebuild after
a store move re-reads the chunks it embedded before, the bot's first answers after a restart read
the composer's sentence units it embedded before, and a second data_dir over the same pages
(staging, a test run) embeds nothing it has seen.

The file sits beside the export it belongs to (`<cache dir>/models/<model>-<sha>/`, see
`bot/knowledge/embedding.py`), and its `meta` row names that export (file size and mtime), the
tokenizer and its truncation, and a digest of the encoding code: a re-export or a change to how
texts are encoded empties it rather than serve vectors of another function. Keys are SHA-256
of the text (16 bytes); values are the float32 vector. Oldest rows go first once `max_rows` is
passed (FIFO: a read does not refresh a row, so answering writes nothing it has seen).

The cache can only save work, never lose any: a write that finds the file locked by another
process for 2 s is skipped, any other SQLite error (a full disk, a corrupt file) turns the cache
off for the process with one warning, and the texts are encoded as if it were not there.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FORMAT = 1  # this file's layout
_CHUNK = 500  # keys per SELECT (SQLite's default limit is 999 parameters before 3.32)


def key_of(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]


class VectorCache:
    """`get(texts) -> {index: vector}` and `put(texts, vectors)`; thread-safe, multi-process safe
    (SQLite WAL: readers never wait for a writer; a writer waits up to 2 s for another, then
    skips its batch)."""

    def __init__(self, path: Path, identity: str, *, max_rows: int) -> None:
        self.path, self.identity, self.max_rows = Path(path), identity, max_rows
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.enabled = max_rows > 0

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(str(self.path), timeout=2, check_same_thread=False,
                                 isolation_level=None)
            try:
                self._prepare(db)
            except sqlite3.Error:
                db.close()  # a half-set-up connection is not kept; the next call tries again
                raise
            self._db = db
        return self._db

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Tables made, and emptied when they hold another export's or encoding's vectors."""
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # a lost last write is only lost work
        db.execute("CREATE TABLE IF NOT EXISTS meta (identity TEXT NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS vectors "
                   "(id INTEGER PRIMARY KEY, key BLOB UNIQUE NOT NULL, vec BLOB NOT NULL)")
        row = db.execute("SELECT identity FROM meta").fetchone()
        if row is None or row[0] != self.identity:
            with db:  # another export or encoding: its vectors are another function's
                db.execute("BEGIN IMMEDIATE")
                db.execute("DELETE FROM vectors")
                db.execute("DELETE FROM meta")
                db.execute("INSERT INTO meta VALUES (?)", (self.identity,))

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            log.info("vector cache %s busy; this batch is not kept (%s)", self.path, exc)
            return  # another process held it past the timeout: skip this write, not the cache
        log.warning("vector cache %s turned off for this process (%s); texts are encoded as "
                    "usual", self.path, exc)
        self.enabled = False

    def get(self, texts: list[str]) -> dict[int, np.ndarray]:
        if not self.enabled or not texts:
            return {}
        keys = [key_of(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            try:
                db = self._connect()
                distinct = list(dict.fromkeys(keys))
                for start in range(0, len(distinct), _CHUNK):
                    part = distinct[start:start + _CHUNK]
                    rows = db.execute("SELECT key, vec FROM vectors WHERE key IN "
                                      f"({','.join('?' * len(part))})", part)
                    found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
            except sqlite3.Error as exc:
                self._failed(exc)
                return {}
        return {i: found[k] for i, k in enumerate(keys) if k in found}

    def put(self, texts: list[str], vectors: np.ndarray) -> None:
        if not self.enabled or not texts:
            return
        rows = [(key_of(t), np.asarray(v, dtype=np.float32).tobytes())
                for t, v in zip(texts, vectors)]
        with self._lock:
            try:
                db = self._connect()
                with db:
                    db.execute("BEGIN IMMEDIATE")
                    db.executemany("INSERT OR IGNORE INTO vectors (key, vec) VALUES (?, ?)", rows)
                    db.execute("DELETE FROM vectors WHERE id <= "
                               "(SELECT max(id) FROM vectors) - ?", (self.max_rows,))
            except sqlite3.Error as exc:
                self._failed(exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
