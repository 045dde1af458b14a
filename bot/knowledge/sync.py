"""One sync of one source: list it, index what changed, remove what is gone, record the run.

The same function serves `ragbot sync`, the scheduler and `/ragadmin resync`.

Order of operations, and why:
1. Ask the source what it holds. A connector with an ids-only listing (`Connector.list_ids`)
   gives every id with a version marker; ids whose marker matches the one stored beside the
   page's hash are unchanged and cost nothing more, the rest are fetched by id. Without one (or
   on a first sync, or `full=True`) the full listing is read. Markers are only trusted under the
   same chunker and source options they were stored with (`marker_tag`).
2. Documents flow in batches (bot/knowledge/batches.py) through hashing (an unchanged hash skips chunking
   and embedding), chunking and LangChain's `index()` (cleanup="incremental", grouped by
   `source_id`: unchanged chunks inside a changed page are not re-embedded, stale ones are
   removed), and each batch's page rows are saved; memory does not grow with the source.
3. Only after the listing and the fetches completed are the pages missing from them deleted
   (through the record manager, so the vector store and the record manager stay in step). A
   `ConnectorError` (or any other failure) before that ends the run with the error recorded and
   *nothing deleted*: a listing we cannot vouch for never causes deletions.
`full=True` re-lists, re-reads and re-chunks every page, then removes every chunk of this
source's record-manager namespace that the run did not refresh (what `cleanup="full"` does).

A per-source lease in the database (`sync:<source>`, bot/knowledge/leases.py) means two processes,
on one host or several (the bot and a `ragbot scheduler` worker, two replicas), never sync the same
source at once; the second gets `SyncInProgressError` at once instead of waiting. Call it through
`Index.sync`, which adds the failure alerts.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bot.config import Settings, SourceConfig
from bot.knowledge import leases, state, vectors
from bot.knowledge.batches import Batches, Progress
from bot.knowledge.chunking import CHUNKER_VERSION
from bot.knowledge.index import Index
from connectors.base import ConnectorContext, ConnectorError, SkippedItem, SourceDocument
from connectors.registry import connector_class

FETCH_BATCH = 100  # ids per `fetch_documents` call


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
    fetched: int = 0  # page bodies read from the source (an unchanged page's are not)
    skipped_items: list[SkippedItem] = field(default_factory=list)
    error: str | None = None
    duration_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase of `_sync`

    def counts(self) -> dict[str, int]:
        return {"added": self.added, "updated": self.updated, "skipped": self.skipped,
                "deleted": self.deleted, "chunks_embedded": self.chunks_embedded,
                "chunks_deleted": self.chunks_deleted, "fetched": self.fetched,
                "items_skipped": len(self.skipped_items)}


@contextmanager
def source_lock(settings: Settings, source: str, index: Index | None = None) -> Iterator[None]:
    """Hold the `sync:<source>` lease (renewed while the sync runs) or raise at once."""
    index = index or Index(settings)
    lease = leases.Lease(index.engine, f"sync:{source}", settings.scheduler.lease_s)
    if not lease.try_acquire():
        raise SyncInProgressError(f"source {source!r} is already syncing")
    try:
        yield
    finally:
        lease.release()


def build_connector(settings: Settings, source: SourceConfig):
    cls = connector_class(source.type)
    context = ConnectorContext(source_name=source.name,
                               state_dir=settings.data_dir / "sources" / source.name,
                               env=dict(os.environ))
    return cls(source.options, context)


def _list(connector: Any) -> list[SourceDocument]:
    """The whole listing in memory (benches only; the sync streams it)."""
    docs: dict[str, SourceDocument] = {}
    for doc in connector.list_documents():
        if not admissible(connector, doc):
            continue
        if doc.source_id in docs:
            connector.skip(doc.source_id, "listed twice by the source; the first copy was kept")
            continue
        docs[doc.source_id] = doc
    return list(docs.values())


def admissible(connector: Any, doc: SourceDocument) -> bool:
    """False (and the page skipped by name) for a page over the source's `max_page_mb` or with a
    name that is not UTF-8, whatever connector listed it (a surrogate in a name used to fail the
    whole sync inside Chroma, naming no file)."""
    try:
        doc.source_id.encode("utf-8")
        doc.title.encode("utf-8")
    except UnicodeEncodeError:
        connector.skip(doc.source_id, "name is not UTF-8; rename it")
        return False
    cap = getattr(connector.options, "max_page_bytes", None)
    if cap and len(doc.content) > cap:
        connector.skip(doc.source_id, f"over max_page_mb ({cap / 2**20:g} MB of text)")
        return False
    return True


def marker_tag(settings: Settings, source: SourceConfig) -> str:
    """What a stored version marker is only valid with: the chunker and this source's options.

    A marker says "the source's copy did not change"; if the chunking or the source's config
    (a URL template, an include glob) changed, the indexed copy may still be stale.
    """
    options = json.dumps(source.options.model_dump(mode="json"), sort_keys=True, default=str)
    digest = hashlib.sha256(f"{CHUNKER_VERSION}\0{settings.index.chunk_size}\0"
                            f"{settings.index.chunk_overlap}\0{source.type}\0{options}".encode())
    return digest.hexdigest()[:16]


def _timed(items: Iterable[Any], timings: dict[str, float], key: str) -> Iterator[Any]:
    """Iterate, adding the seconds spent inside the source's iterator to timings[key]."""
    iterator = iter(items)
    while True:
        clock = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            return
        finally:
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - clock
        yield item


