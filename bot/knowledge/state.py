"""ragbot's own bookkeeping about the index, beside the record manager in the database
(tables made by bot/knowledge/migrations.py).

- `pages`: one row per indexed page: its content hash (so an unchanged page costs one hash and no
  chunking or embedding), and its title/url/updated time. The updated time lives here, not in
  chunk metadata, so a page whose only change is its timestamp is never re-embedded.
  `marker` is the source's version marker of the page (a Confluence version, a blob sha, an ETag),
  prefixed with the tag it is valid under (`sync.marker_tag`); a sync fetches only pages whose
  marker changed.
- `sync_runs`: every sync, scheduled or manual, with counts and the error; `ragbot status`,
  `/ragadmin` and the failure alerts read it.
- `index_meta`: a generation counter bumped by every sync that changed the index, so in-process
  caches (the lexical index) know when to rebuild; and per source, which embedding configs its
  vectors were last checked against (`space_checked`), so a no-op sync need not open Chroma.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (Boolean, Column, DateTime, Integer, MetaData, String, Table, Text, delete,
                        func, insert, select, update)
from sqlalchemy.engine import Engine

from bot.timefmt import aware, utcnow  # noqa: F401 - callers use state.aware / state.utcnow

metadata = MetaData()

pages = Table(
    "pages", metadata,
    Column("source", String(64), primary_key=True),
    Column("source_id", String(1024), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("url", Text),
    Column("updated_at", DateTime(timezone=True)),
    Column("chunks", Integer, nullable=False, default=0),
    Column("indexed_at", DateTime(timezone=True), nullable=False),
    Column("marker", Text),
)

sync_runs = Table(
    "sync_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False, index=True),
    Column("trigger", String(16), nullable=False, default="manual"),
    Column("full", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False),  # running | ok | failed
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("added", Integer, default=0),
    Column("updated", Integer, default=0),
    Column("skipped", Integer, default=0),
    Column("deleted", Integer, default=0),
    Column("chunks_embedded", Integer, default=0),
    Column("chunks_deleted", Integer, default=0),
    Column("items_skipped", Integer, default=0),
    Column("error", Text),
    Column("fetched", Integer),  # page bodies read from the source
)

# The items the run left out, by name and reason (`ragbot status`, /ragadmin status).
sync_skips = Table(
    "sync_skips", metadata,
    Column("run_id", Integer, primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("source_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
)
MAX_SKIPS_KEPT = 200  # per run; the count in sync_runs.items_skipped is always whole

index_meta = Table(
    "index_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Integer, nullable=False),
)


@dataclass(frozen=True, slots=True)
class PageRow:
    source_id: str
    content_hash: str
    title: str
    url: str | None
    updated_at: datetime | None
    chunks: int
    marker: str | None = None


def page_rows(engine: Engine, source: str) -> dict[str, PageRow]:
    with engine.connect() as conn:
        rows = conn.execute(select(pages).where(pages.c.source == source)).mappings().all()
    return {r["source_id"]: _row(r) for r in rows}


def _row(r) -> PageRow:
    return PageRow(r["source_id"], r["content_hash"], r["title"], r["url"],
                   aware(r["updated_at"]), r["chunks"], r["marker"])


def pages_by_id(engine: Engine, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PageRow]:
    """Rows for (source, source_id) pairs, for showing when a cited page last changed."""
    keys = set(keys)
    if not keys:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(select(pages).where(
            pages.c.source_id.in_({k[1] for k in keys}))).mappings().all()
    return {(r["source"], r["source_id"]): _row(r) for r in rows if (r["source"], r["source_id"]) in keys}


def save_pages(engine: Engine, source: str, rows: Iterable[PageRow], removed: Iterable[str]) -> None:
    now = utcnow()
    with engine.begin() as conn:
        removed = list(removed)
        for start in range(0, len(removed), 500):
            conn.execute(delete(pages).where(pages.c.source == source,
                                             pages.c.source_id.in_(removed[start:start + 500])))
        rows = list(rows)
        if rows:
            conn.execute(delete(pages).where(pages.c.source == source,
                                             pages.c.source_id.in_([r.source_id for r in rows])))
        values = [dict(source=source, source_id=r.source_id, content_hash=r.content_hash,
                       title=r.title, url=r.url, updated_at=r.updated_at, chunks=r.chunks,
                       marker=r.marker, indexed_at=now) for r in rows]
        if values:
            conn.execute(insert(pages), values)


def page_counts(engine: Engine) -> dict[str, tuple[int, int]]:
    """source -> (pages, chunks)."""
    with engine.connect() as conn:
        rows = conn.execute(select(pages.c.source, func.count(), func.sum(pages.c.chunks))
                            .group_by(pages.c.source)).all()
    return {source: (count, int(chunks or 0)) for source, count, chunks in rows}


def start_run(engine: Engine, source: str, *, full: bool, trigger: str) -> int:
    with engine.begin() as conn:
        result = conn.execute(insert(sync_runs).values(
            source=source, full=full, trigger=trigger, status="running", started_at=utcnow()))
        return int(result.inserted_primary_key[0])


def finish_run(engine: Engine, run_id: int, *, status: str, counts: dict[str, int],
               error: str | None, skipped: Iterable = ()) -> None:
    """`skipped`: the run's SkippedItems (source_id, reason), kept for status to show."""
    rows = [dict(run_id=run_id, n=n, source_id=item.source_id, reason=item.reason)
            for n, item in enumerate(list(skipped)[:MAX_SKIPS_KEPT])]
    with engine.begin() as conn:
        conn.execute(update(sync_runs).where(sync_runs.c.id == run_id).values(
            status=status, finished_at=utcnow(), error=error, **counts))
        if rows:
            conn.execute(insert(sync_skips), rows)


