"""Incremental sync over a real folder, real embeddings, real Chroma and SQLite."""

from pathlib import Path

import pytest

from bot.config import Settings, parse_settings
from bot.knowledge import state
from bot.knowledge.index import Index
from bot.knowledge.sync import SyncInProgressError, source_lock, sync_source

pytestmark = pytest.mark.slow  # real syncs with the real embedding model

PAGES = {
    "vpn.md": "# VPN\n\nReset your token at https://vpn.example/reset.\n\n## Linux\n\nUse openconnect.\n",
    "pto.md": "# Time off\n\nYou get 25 days of PTO a year.\n",
    "it/laptops.md": "# Laptops\n\nLaptops are refreshed every 3 years.\n",
}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Settings, Path]:
    docs = tmp_path / "docs"
    for name, text in PAGES.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text)
    settings = parse_settings({"data_dir": "state", "tone": {"enabled": False},
                               "sources": [{"name": "wiki", "type": "folder", "path": "docs"}]},
                              tmp_path)
    return settings, docs


def chunk_ids(settings: Settings) -> dict[str, set[str]]:
    found = Index(settings).vector_store().get(where={"source": "wiki"})
    by_page: dict[str, set[str]] = {}
    for cid, meta in zip(found["ids"], found["metadatas"]):
        by_page.setdefault(meta["source_id"], set()).add(cid)
    return by_page


def test_first_sync_then_noop_resync_embeds_nothing(setup):
    settings, _ = setup
    first = sync_source(settings, "wiki")
    assert first.ok and (first.added, first.updated, first.deleted) == (3, 0, 0)
    assert first.chunks_embedded == sum(len(v) for v in chunk_ids(settings).values()) == 4
    calls = []
    second = sync_source(settings, "wiki", progress=lambda done, total: calls.append(done))
    assert second.ok and (second.added, second.updated, second.skipped) == (0, 0, 3)
    assert second.chunks_embedded == 0 and calls == []


def test_changing_one_file_reembeds_only_its_chunks(setup):
    settings, docs = setup
    sync_source(settings, "wiki")
    before = chunk_ids(settings)
    (docs / "pto.md").write_text("# Time off\n\nYou get 30 days of PTO a year.\n")
    result = sync_source(settings, "wiki")
    after = chunk_ids(settings)
    assert result.ok and (result.updated, result.skipped) == (1, 2)
    assert result.chunks_embedded == 1 and result.chunks_deleted == 1
    assert after["vpn.md"] == before["vpn.md"] and after["it/laptops.md"] == before["it/laptops.md"]
    assert after["pto.md"] != before["pto.md"]
    texts = Index(settings).vector_store().get(ids=list(after["pto.md"]))["documents"]
    assert "30 days" in texts[0]


def test_deleting_a_file_removes_its_chunks_and_page_row(setup):
    settings, docs = setup
    sync_source(settings, "wiki")
    (docs / "vpn.md").unlink()
    result = sync_source(settings, "wiki")
    assert result.ok and result.deleted == 1 and result.chunks_deleted == 2
    assert "vpn.md" not in chunk_ids(settings)
    assert "vpn.md" not in state.page_rows(Index(settings).engine, "wiki")


def test_a_missing_folder_fails_the_sync_and_deletes_nothing(setup):
    settings, docs = setup
    sync_source(settings, "wiki")
    before = chunk_ids(settings)
    docs.rename(docs.parent / "moved")
    result = sync_source(settings, "wiki")
    assert not result.ok and "does not exist" in result.error
    assert chunk_ids(settings) == before
    run = state.recent_runs(Index(settings).engine, "wiki", limit=1)[0]
    assert run["status"] == "failed" and "does not exist" in run["error"]


def test_an_empty_listing_never_wipes_the_source_unless_full(setup):
    settings, docs = setup
    sync_source(settings, "wiki")
    for path in list(docs.rglob("*.md")):
        path.unlink()
    refused = sync_source(settings, "wiki")
    assert not refused.ok and "--full" in refused.error and len(chunk_ids(settings)) == 3
    confirmed = sync_source(settings, "wiki", full=True)
    assert confirmed.ok and chunk_ids(settings) == {}


def test_full_resync_removes_orphans_and_keeps_the_rest(setup):
    settings, docs = setup
    sync_source(settings, "wiki")
    with Index(settings).engine.begin() as conn:  # forget what we knew about the pages
        conn.execute(state.pages.delete().where(state.pages.c.source == "wiki"))
    (docs / "pto.md").unlink()
    result = sync_source(settings, "wiki", full=True)
    assert result.ok and result.chunks_embedded == 0  # unchanged chunks are not re-embedded
    assert set(chunk_ids(settings)) == {"vpn.md", "it/laptops.md"}


def test_one_source_at_a_time(setup):
    settings, _ = setup
    with source_lock(settings, "wiki"):
        with pytest.raises(SyncInProgressError):
            sync_source(settings, "wiki")


def test_another_source_is_untouched_by_a_full_sync(setup, tmp_path):
    settings, _ = setup
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.md").write_text("# Other\n\nA page of another source.\n")
    both = parse_settings({"data_dir": str(settings.data_dir), "sources": [
        {"name": "wiki", "type": "folder", "path": str(settings.sources[0].options.path)},
        {"name": "other", "type": "folder", "path": str(other)}]}, tmp_path)
    assert sync_source(both, "wiki").ok and sync_source(both, "other").ok
    assert sync_source(both, "wiki", full=True).ok
    found = Index(both).vector_store().get(where={"source": "other"})
    assert len(found["ids"]) == 1


def test_nothing_to_embed_never_loads_the_embedding_model(setup):
    """A no-op sync, status and the health data open the index without the model (the CLI's
    start-up cost); only embedding or a question loads it."""
    from bot.knowledge import vectors
    from bot.slack.serve import health

    settings, _ = setup
    assert sync_source(settings, "wiki").ok
    vectors._embeddings.cache_clear()
    again = Index(settings).sync("wiki")
    assert again.ok and again.chunks_embedded == 0 and again.skipped == 3
    assert Index(settings).status()[0].health == "ok"
    assert health(settings)["index"]["pages"] == 3
    assert vectors._embeddings.cache_info().currsize == 0