def _by_listing(connector: Any, pipeline: Batches) -> set[str]:
    """The full listing, streamed: every document is read (first sync, --full, no ids)."""
    seen: set[str] = set()
    for doc in _timed(connector.list_documents(), pipeline.result.timings, "list"):
        if doc.source_id in seen:
            connector.skip(doc.source_id, "listed twice by the source; the first copy was kept")
            continue
        if not admissible(connector, doc):
            continue  # not in the listing: an older copy leaves the index
        seen.add(doc.source_id)
        pipeline.add(doc, doc.version)
    return seen


def _markers(known: dict[str, state.PageRow], tag: str) -> dict[str, str]:
    """id -> the connector's marker, for the stored markers valid under `tag`."""
    prefix = tag + ":"
    return {sid: row.marker[len(prefix):] for sid, row in known.items()
            if row.marker and row.marker.startswith(prefix)}


def _by_ids(connector: Any, pipeline: Batches, known: dict[str, str]) -> set[str]:
    """List ids and markers, then fetch only the bodies whose marker changed."""
    timings = pipeline.result.timings
    seen: set[str] = set()
    to_fetch: dict[str, str] = {}  # id -> listed marker
    for item in _timed(connector.list_ids(known), timings, "list"):
        sid = item.source_id
        if sid in seen:
            connector.skip(sid, "listed twice by the source; the first copy was kept")
            continue
        if item.document is not None:  # read anyway (a crawl; a page rendered to list it)
            if not admissible(connector, item.document):
                continue
            seen.add(sid)
            pipeline.add(item.document, item.marker)
            continue
        seen.add(sid)
        if item.marker and known.get(sid) == item.marker:
            pipeline.result.skipped += 1
        elif item.unchanged and sid in known:
            pipeline.unchanged(sid, item.marker)
        else:
            to_fetch[sid] = item.marker
    wanted = list(to_fetch)
    got: set[str] = set()
    for start in range(0, len(wanted), FETCH_BATCH):
        for doc in _timed(connector.fetch_documents(wanted[start:start + FETCH_BATCH]), timings,
                          "fetch"):
            if doc.source_id in to_fetch and doc.source_id not in got and \
                    admissible(connector, doc):
                got.add(doc.source_id)
                pipeline.add(doc, doc.version or to_fetch[doc.source_id])
    return seen - (set(wanted) - got)  # listed, but gone (or skipped) by the time of the fetch


