"""The database schema, as an ordered list of named migrations; the only place tables are made.

Each migration runs once per database, in order, and is recorded in `ragbot_migrations` (the
shape simonw/llm uses: a list of functions, a table of the names applied). Every process opens
its engine through `bot.knowledge.db.open_engine`, which calls `migrate` first, so a new version
upgrades an existing database in place the first time any command touches it.

Rules for whoever adds one:
- Append; never edit or reorder a migration that has been released (its name is its identity).
- Migrations run on SQLite and PostgreSQL; use SQLAlchemy constructs, not one dialect's SQL.
- `m001_tables` creates the tables as the modules define them now, skipping tables that exist:
  that is what adopts a data_dir made before migrations existed (its tables are all there, so
  only the record is written). A later column on an existing table is therefore a new migration
  that calls `add_column`, which skips a column a fresh `m001_tables` already made.

Two processes starting at once (replicas) would race to migrate: on PostgreSQL the run holds an
advisory lock, on SQLite a file lock beside the database (SQLite is one machine by definition).
"""

from __future__ import annotations

import io
import logging
import pickle
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import (Column, DateTime, Float, Index, MetaData, String, Table, UniqueConstraint,
                        insert, inspect, select, text)
from sqlalchemy.engine import Connection, Engine

from bot.knowledge.state import utcnow

log = logging.getLogger("ragbot.migrations")

JOBS_TABLE = "apscheduler_jobs"  # APScheduler's SQLAlchemyJobStore table (bot/knowledge/scheduler.py)
_LOCK_KEY = 0x7261_6762  # "ragb": the advisory lock id for migrating

_metadata = MetaData()
applied_table = Table(
    "ragbot_migrations", _metadata,
    Column("name", String(128), primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


def _record_manager_metadata() -> MetaData:
    """LangChain's `upsertion_record` table (SQLRecordManager's `UpsertionRecord`), spelled out.

    A migration freezes the schema it creates; importing LangChain to read it would also cost
    every first command on a new data_dir (`ragbot status` included) about a second.
    tests/knowledge/test_migrations.py checks that it matches the installed LangChain's table.
    """
    metadata = MetaData()
    Table("upsertion_record", metadata,
          Column("uuid", String, primary_key=True, index=True, nullable=False),
          Column("key", String, index=True),
          Column("namespace", String, index=True, nullable=False),
          Column("group_id", String, index=True, nullable=True),
          Column("updated_at", Float, index=True),
          UniqueConstraint("key", "namespace", name="uix_key_namespace"),
          Index("ix_key_namespace", "key", "namespace"))
    return metadata


def _jobs_metadata(conn: Connection) -> MetaData:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    return SQLAlchemyJobStore(engine=conn.engine, tablename=JOBS_TABLE).jobs_t.metadata


def m001_tables(conn: Connection) -> None:
    """Every table of the release before migrations (adopted as they are when present)."""
    from bot.knowledge import alerts, state
    from bot import records

    for metadata in (state.metadata, alerts.metadata, records.metadata,
                     _record_manager_metadata(), _jobs_metadata(conn)):
        metadata.create_all(conn, checkfirst=True)


def m002_leases(conn: Connection) -> None:
    """Leases (the one scheduler, one sync per source) replace the lock files in data_dir/locks."""
    from bot.knowledge import leases

    leases.metadata.create_all(conn, checkfirst=True)


class _RenamedModules(pickle.Unpickler):
    """Unpickles objects whose module was renamed since they were stored."""

    RENAMED = {"bot.knowledge.schedule": "bot.knowledge.triggers"}

    def find_class(self, module: str, name: str):
        return super().find_class(self.RENAMED.get(module, module), name)


def m003_jobs_renamed_module(conn: Connection) -> None:
    """Stored jobs pickle their trigger by import path: `bot.knowledge.schedule` became
    `bot.knowledge.triggers`. Re-pickle them, or APScheduler drops each job it cannot restore
    (and a paused schedule would silently run again)."""
    jobs = Table(JOBS_TABLE, MetaData(), autoload_with=conn)
    for job_id, state in conn.execute(select(jobs.c.id, jobs.c.job_state)).all():
        if b"bot.knowledge.schedule" not in state:
            continue
        restored = _RenamedModules(io.BytesIO(state)).load()
        conn.execute(jobs.update().where(jobs.c.id == job_id)
                     .values(job_state=pickle.dumps(restored, pickle.HIGHEST_PROTOCOL)))


def m004_version_markers(conn: Connection) -> None:
    """Sync asks each source what changed: a page's version marker and each run's fetched count."""
    from bot.knowledge import state

    add_column(conn, "pages", state.pages.c.marker)
    add_column(conn, "sync_runs", state.sync_runs.c.fetched)


MIGRATIONS: list[Callable[[Connection], None]] = [m001_tables, m002_leases,
                                                  m003_jobs_renamed_module, m004_version_markers]


def add_column(conn: Connection, table: str, column: Column) -> None:
    """ALTER TABLE ... ADD COLUMN, unless the column is there (a fresh m001 made it)."""
    if column.name in {c["name"] for c in inspect(conn).get_columns(table)}:
        return
    ddl = column.type.compile(dialect=conn.dialect)
    conn.execute(text(f'ALTER TABLE {table} ADD COLUMN "{column.name}" {ddl}'))


def applied(engine: Engine) -> list[str]:
    """Names of the migrations this database has had, in the order they ran."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(applied_table.name):
            return []
        return list(conn.execute(select(applied_table.c.name)
                                 .order_by(applied_table.c.applied_at)).scalars())


def pending(engine: Engine) -> list[str]:
    done = set(applied(engine))
    return [m.__name__ for m in MIGRATIONS if m.__name__ not in done]


def migrate(engine: Engine) -> list[str]:
    """Apply the pending migrations (each in its own transaction); returns their names."""
    if not pending(engine):
        return []
    with _exclusive(engine):
        todo = pending(engine)  # again: another process may have migrated while we waited
        for migration in MIGRATIONS:
            if migration.__name__ not in todo:
                continue
            with engine.begin() as conn:
                _metadata.create_all(conn, checkfirst=True)
                migration(conn)
                conn.execute(insert(applied_table).values(name=migration.__name__,
                                                          applied_at=utcnow()))
            log.info("database migrated: %s", migration.__name__)
    return todo


class _exclusive:
    """One migrating process per database (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._file_lock = None

    def __enter__(self) -> None:
        if self.engine.dialect.name == "postgresql":
            self._conn = self.engine.connect()
            self._conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
            self._conn.commit()
            return
        from filelock import FileLock

        database = self.engine.url.database
        if database and database != ":memory:":
            self._file_lock = FileLock(str(Path(database).with_suffix(".migrate.lock")))
            self._file_lock.acquire()

    def __exit__(self, *_exc) -> None:
        if self._conn is not None:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            self._conn.commit()
            self._conn.close()
        if self._file_lock is not None:
            self._file_lock.release()
