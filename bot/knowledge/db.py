"""The one database every part of ragbot keeps its state in, chosen by `database_url`.

- Default (embedded): SQLite at `data_dir/ragbot.sqlite`, in WAL mode so the bot reads while a
  sync writes. One machine; a deployment backs up that file and `data_dir/chroma/`.
- `postgresql://user@host:5432/db` (config `database_url` or `RAGBOT_DATABASE_URL`; keep the
  password in the environment variable or `~/.pgpass`, not the YAML): every table (Slack claims,
  threads, answers, feedback, audit, pages, runs, alerts, leases, the record manager, the
  APScheduler job store) lives in that database, which is what lets several replicas share one
  state. The driver is psycopg 3.

An engine is made once per URL per process and migrated to the current schema before it is
handed out (`bot.knowledge.migrations`); nothing else creates tables.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


_engines: dict[str, Engine] = {}
_lock = threading.Lock()

def database_url(settings) -> str:
    """The config's `database_url` (or `RAGBOT_DATABASE_URL`, applied by bot.config), else
    SQLite under data_dir."""
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{Path(settings.data_dir) / 'ragbot.sqlite'}"


def describe(url: str) -> str:
    """The URL with its password hidden (for logs and errors)."""
    return make_url(url).render_as_string(hide_password=True)


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # psycopg 3 whatever the URL says (psycopg2 is not installed); pre-ping: a replica
        # outlives database restarts and idle connections dropped by a proxy.
        engine = create_engine(parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True,
                               pool_size=5, max_overflow=10)
        return engine
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):  # WAL: the bot reads while a sync writes
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def open_engine(url: str) -> Engine:
    """The process's engine for `url`, migrated to the current schema (once per process)."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            from bot.knowledge.migrations import migrate

            engine = _create(url)
            migrate(engine)
            _engines[url] = engine
        return engine


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
