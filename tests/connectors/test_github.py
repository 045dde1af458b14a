from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import git
import pytest

from bot.config import ConfigError, parse_settings
from connectors.base import (AuthError, ListingIncompleteError, RateLimitedError,
                             SourceUnavailableError)
from fake_sources import FakeGitHub
from tests.connectors.helpers import listing, partial

T0 = datetime(2024, 1, 10, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2024, 2, 20, 15, 30, tzinfo=timezone.utc)


@pytest.fixture
def hub(serve, monkeypatch) -> FakeGitHub:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_tok")
    fake = serve(FakeGitHub(prefix="/api/v3"))  # GitHub Enterprise layout
    fake.put("README.md", "# Handbook\nStart here.\n", T0)
    fake.put("docs/setup.md", "# Setup\nInstall the CLI.\n", T0)
    fake.put("docs/guides/deploy.md", "# Deploying\nmake deploy\n", T0)
    fake.put("docs/guides/oncall.html", "<html><title>On-call</title><body><p>Page SRE.</p>"
                                        "</body></html>", T0)
    fake.put("docs/drafts/wip.md", "# WIP\n", T0)
    fake.put("docs/diagram.png", b"\x89PNG\r\n\x1a\n\x00", T0)
    fake.put("docs/bad.md", b"\x00\x01binary", T0)
    fake.put(".github/pull_request_template.md", "# PR\n", T0)
    fake.put("src/main.py", "print('hi')\n", T0)
    return fake


def options(fake: FakeGitHub, **extra) -> dict:
    return {"repo": fake.repo, "paths": ["docs/**", "*.md"], "exclude": ["docs/drafts/**"],
            "token_env": "GITHUB_TOKEN", "api_url": fake.api_url, **extra}


def test_first_listing(connect, hub) -> None:
    c = connect("github", **options(hub))
    docs = listing(c)
    assert set(docs) == {"README.md", "docs/setup.md", "docs/guides/deploy.md",
                         "docs/guides/oncall.html"}
    setup = docs["docs/setup.md"]
    assert setup.title == "Setup" and "Install the CLI." in setup.content
    assert setup.url == f"{hub.url}/{hub.repo}/blob/main/docs/setup.md"
    assert setup.updated_at == T0  # from the commits API
    assert docs["docs/guides/oncall.html"].title == "On-call"
    assert [s.source_id for s in c.skipped] == ["docs/bad.md"]
    paths = hub.paths()
    assert paths[:2] == [f"/api/v3/repos/{hub.repo}", f"/api/v3/repos/{hub.repo}/git/trees/main"]
    assert all(r.headers["authorization"] == "Bearer ghp_tok" for r in hub.requests)


def test_second_sync_downloads_only_what_changed(connect, hub) -> None:
    listing(connect("github", **options(hub)))
    hub.requests.clear()
    hub.put("docs/setup.md", "# Setup\nInstall the CLI with pipx.\n", T1)
    hub.delete("docs/guides/deploy.md")
    hub.put("docs/new.md", "# New page\n", T1)
    docs = listing(connect("github", **options(hub)))
    assert "docs/guides/deploy.md" not in docs
    assert "pipx" in docs["docs/setup.md"].content and docs["docs/setup.md"].updated_at == T1
    assert docs["docs/new.md"].updated_at == T1
    assert docs["README.md"].updated_at == T0  # cached date of an unchanged file
    blobs = [p for p in hub.paths() if "/git/blobs/" in p]
    commits = [r.query["path"] for r in hub.requests if r.path.endswith("/commits")]
    assert len(blobs) == 2 and sorted(commits) == ["docs/new.md", "docs/setup.md"]


def test_401_is_auth_error(connect, hub, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_revoked")
    with pytest.raises(AuthError, match="GITHUB_TOKEN"):
        listing(connect("github", **options(hub)))


def test_500_mid_listing_raises(connect, hub) -> None:
    deploy_sha = next(e["sha"] for e in hub._tree() if e["path"] == "docs/guides/oncall.html")
    hub.fail(500, f"/git/blobs/{deploy_sha}")
    got = partial(connect("github", **options(hub)), ListingIncompleteError)
    assert [d.source_id for d in got] == ["README.md", "docs/guides/deploy.md"]


def test_429_with_retry_after_is_waited_out(connect, hub) -> None:
    hub.fail(429, "/git/trees/", headers={"Retry-After": "0"})
    hub.fail(403, "/commits", headers={"X-RateLimit-Remaining": "0", "Retry-After": "0"},
             body={"message": "API rate limit exceeded"})
    assert len(listing(connect("github", **options(hub)))) == 4


def test_rate_limit_beyond_retries(connect, hub) -> None:
    hub.fail(429, "/git/trees/", times=10, headers={"Retry-After": "0"})
    with pytest.raises(RateLimitedError):
        listing(connect("github", **options(hub, max_attempts=2)))


def test_truncated_tree_is_incomplete(connect, hub) -> None:
    hub.truncated = True
    with pytest.raises(ListingIncompleteError, match="truncated"):
        listing(connect("github", **options(hub)))


def test_missing_repo_or_branch_is_unavailable(connect, hub) -> None:
    with pytest.raises(SourceUnavailableError, match="repository team/nope"):
        listing(connect("github", **options(hub, repo="team/nope")))
    with pytest.raises(SourceUnavailableError, match="branch gh-pages"):
        listing(connect("github", **options(hub, branch="gh-pages")))


def test_public_repo_without_token(connect, serve) -> None:
    fake = serve(FakeGitHub(token=None))
    fake.put("guide.md", "# Guide\n", T0)
    docs = listing(connect("github", repo=fake.repo, api_url=fake.url, commit_dates=False))
    assert docs["guide.md"].updated_at is None
    assert not any(r.path.endswith("/commits") for r in fake.requests)
    assert all("authorization" not in r.headers for r in fake.requests)


def test_wiki_through_the_git_connector(connect, hub, tmp_path) -> None:
    wiki = git.Repo.init(tmp_path / "wiki.git", initial_branch="master")
    (Path(wiki.working_tree_dir) / "Home.md").write_text("# Home\nWiki home.\n")
    wiki.index.add(["Home.md"])
    wiki.index.commit("wiki", author_date="2024-02-20T15:30:00 +0000",
                      commit_date="2024-02-20T15:30:00 +0000")
    docs = listing(connect("github", **options(hub, include_wiki=True,
                                               wiki_url=wiki.working_tree_dir)))
    home = docs["wiki/Home.md"]
    assert home.url == f"{hub.url}/{hub.repo}/wiki/Home" and home.updated_at == T1
    assert "docs/setup.md" in docs


def test_config_keys(tmp_path) -> None:
    settings = parse_settings({"sources": [{"name": "gh", "type": "github",
                                            "repo": "team/handbook", "paths": ["docs/**"]}]},
                              tmp_path)
    assert settings.sources[0].options.api_url == "https://api.github.com"
    for bad, message in [({"repo": "handbook"}, "owner/name"),
                         ({"repo": "a/b", "api_url": "github.example.com"}, "http"),
                         ({"repo": "a/b", "paths": [""]}, "empty glob")]:
        with pytest.raises(ConfigError, match=message):
            parse_settings({"sources": [{"name": "g", "type": "github", **bad}]}, tmp_path)


def test_missing_wiki_says_how_to_turn_it_off(connect, hub, tmp_path) -> None:
    c = connect("github", **options(hub, include_wiki=True, wiki_url=str(tmp_path / "none")))
    with pytest.raises(SourceUnavailableError, match="include_wiki: false"):
        listing(c)
