"""Each connector through a real `sync_source`: edits re-embedded, deletions removed, and a
listing that breaks off mid-way deletes nothing (why connectors raise instead of returning short).

The embedding model is replaced by LangChain's deterministic fake so these tests stay fast; the
sync, the record manager and Chroma are the real ones.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import git
import pytest

from bot.config import Settings, parse_settings
from bot.knowledge import state
from bot.knowledge.index import Index
from bot.knowledge.sync import sync_source
from fake_sources import (ConfluencePage, FakeConfluence, FakeGitHub, FakeNotion,
                                    FakeSite, iso)
from tests.connectors.test_git import commit

pytestmark = pytest.mark.slow  # real syncs with the real embedding model

T0 = datetime(2024, 1, 10, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2024, 2, 20, 15, 30, tzinfo=timezone.utc)
TEXT = {"a": "Expense reports are due on Friday.", "b": "The VPN token lives in the portal.",
        "c": "Deploys happen on Tuesdays."}
EDITED = "Expense reports are due on Monday now."


class Scenario:
    """Three pages a, b, c; `edit` changes a, `delete` removes b, `break_midway` fails on c
    (after a was listed: a short listing would look like c had been deleted). Where the sync
    asks the source what changed, c is changed first, so that reading it is what fails."""

    ids: dict[str, str]

    def __init__(self, tmp_path: Path, serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path, self.serve, self.monkeypatch = tmp_path, serve, monkeypatch

    def source(self) -> dict[str, Any]: ...
    def edit(self) -> None: ...
    def delete(self, key: str) -> None: ...
    def break_midway(self) -> None: ...


class GitScenario(Scenario):
    ids = {"a": "a.md", "b": "b.md", "c": "c.md"}

    def source(self):
        self.repo = git.Repo.init(self.tmp_path / "origin", initial_branch="main")
        commit(self.repo, T0, "pages", {f"{k}.md": f"# Page {k}\n{v}\n" for k, v in TEXT.items()})
        return {"type": "git", "repo": self.repo.working_tree_dir}

    def edit(self):
        commit(self.repo, T1, "edit", {"a.md": f"# Page a\n{EDITED}\n"})

    def delete(self, key):
        commit(self.repo, T1, "delete", remove=[self.ids[key]])

    def break_midway(self):
        shutil.rmtree(self.repo.working_tree_dir)  # the fetch fails


class WebScenario(Scenario):
    ids = {"a": "/a.html", "b": "/b.html", "c": "/c.html"}

    def source(self):
        self.site = self.serve(FakeSite())
        for key, text in TEXT.items():
            self.site.page(f"/{key}.html", f"Page {key}", text, T0)
        return {"type": "web", "url": f"{self.site.url}/sitemap.xml"}

    def edit(self):
        self.site.page("/a.html", "Page a", EDITED, T1)

    def delete(self, key):
        del self.site.pages[self.ids[key]]

    def break_midway(self):  # c changed (an unchanged page is not requested at all), then 500s
        self.site.page("/c.html", "Page c", TEXT["c"] + " Really.", T1)
        self.site.fail(500, "/c.html")


class ConfluenceScenario(Scenario):
    ids = {"a": "1", "b": "2", "c": "3"}

    def source(self):
        self.monkeypatch.setenv("CONFLUENCE_PAT", "tok")
        self.wiki = self.serve(FakeConfluence(cloud=False, page_limit=1))
        for n, (key, text) in enumerate(TEXT.items(), 1):
            self.wiki.add(ConfluencePage(str(n), "ENG", f"Page {key}", f"<p>{text}</p>", T0))
        return {"type": "confluence", "base_url": self.wiki.base_url, "spaces": ["ENG"],
                "token_env": "CONFLUENCE_PAT"}

    def edit(self):
        self.wiki.edit("1", f"<p>{EDITED}</p>", T1)

    def delete(self, key):
        del self.wiki.pages[self.ids[key]]

    def break_midway(self):
        self.wiki.fail(500, lambda r: r.query.get("start") == "1")


class NotionScenario(Scenario):
    ids = {k: f"aaaaaaaa-0000-0000-0000-00000000000{n}" for n, k in enumerate(TEXT, 1)}
    db = "11111111-1111-1111-1111-111111111111"

    def source(self):
        self.monkeypatch.setenv("NOTION_TOKEN", "secret_tok")
        self.notion = self.serve(FakeNotion())
        for key, text in TEXT.items():
            self.notion.add_page(self.ids[key], f"Page {key}", T0,
                                 [FakeNotion.block(f"{key}-1", "paragraph", text)],
                                 database=self.db)
        return {"type": "notion", "token_env": "NOTION_TOKEN", "database_ids": [self.db],
                "base_url": self.notion.url}

    def edit(self):
        self.notion.set_blocks(self.ids["a"], [FakeNotion.block("a-2", "paragraph", EDITED)])
        self.notion.pages[self.ids["a"]]["last_edited_time"] = iso(T1)

    def delete(self, key):
        self.notion.pages[self.ids[key]]["archived"] = True

    def break_midway(self):  # c edited (an unchanged page's blocks are not read), then 500s
        self.notion.pages[self.ids["c"]]["last_edited_time"] = iso(T1)
        self.notion.fail(500, f"/v1/blocks/{self.ids['c']}/children")


class GitHubScenario(Scenario):
    ids = {"a": "docs/a.md", "b": "docs/b.md", "c": "docs/c.md"}

    def source(self):
        self.monkeypatch.setenv("GITHUB_TOKEN", "ghp_tok")
        self.hub = self.serve(FakeGitHub())
        for key, text in TEXT.items():
            self.hub.put(self.ids[key], f"# Page {key}\n{text}\n", T0)
        return {"type": "github", "repo": self.hub.repo, "api_url": self.hub.api_url,
                "token_env": "GITHUB_TOKEN", "paths": ["docs/**"]}

    def edit(self):
        self.hub.put("docs/a.md", f"# Page a\n{EDITED}\n", T1)

    def delete(self, key):
        self.hub.delete(self.ids[key])

    def break_midway(self):
        self.hub.fail(500, "/commits")  # c is the only page whose date is not cached yet


def chunks(settings: Settings) -> dict[str, list[str]]:
    found = Index(settings).vector_store().get(where={"source": "src"})
    by_page: dict[str, list[str]] = {}
    for text, meta in zip(found["documents"], found["metadatas"]):
        by_page.setdefault(meta["source_id"], []).append(text)
    return by_page


@pytest.mark.parametrize("scenario_class", [GitScenario, WebScenario, ConfluenceScenario,
                                            NotionScenario, GitHubScenario],
                         ids=["git", "web", "confluence", "notion", "github"])
def test_sync_reembeds_edits_removes_deletions_and_survives_a_broken_listing(
        scenario_class, tmp_path, serve, monkeypatch, fake_embeddings) -> None:
    scenario = scenario_class(tmp_path, serve, monkeypatch)
    settings = parse_settings({"data_dir": "data", "index": {"collection": "connectors"},
                               "sources": [{"name": "src", **scenario.source()}]}, tmp_path)
    ids = scenario.ids

    first = sync_source(settings, "src")
    assert first.ok, first.error
    assert first.added == 3 and set(chunks(settings)) == set(ids.values())

    scenario.edit()
    scenario.delete("b")
    second = sync_source(settings, "src")
    assert second.ok, second.error
    assert (second.added, second.updated, second.skipped, second.deleted) == (0, 1, 1, 1)
    assert second.chunks_embedded >= 1 and second.chunks_deleted >= 1
    after = chunks(settings)
    assert set(after) == {ids["a"], ids["c"]}
    assert any("Monday" in text for text in after[ids["a"]])
    assert not any("Friday" in text for text in after[ids["a"]])

    if scenario_class is GitHubScenario:  # make c's commit date uncached so the 500 hits it
        scenario.hub.put("docs/c.md", f"# Page c\n{TEXT['c']} Really.\n", T1)
    scenario.break_midway()
    third = sync_source(settings, "src")
    assert not third.ok and third.error
    assert chunks(settings) == after
    assert set(state.page_rows(Index(settings).engine, "src")) == {ids["a"], ids["c"]}
