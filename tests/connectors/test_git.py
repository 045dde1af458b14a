from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import git
import pytest

from bot.config import parse_settings
from connectors.base import ListingIncompleteError, SourceUnavailableError
from connectors.git import GitConnector
from tests.connectors.helpers import listing

T0 = datetime(2024, 1, 10, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2024, 2, 20, 15, 30, tzinfo=timezone.utc)
T2 = datetime(2024, 3, 5, 8, 0, tzinfo=timezone.utc)


def commit(repo: git.Repo, when: datetime, message: str, write: dict[str, str | bytes] = {},
           remove: list[str] = ()) -> None:
    root = Path(repo.working_tree_dir)
    for path, content in write.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        (root / path).write_bytes(data)
    if write:
        repo.index.add(list(write))
    if remove:
        repo.index.remove(list(remove), working_tree=True)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S +0000")
    repo.index.commit(message, author_date=stamp, commit_date=stamp)


@pytest.fixture
def origin(tmp_path: Path) -> git.Repo:
    repo = git.Repo.init(tmp_path / "origin", initial_branch="main")
    commit(repo, T0, "first", {
        "index.md": "# Team wiki\nWelcome.\n",
        "guides/deploy.md": "# Deploying\nRun make deploy.\n",
        "guides/oncall.md": "---\ntitle: On-call\nupdated: 2023-12-01\n---\nPage the SRE.\n",
        "guides/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00",
        "drafts/idea.md": "# Idea\nnot ready\n",
        "notes.txt": "plain notes\n",
        "broken.md": b"\xff\xfe bad bytes",
    })
    commit(repo, T1, "edit deploy", {"guides/deploy.md": "# Deploying\nRun make deploy-prod.\n"})
    return repo


def test_first_listing_uses_folder_rules_and_commit_times(connect, origin) -> None:
    c = connect("git", repo=origin.working_tree_dir, exclude=["drafts/**"],
                url="https://git.example.com/wiki/blob/main/{path}")
    docs = listing(c)
    assert set(docs) == {"index.md", "guides/deploy.md", "guides/oncall.md", "notes.txt"}
    deploy = docs["guides/deploy.md"]
    assert deploy.title == "Deploying"
    assert "deploy-prod" in deploy.content
    assert deploy.url == "https://git.example.com/wiki/blob/main/guides/deploy.md"
    assert deploy.updated_at == T1  # last commit touching the file, not the clone time
    assert docs["index.md"].updated_at == T0
    # front matter wins over the commit time, and is not indexed text
    assert docs["guides/oncall.md"].updated_at == datetime(2023, 12, 1, tzinfo=timezone.utc)
    assert docs["guides/oncall.md"].title == "On-call"
    assert "title:" not in docs["guides/oncall.md"].content
    assert [s.source_id for s in c.skipped] == ["broken.md"]
    assert (c.context.state_dir / "checkout" / ".git").is_dir()


def test_include_globs(connect, origin) -> None:
    docs = listing(connect("git", repo=origin.working_tree_dir, include=["guides/*"]))
    assert set(docs) == {"guides/deploy.md", "guides/oncall.md"}


def test_commits_between_syncs_edit_delete_add(connect, origin) -> None:
    c = connect("git", repo=origin.working_tree_dir)
    first = listing(c)
    assert "guides/deploy.md" in first
    commit(origin, T2, "edit, delete, add",
           {"index.md": "# Team wiki\nWelcome, new starters.\n", "faq.md": "# FAQ\nAsk.\n"},
           remove=["guides/deploy.md"])
    second = listing(connect("git", repo=origin.working_tree_dir))
    assert "guides/deploy.md" not in second
    assert second["faq.md"].updated_at == T2
    assert "new starters" in second["index.md"].content
    assert second["index.md"].updated_at == T2
    assert second["guides/oncall.md"].content == first["guides/oncall.md"].content
    assert second["notes.txt"].updated_at == T0


def test_local_changes_in_the_checkout_are_reset(connect, origin) -> None:
    c = connect("git", repo=origin.working_tree_dir)
    listing(c)
    checkout = c.context.state_dir / "checkout"
    (checkout / "index.md").write_text("# tampered\n")
    (checkout / "stray.md").write_text("# stray\n")
    docs = listing(connect("git", repo=origin.working_tree_dir))
    assert "Welcome" in docs["index.md"].content and "stray.md" not in docs


def test_branch_and_missing_branch(connect, origin) -> None:
    origin.git.checkout("-b", "published")
    commit(origin, T2, "only on published", {"published.md": "# Published\n"})
    origin.git.checkout("main")
    assert "published.md" in listing(connect("git", repo=origin.working_tree_dir,
                                             branch="published"))
    assert "published.md" not in listing(connect("git", repo=origin.working_tree_dir))
    with pytest.raises(SourceUnavailableError, match="nope"):
        listing(connect("git", repo=origin.working_tree_dir, branch="nope"))


def test_clone_failure_is_unavailable_and_leaves_nothing(connect, tmp_path) -> None:
    c = connect("git", repo=str(tmp_path / "no-such-repo"))
    with pytest.raises(SourceUnavailableError, match="cannot clone"):
        listing(c)
    assert not (c.context.state_dir / "checkout").exists()
    assert not (c.context.state_dir / "checkout.tmp").exists()


def test_fetch_failure_is_incomplete_and_keeps_the_checkout(connect, origin) -> None:
    listing(connect("git", repo=origin.working_tree_dir))
    path = origin.working_tree_dir
    shutil.rmtree(path)
    c = connect("git", repo=path)
    with pytest.raises(ListingIncompleteError, match="cannot fetch"):
        listing(c)
    assert (c.context.state_dir / "checkout" / "index.md").exists()


def test_symlinks_in_the_repo_cannot_expose_host_files(connect, tmp_path) -> None:
    repo = git.Repo.init(tmp_path / "evil", initial_branch="main")
    (tmp_path / "evil" / "passwd.md").symlink_to("/etc/hostname")
    repo.index.add(["passwd.md"])
    repo.index.commit("link")
    docs = listing(connect("git", repo=repo.working_tree_dir))
    assert docs["passwd.md"].content == "/etc/hostname"


def test_config_keys(tmp_path) -> None:
    settings = parse_settings({"sources": [
        {"name": "handbook", "type": "git", "repo": "repos/handbook", "branch": "main",
         "include": ["docs/**", "*.md"]},
        {"name": "remote", "type": "git", "repo": "https://git.example.com/team/wiki.git",
         "token_env": "WIKI_GIT_TOKEN", "url": "https://git.example.com/team/wiki/-/blob/main/"
                                                "{path}"},
    ]}, tmp_path)
    assert settings.sources[0].options.repo == str(tmp_path / "repos" / "handbook")
    assert settings.sources[1].options.repo.startswith("https://")
    for bad, message in [({"repo": "ext::sh -c evil"}, "scheme"),
                         ({"repo": "x", "branch": "--upload-pack=evil"}, "branch"),
                         ({"repo": "x", "url": "wiki/{path}"}, "url"),
                         ({"repo": "x", "token": "abc"}, "unknown key")]:
        with pytest.raises(Exception, match=message):
            parse_settings({"sources": [{"name": "w", "type": "git", **bad}]}, tmp_path)
    assert GitConnector.type == "git"
