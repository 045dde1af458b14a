"""The schema the migrations create is the one the libraries that use it expect."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from bot.knowledge import migrations


def _schema(engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return sorted(conn.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'upsertion_record'")).all())


def test_the_frozen_record_manager_table_is_langchains(tmp_path) -> None:
    from langchain_classic.indexes._sql_record_manager import Base

    ours = create_engine(f"sqlite:///{tmp_path / 'ours.sqlite'}")
    migrations._record_manager_metadata().create_all(ours)
    theirs = create_engine(f"sqlite:///{tmp_path / 'theirs.sqlite'}")
    Base.metadata.create_all(theirs)
    assert _schema(ours) == _schema(theirs)
    assert len(_schema(ours)) >= 6  # the table, its unique constraint's index and its indexes
