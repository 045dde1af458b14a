"""Sync at team scale: ask each source what changed, fetch only that, delete only on a whole listing.

Generated sources behind the loopback fakes (a 500-page Confluence space, 200-page Notion
database, 200-file GitHub repository and 200-URL site: each listing spans several of its API's
result pages); the fakes count the page bodies they serve. RAGBOT_TEST_SCALE=10 runs the same
scenario at team scale (5,000 / 2,000 pages: 46 s of the four tests instead of 15 s on 2 busy
cores). The embedding is LangChain's deterministic fake (`fake_embeddings`); the sync, the record
manager and Chroma are the real ones.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import git
import pytest
from sqlalchemy import create_engine
from sqlalchemy import text as sql

from bot.config import Settings, parse_settings
from bot.knowledge import migrations, state
from bot.knowledge.index import Index
from bot.knowledge.sync import sync_source
from fake_sources import (ConfluencePage, FakeConfluence, FakeGitHub, FakeNotion,
                                    FakeServer, FakeSite, iso)
from tests.connectors.test_git import commit

SCALE = int(os.environ.get("RAGBOT_TEST_SCALE", "1"))
T0 = datetime(2024, 1, 10, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2024, 2, 20, 15, 30, tzinfo=timezone.utc)
EDITED = [10, 20, 30]
DELETED = [40, 50]
DELETED_WHILE_BROKEN = [60, 70]


class BigSource:
    """`size` generated pages; `edit(i)`, `delete(i)`, and `break_listing()` half-way."""

    size: int
    fake: FakeServer

    def __init__(self, serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.serve, self.monkeypatch = serve, monkeypatch

    def source(self) -> dict[str, Any]: ...
    def sid(self, i: int) -> str: ...
    def edit(self, i: int) -> None: ...
    def delete(self, i: int) -> None: ...
    def break_listing(self) -> None: ...


class BigConfluence(BigSource):
    size = 500 * SCALE  # result pages of 250

    def source(self):
        self.monkeypatch.setenv("CONFLUENCE_PAT", "tok")
        self.fake = self.serve(FakeConfluence(cloud=False, page_limit=250))
        for i in range(self.size):
            self.fake.add(ConfluencePage(self.sid(i), "ENG", f"Page {i}",
                                         f"<p>Confluence page {i} body.</p>", T0))
        return {"type": "confluence", "base_url": self.fake.base_url, "spaces": ["ENG"],
                "token_env": "CONFLUENCE_PAT", "page_size": 250}

    def sid(self, i):
        return str(100000 + i)

    def edit(self, i):
        self.fake.edit(self.sid(i), f"<p>Confluence page {i} edited.</p>", T1)

    def delete(self, i):
        del self.fake.pages[self.sid(i)]

    def break_listing(self):
        self.fake.fail(500, lambda r: r.query.get("start") == str(self.size // 2))


class BigNotion(BigSource):
    size = 200 * SCALE  # result pages of 100
    db = "11111111-1111-1111-1111-111111111111"

    def source(self):
        self.monkeypatch.setenv("NOTION_TOKEN", "secret_tok")
        self.fake = self.serve(FakeNotion(page_limit=100))
        for i in range(self.size):
            self.fake.add_page(self.sid(i), f"Page {i}", T0,
                               [FakeNotion.block(f"b-{i}", "paragraph", f"Notion page {i} body.")],
                               database=self.db)
        return {"type": "notion", "token_env": "NOTION_TOKEN", "database_ids": [self.db],
                "base_url": self.fake.url}

    def sid(self, i):
        return f"{i:08x}-0000-0000-0000-000000000000"

    def edit(self, i):
        self.fake.set_blocks(self.sid(i), [FakeNotion.block(f"e-{i}", "paragraph",
                                                            f"Notion page {i} edited.")])
        self.fake.pages[self.sid(i)]["last_edited_time"] = iso(T1)

    def delete(self, i):
        self.fake.pages[self.sid(i)]["archived"] = True

    def break_listing(self):
        self.fake.fail(500, lambda r: r.method == "POST"
                       and r.json().get("start_cursor") == str(self.size // 2))


class BigGitHub(BigSource):
    size = 200 * SCALE

    def source(self):
        self.monkeypatch.setenv("GITHUB_TOKEN", "ghp_tok")
        self.fake = self.serve(FakeGitHub())
        for i in range(self.size):
            self.fake.put(self.sid(i), f"# Page {i}\nGitHub page {i} body.\n", T0)
        return {"type": "github", "repo": self.fake.repo, "api_url": self.fake.api_url,
                "token_env": "GITHUB_TOKEN", "commit_dates": False}

    def sid(self, i):
        return f"docs/section-{i // 100}/page-{i}.md"

    def edit(self, i):
        self.fake.put(self.sid(i), f"# Page {i}\nGitHub page {i} edited.\n", T1)

    def delete(self, i):
        self.fake.delete(self.sid(i))

    def break_listing(self):
        # The tree is one request; what can break half-way is reading what changed.
        self.edit(80)
        self.edit(90)
        self.fake.fail(500, "/git/blobs/", times=1)


class BigSite(BigSource):
    size = 200 * SCALE

    def source(self):
        self.fake = self.serve(FakeSite())
        for i in range(self.size):
            self.fake.page(self.sid(i), f"Page {i}", f"Web page {i} body.", T0)
        return {"type": "web", "url": f"{self.fake.url}/sitemap.xml", "max_pages": 10_000}

    def sid(self, i):
        return f"/docs/p{i:05d}.html"

    def edit(self, i):
        self.fake.page(self.sid(i), f"Page {i}", f"Web page {i} edited.", T1)

    def delete(self, i):
        del self.fake.pages[self.sid(i)]

    def break_listing(self):
        self.fake.fail(500, "/sitemap-2.xml")  # the second half of the sitemap index


def settings_for(tmp_path: Path, source: dict[str, Any], **index: Any) -> Settings:
    return parse_settings({"data_dir": "data", "tone": {"enabled": False},
                           "index": {"collection": "by-ids", **index},
                           "sources": [{"name": "src", **source}]}, tmp_path)


def indexed(settings: Settings) -> dict[str, list[str]]:
    found = Index(settings).vector_store().get(where={"source": "src"}, include=["documents",
                                                                              "metadatas"])
    by_page: dict[str, list[str]] = {}
    for text, meta in zip(found["documents"], found["metadatas"]):
        by_page.setdefault(meta["source_id"], []).append(text)
    return by_page


@pytest.mark.parametrize("big_class", [BigConfluence, BigNotion, BigGitHub, BigSite],
                         ids=[f"{kind}-{big.size}" for kind, big in (
                             ("confluence", BigConfluence), ("notion", BigNotion),
                             ("github", BigGitHub), ("web", BigSite))])
def test_resync_fetches_only_changed_bodies_and_a_broken_listing_deletes_nothing(
        big_class, tmp_path, serve, monkeypatch, fake_embeddings) -> None:
    big = big_class(serve, monkeypatch)
    settings = settings_for(tmp_path, big.source())
    n = big.size

    first = sync_source(settings, "src")
    assert first.ok, first.error
    assert first.added == n and first.fetched == n

    served = big.fake.bodies
    noop = sync_source(settings, "src")
    assert noop.ok, noop.error
    assert big.fake.bodies == served and noop.fetched == 0
    assert (noop.added, noop.updated, noop.skipped, noop.deleted) == (0, 0, n, 0)
    assert noop.chunks_embedded == 0

    for i in EDITED:
        big.edit(i)
    for i in DELETED:
        big.delete(i)
    served = big.fake.bodies
    second = sync_source(settings, "src")
    assert second.ok, second.error
    assert big.fake.bodies - served == 3 and second.fetched == 3
    assert (second.added, second.updated, second.deleted) == (0, 3, 2)
    assert second.skipped == n - 5
    after = indexed(settings)
    assert len(after) == n - 2 and not {big.sid(i) for i in DELETED} & set(after)
    assert all(any("edited" in text for text in after[big.sid(i)]) for i in EDITED)
    rows = state.page_rows(Index(settings).engine, "src")
    assert set(rows) == set(after)

    for i in DELETED_WHILE_BROKEN:
        big.delete(i)
    big.break_listing()
    third = sync_source(settings, "src")
    assert not third.ok and third.error
    assert set(indexed(settings)) == set(after)  # nothing deleted, 60 and 70 included
    assert set(state.page_rows(Index(settings).engine, "src")) == set(rows)


def test_web_unchanged_pages_cost_a_304_without_lastmod(tmp_path, serve, fake_embeddings) -> None:
    site = serve(FakeSite())
    site.lastmod = False
    for i in range(30):
        site.page(f"/p{i}.html", f"Page {i}", f"Body {i}.", T0)
    settings = settings_for(tmp_path, {"type": "web", "url": f"{site.url}/sitemap.xml"})
    assert sync_source(settings, "src").ok

    served, asked = site.bodies, len(site.requests)
    noop = sync_source(settings, "src")
    assert noop.ok and noop.fetched == 0 and noop.skipped == 30 and site.bodies == served
    conditional = [r for r in site.requests[asked:] if r.path.startswith("/p")]
    assert len(conditional) == 30
    assert all(r.headers.get("if-none-match", "").startswith('"') for r in conditional)

    site.page("/p3.html", "Page 3", "Body 3, edited.", T1)
    one = sync_source(settings, "src")
    assert one.ok and one.fetched == 1 and one.updated == 1 and site.bodies == served + 1


def test_web_new_lastmod_but_same_page_is_a_304_and_its_marker_is_kept(
        tmp_path, serve, fake_embeddings) -> None:
    site = serve(FakeSite())
    for i in range(5):
        site.page(f"/p{i}.html", f"Page {i}", f"Body {i}.", T0)
    settings = settings_for(tmp_path, {"type": "web", "url": f"{site.url}/sitemap.xml"})
    assert sync_source(settings, "src").ok
    site.page("/p1.html", "Page 1", "Body 1.", T1)  # the same HTML, a newer <lastmod>
    served, asked = site.bodies, len(site.requests)
    touched = sync_source(settings, "src")
    assert touched.ok and touched.fetched == 0 and touched.skipped == 5
    assert site.bodies == served and [r.path for r in site.requests[asked:]
                                      if r.path.startswith("/p")] == ["/p1.html"]
    asked = len(site.requests)
    assert sync_source(settings, "src").ok  # the new <lastmod> was stored: no request at all
    assert not [r for r in site.requests[asked:] if r.path.startswith("/p")]


def test_full_refetches_everything_and_a_config_change_invalidates_markers(
        tmp_path, serve, monkeypatch, fake_embeddings) -> None:
    monkeypatch.setenv("CONFLUENCE_PAT", "tok")
    wiki = serve(FakeConfluence(cloud=False, page_limit=50))
    for i in range(40):
        wiki.add(ConfluencePage(str(i + 1), "ENG", f"Page {i}", f"<p>Body {i}.</p>", T0))
    source = {"type": "confluence", "base_url": wiki.base_url, "spaces": ["ENG"],
              "token_env": "CONFLUENCE_PAT"}
    settings = settings_for(tmp_path, source)
    assert sync_source(settings, "src").ok

    full = sync_source(settings, "src", full=True)
    assert full.ok and full.fetched == 40 and wiki.bodies == 80
    assert sync_source(settings, "src").fetched == 0  # a full sync stores markers too

    del wiki.pages["7"]
    full = sync_source(settings, "src", full=True)
    assert full.ok and full.deleted == 1 and "7" not in indexed(settings)

    resized = settings_for(tmp_path, source, chunk_size=500)  # markers no longer vouch
    again = sync_source(resized, "src")
    assert again.ok and again.fetched == 39


def test_notion_sub_pages_are_listed_from_the_marker_of_an_unchanged_parent(
        tmp_path, serve, monkeypatch, fake_embeddings) -> None:
    monkeypatch.setenv("NOTION_TOKEN", "secret_tok")
    notion = serve(FakeNotion())
    parent, child = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"
    notion.add_page(parent, "Parent", T0, [FakeNotion.block("p-1", "paragraph", "Parent text."),
                                           {**FakeNotion.block(child, "child_page"),
                                            "child_page": {"title": "Child"}}])
    notion.add_page(child, "Child", T0, [FakeNotion.block("c-1", "paragraph", "Child text.")])
    source = {"type": "notion", "token_env": "NOTION_TOKEN", "page_ids": [parent],
              "base_url": notion.url}
    settings = settings_for(tmp_path, source)
    assert sync_source(settings, "src").added == 2

    noop = sync_source(settings, "src")
    assert noop.ok and noop.fetched == 0 and noop.skipped == 2 and noop.deleted == 0

    notion.set_blocks(child, [FakeNotion.block("c-2", "paragraph", "Child text, edited.")])
    notion.pages[child]["last_edited_time"] = iso(T1)
    served = notion.bodies
    edit = sync_source(settings, "src")
    assert edit.ok and edit.fetched == 1 and edit.updated == 1 and notion.bodies == served + 1

    notion.set_blocks(parent, [FakeNotion.block("p-1", "paragraph", "Parent text.")])
    notion.pages[parent]["last_edited_time"] = iso(T1)  # the sub-page was removed from it
    gone = sync_source(settings, "src")
    assert gone.ok and gone.deleted == 1 and set(indexed(settings)) == {parent}


def test_folder_resync_reads_only_changed_files(tmp_path, fake_embeddings) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(20):
        (docs / f"p{i}.md").write_text(f"# Page {i}\nBody {i}.\n")
    settings = settings_for(tmp_path, {"type": "folder", "path": "docs"})
    assert sync_source(settings, "src").fetched == 20
    assert sync_source(settings, "src").fetched == 0
    (docs / "p3.md").write_text("# Page 3\nBody 3, edited.\n")
    (docs / "p4.md").unlink()
    result = sync_source(settings, "src")
    assert result.ok and result.fetched == 1 and (result.updated, result.deleted) == (1, 1)
    assert any("edited" in t for t in indexed(settings)["p3.md"])


def test_git_and_github_wiki_resync_read_only_changed_blobs(tmp_path, serve, monkeypatch,
                                                            fake_embeddings) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_tok")
    hub = serve(FakeGitHub())
    hub.put("docs/a.md", "# A\nRepo page a.\n", T0)
    hub.put("docs/b.md", "# B\nRepo page b.\n", T0)
    wiki = git.Repo.init(tmp_path / "wiki.git", initial_branch="master")
    commit(wiki, T0, "wiki", {"Home.md": "# Home\nWiki home.\n", "FAQ.md": "# FAQ\nAsk.\n"})
    settings = settings_for(tmp_path, {"type": "github", "repo": hub.repo,
                                       "api_url": hub.api_url, "token_env": "GITHUB_TOKEN",
                                       "include_wiki": True,
                                       "wiki_url": wiki.working_tree_dir})
    assert sync_source(settings, "src").added == 4
    noop = sync_source(settings, "src")
    assert noop.ok and noop.fetched == 0 and noop.skipped == 4

    commit(wiki, T1, "edit", {"FAQ.md": "# FAQ\nAsk in #help.\n"}, remove=["Home.md"])
    hub.put("docs/b.md", "# B\nRepo page b, edited.\n", T1)
    served = hub.bodies
    result = sync_source(settings, "src")
    assert result.ok, result.error
    assert result.fetched == 2 and hub.bodies == served + 1
    assert (result.updated, result.deleted) == (2, 1)
    pages = indexed(settings)
    assert set(pages) == {"docs/a.md", "docs/b.md", "wiki/FAQ.md"}
    assert any("#help" in text for text in pages["wiki/FAQ.md"])


def test_state_gains_the_marker_and_fetched_columns_on_an_old_database(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    with engine.begin() as conn:  # the tables as they were before markers
        conn.execute(sql("CREATE TABLE pages (source VARCHAR(64), source_id VARCHAR(1024), "
                          "content_hash VARCHAR(64) NOT NULL, title TEXT NOT NULL, url TEXT, "
                          "updated_at DATETIME, chunks INTEGER NOT NULL, indexed_at DATETIME "
                          "NOT NULL, PRIMARY KEY (source, source_id))"))
        conn.execute(sql("INSERT INTO pages VALUES ('s', 'a.md', 'h', 'A', NULL, NULL, 1, "
                          "'2024-01-01 00:00:00')"))
        conn.execute(sql("CREATE TABLE sync_runs (id INTEGER PRIMARY KEY, source VARCHAR(64), "
                          "\"trigger\" VARCHAR(16), \"full\" BOOLEAN, status VARCHAR(16), "
                          "started_at DATETIME, finished_at DATETIME, added INTEGER, "
                          "updated INTEGER, skipped INTEGER, deleted INTEGER, "
                          "chunks_embedded INTEGER, chunks_deleted INTEGER, "
                          "items_skipped INTEGER, error TEXT)"))
    assert "m004_version_markers" in migrations.migrate(engine)
    assert migrations.migrate(engine) == []  # twice: nothing to add the second time
    assert state.page_rows(engine, "s")["a.md"].marker is None
    run = state.start_run(engine, "s", full=False, trigger="manual")
    state.finish_run(engine, run, status="ok", counts={"fetched": 3}, error=None)
    assert state.recent_runs(engine, "s")[0]["fetched"] == 3


def test_fetch_by_id_leaves_out_what_was_deleted_since_the_listing(connect, serve,
                                                                   monkeypatch) -> None:
    monkeypatch.setenv("CONFLUENCE_PAT", "tok")
    wiki = serve(FakeConfluence(cloud=False))
    site = serve(FakeSite())
    for i in range(3):
        wiki.add(ConfluencePage(str(i + 1), "ENG", f"Page {i}", f"<p>Body {i}.</p>", T0))
        site.page(f"/p{i}.html", f"Page {i}", f"Body {i}.", T0)
    confluence = connect("confluence", base_url=wiki.base_url, spaces=["ENG"],
                         token_env="CONFLUENCE_PAT")
    web = connect("web", url=f"{site.url}/sitemap.xml")
    for connector, ids, drop in ((confluence, ["1", "2", "3"], lambda: wiki.pages.pop("2")),
                                 (web, ["/p0.html", "/p1.html", "/p2.html"],
                                  lambda: site.pages.pop("/p1.html"))):
        listed = {item.source_id: item for item in connector.list_ids({})}
        assert set(listed) == set(ids)
        drop()
        docs = list(connector.fetch_documents(ids))
        connector.close()
        assert [d.source_id for d in docs] == [ids[0], ids[2]]
        assert all(d.version == listed[d.source_id].marker for d in docs)
        assert "Body 2." in docs[1].content
