"""`database_url: postgresql://...` against a real PostgreSQL (and a real `chroma run` server):
every table in Postgres, two "hosts" (two data_dirs, one database) seeing one state, claims and
leases first-wins across engines. Skipped without the servers, except in CI (tests/servers.py)."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import inspect

from bot.knowledge import db, leases, migrations
from bot.knowledge.index import Index
from bot import records

TABLES = {"pages", "sync_runs", "index_meta", "sync_alerts", "slack_seen_events", "slack_threads",
          "slack_answers", "slack_feedback", "admin_audit", "upsertion_record",
          "apscheduler_jobs", "leases", "ragbot_migrations"}


def test_every_table_is_made_in_postgres_by_the_migrations(postgres_url, make_settings) -> None:
    settings = make_settings(database_url=postgres_url)
    index = Index(settings)
    assert index.engine.dialect.name == "postgresql"
    assert TABLES <= set(inspect(index.engine).get_table_names())
    assert migrations.applied(index.engine) == [m.__name__ for m in migrations.MIGRATIONS]
    assert migrations.migrate(index.engine) == []  # nothing left to do
    assert not (settings.data_dir / "ragbot.sqlite").exists()  # nothing local


def test_two_hosts_share_one_index(postgres_url, chroma_server_url, make_settings,
                                   tmp_path) -> None:
    """A sync on one "host" is what the other's status, health and answers see."""
    from bot.answering.pipeline import Pipeline
    from bot.slack.serve import health

    shared = dict(database_url=postgres_url,
                  index={"collection": f"pg-{uuid.uuid4().hex[:8]}",
                         "chroma_url": chroma_server_url})
    first = make_settings(**shared)
    second = first.model_copy(update={"data_dir": tmp_path / "other-host"})

    result = Index(first).sync("wiki")
    assert result.ok and result.added == 2
    [status] = Index(second).status()
    assert status.health == "ok" and status.documents == 2
    assert status.last_success == Index(first).last_success("wiki") is not None
    assert health(second)["index"]["synced_at"] == status.last_success.isoformat()
    answer = Pipeline(second).answer("When are expense reports due?")
    assert not answer.abstained and "expenses.md" in {c.source_id for c in answer.citations}
    with Index(second).engine.connect() as conn:  # the record manager is in Postgres too
        assert conn.exec_driver_sql("select count(*) from upsertion_record").scalar() >= 2
    assert not (second.data_dir / "ragbot.sqlite").exists()


def test_claims_are_first_wins_across_engines(postgres_url) -> None:
    """Two engines stand for two replicas: one INSERT wins, whatever the interleaving."""
    engines = [db._create(postgres_url) for _ in range(2)]
    migrations.migrate(engines[0])
    results: list[bool] = []
    start = threading.Barrier(8)

    def claim(engine):
        start.wait()
        results.append(records.claim(engine, "ev:Ev0SAME", "msg:C0:1.0"))

    threads = [threading.Thread(target=claim, args=(engines[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    for engine in engines:
        engine.dispose()


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_lease_has_one_holder_until_it_lapses(backend, request, tmp_path) -> None:
    url = (request.getfixturevalue("postgres_url") if backend == "postgres"
           else f"sqlite:///{tmp_path / 'ragbot.sqlite'}")
    engine = db._create(url)
    migrations.migrate(engine)
    assert leases.acquire(engine, "scheduler", "host-a:1:x", 30)
    assert not leases.acquire(engine, "scheduler", "host-b:2:y", 30)
    assert leases.acquire(engine, "scheduler", "host-a:1:x", 30)  # a renewal
    assert leases.current(engine, "scheduler")[0] == "host-a:1:x"
    leases.release(engine, "scheduler", "host-b:2:y")  # not the holder: no effect
    assert leases.current(engine, "scheduler")[0] == "host-a:1:x"
    assert leases.acquire(engine, "lapsed", "host-a:1:x", -1)  # a holder that died
    assert leases.current(engine, "lapsed") is None
    assert leases.acquire(engine, "lapsed", "host-b:2:y", 30)  # taken over
    engine.dispose()
