"""One bad item is skipped by name, the rest syncs, and status shows it (issue #17, item 4)."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from bot.cli import app as cli
from bot.knowledge import state
from bot.knowledge.index import Index
from bot.knowledge.status import source_status
from bot.knowledge.sync import sync_source
from tests.knowledge.conftest import write_pages


def test_bad_items_are_skipped_by_name_and_shown_in_status(make_settings, tmp_path):
    wiki = write_pages(tmp_path / "wiki")
    (tmp_path / "secret.md").write_text("# Secret\n\nroot password hunter2\n")
    (wiki / "passwd.md").symlink_to(tmp_path / "secret.md")
    os.mkfifo(wiki / "notes.md")
    (wiki / os.fsdecode(b"caf\xe9.md")).write_text("# Cafe\n\nCoffee.\n")
    settings = make_settings({"wiki": {}})
    result = sync_source(settings, "wiki")
    assert result.ok, result.error  # was: TypeError converting the metadata of caf\xe9.md
    assert result.added == 2
    assert {i.source_id for i in result.skipped_items} == {"passwd.md", "notes.md",
                                                           "caf\\xe9.md"}
    [row] = source_status(settings)
    assert {item for item, _ in row.skipped_items} == {"passwd.md", "notes.md", "caf\\xe9.md"}
    out = CliRunner().invoke(cli, ["-c", str(settings.config_path), "status"]).output
    assert "passwd.md" in out and "notes.md" in out and "caf\\xe9.md" in out

    from bot.slack.admin.blocks import status_line

    assert "passwd.md" in status_line(row)


def test_a_listing_level_skip_syncs_the_rest_but_deletes_nothing(make_settings, tmp_path,
                                                                   monkeypatch):
    settings = make_settings({"wiki": {}})
    assert sync_source(settings, "wiki").ok
    (tmp_path / "wiki" / "vpn.md").unlink()
    (tmp_path / "wiki" / "new.md").write_text("# New\n\nA new page.\n")
    from connectors import folder

    original = folder.walk_pages

    def walk_with_unreadable_folder(root, exclude, connector=None):
        # what os.walk's onerror reports for a sub-folder it cannot read (tests run as root,
        # so a real permission error cannot be made); the ids listing and the full one both walk
        connector.skip("private", "folder cannot be read", listing=True)
        yield from original(root, exclude, connector)

    monkeypatch.setattr(folder, "walk_pages", walk_with_unreadable_folder)
    result = sync_source(settings, "wiki")
    assert result.ok and result.added == 1 and result.deleted == 0
    assert set(state.page_rows(Index(settings).engine, "wiki")) == {"expenses.md", "vpn.md",
                                                                    "new.md"}
    full = sync_source(settings, "wiki", full=True)  # not even a full sync's cleanup deletes
    assert full.ok and full.deleted == 0 and full.chunks_deleted == 0
    assert "vpn.md" in state.page_rows(Index(settings).engine, "wiki")
    chunks = Index(settings).collection.get(
        where={"source_id": "vpn.md"})
    assert chunks["ids"]