def _sync(index: Index, source: SourceConfig, result: SyncResult, progress: Progress | None):
    settings, engine = index.settings, index.engine
    connector = build_connector(settings, source)
    known = state.page_rows(engine, source.name)
    space = _space_config(settings)
    if known and not result.full and state.space_checked(engine, source.name, space):
        # Checked against this embedding config before: no need to open Chroma to compare (a
        # no-op sync is ~1 s as a process, not the 5-10 s of importing Chroma and the model).
        force = False
    else:
        force = _check_space(settings, source.name, bool(known), result.full)
    result.timings.update(list=0.0, fetch=0.0, hash=0.0, chunk=0.0, open=0.0, index_other=0.0,
                          finish=0.0)
    tag = marker_tag(settings, source)
    pipeline = Batches(index, source, result, known, tag, force, progress)
    # Ids first where the source can say what changed. Without a valid stored marker (a first
    # sync, a changed chunker or source config) everything is read anyway, and the full listing
    # does it in the source's own pages (one request per page of results, not one per document).
    markers = {} if result.full else _markers(known, tag)
    by_ids = bool(markers) and connector.supports_ids()
    try:
        seen = _by_ids(connector, pipeline, markers) if by_ids else _by_listing(connector, pipeline)
        pipeline.flush()
    finally:
        connector.close()
        result.skipped_items = list(connector.skipped)
    if not seen and known and not result.full:
        raise ConnectorError(
            f"source {source.name!r} listed no pages but the index holds {len(known)}; nothing "
            f"was deleted. If the source really is empty now, run `ragbot sync --source "
            f"{source.name} --full`.")
    # Only now, after a listing that completed, may pages be deleted; never after a listing-level
    # skip (a folder that could not be read): its pages may be missing from it, not gone.
    doubtful = any(item.listing for item in result.skipped_items)
    removed = [] if doubtful else sorted(set(known) - seen)
    if removed or (result.full and not doubtful):
        pipeline.remove(removed)
    result.deleted = len(removed)
    clock = time.perf_counter()
    state.save_pages(engine, source.name, (), removed)
    if pipeline.indexed or result.full:
        vectors.record_space(settings, source.name)
    # a re-embed into another space invalidates what earlier configs were checked against
    state.mark_space_checked(engine, source.name, space, reset=force)
    result.timings["finish"] += time.perf_counter() - clock
    counting = pipeline.counting
    result.timings["embed"] = counting.seconds if counting else 0.0
    result.timings["embed_upfront"] = counting.upfront_seconds if counting else 0.0


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

    current = vectors.vector_space(settings)
    recorded = vectors.indexed_spaces(settings).get(source)
    if recorded is None and indexed:  # indexed before spaces were recorded: torch was all there was
        recorded = vector_space(settings.index.embedding_model, "torch")
    if recorded is None or recorded == current:
        return False
    if not full:
        raise vectors.EmbeddingMismatchError(
            f"source {source!r} was embedded as {recorded!r} but index.embedding_model/backend "
            f"now give {current!r}; vectors of the two cannot be mixed. Run `ragbot sync "
            f"--source {source} --full` to re-embed it (or set the backend back).")
    return True


def sync_source(settings: Settings, name: str, *, full: bool = False, trigger: str = "manual",
                progress: Progress | None = None, index: Index | None = None) -> SyncResult:
    """Sync one source; never raises for a source failure (see `SyncResult.error`). No alerts:
    `Index.sync` is the entry point that adds them.

    Raises `SyncInProgressError` when the source is already syncing, and `ConfigError` for an
    unknown source name.
    """
    source = settings.source(name)
    result = SyncResult(source=name, full=full)
    index = index or Index(settings)
    engine = index.engine
    with source_lock(settings, name, index):
        run_id = state.start_run(engine, name, full=full, trigger=trigger)
        started = time.monotonic()
        try:
            _sync(index, source, result, progress)
            result.ok = True
        except ConnectorError as exc:
            result.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure must be recorded, never delete
            result.error = f"{type(exc).__name__}: {exc}"
        result.duration_s = time.monotonic() - started
        state.finish_run(engine, run_id, status="ok" if result.ok else "failed",
                         counts=result.counts(), error=result.error,
                         skipped=result.skipped_items)
    return result