def run_skips(engine: Engine, run_id: int) -> list[tuple[str, str]]:
    """(source_id, reason) of the items a run skipped."""
    with engine.connect() as conn:
        return [(r.source_id, r.reason) for r in conn.execute(
            select(sync_skips).where(sync_skips.c.run_id == run_id).order_by(sync_skips.c.n))]


def recent_runs(engine: Engine, source: str | None = None, limit: int = 10) -> list[dict]:
    query = select(sync_runs).order_by(sync_runs.c.id.desc()).limit(limit)
    if source:
        query = query.where(sync_runs.c.source == source)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings().all()]
    for row in rows:
        row["started_at"], row["finished_at"] = aware(row["started_at"]), aware(row["finished_at"])
    return rows


def generation(engine: Engine) -> int:
    with engine.connect() as conn:
        value = conn.execute(select(index_meta.c.value).where(index_meta.c.key == "generation")).scalar()
    return int(value or 0)


def bump_generation(engine: Engine) -> None:
    with engine.begin() as conn:
        if conn.execute(update(index_meta).where(index_meta.c.key == "generation")
                        .values(value=index_meta.c.value + 1)).rowcount == 0:
            conn.execute(insert(index_meta).values(key="generation", value=1))


def _space_key_prefix(source: str) -> str:
    return "space-checked:" + hashlib.sha256(source.encode()).hexdigest()[:16] + ":"


def space_checked(engine: Engine, source: str, config: str) -> bool:
    """Whether `source`'s vectors were last checked against (or embedded with) this embedding
    config: then a sync with nothing to embed need not open the vector store to compare spaces."""
    key = _space_key_prefix(source) + hashlib.sha256(config.encode()).hexdigest()[:24]
    with engine.connect() as conn:
        return conn.execute(select(index_meta.c.value).where(index_meta.c.key == key)).scalar() \
            is not None


def mark_space_checked(engine: Engine, source: str, config: str, *, reset: bool = False) -> None:
    """Record that `source`'s vectors match `config`; `reset` first forgets every other config
    (the source was re-embedded into another space)."""
    prefix = _space_key_prefix(source)
    key = prefix + hashlib.sha256(config.encode()).hexdigest()[:24]
    with engine.begin() as conn:
        if reset:
            conn.execute(delete(index_meta).where(index_meta.c.key.startswith(prefix)))
        if conn.execute(select(index_meta.c.value).where(index_meta.c.key == key)).scalar() is None:
            conn.execute(insert(index_meta).values(key=key, value=1))
