from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.config import ConfigError, parse_settings
from connectors.base import (AuthError, ConnectorConfigError, ListingIncompleteError,
                             SourceUnavailableError)
from fake_sources import ConfluencePage, FakeConfluence
from tests.connectors.helpers import listing, partial

T0 = datetime(2024, 1, 10, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2024, 2, 20, 15, 30, tzinfo=timezone.utc)


def fill(fake: FakeConfluence) -> FakeConfluence:
    fake.add(ConfluencePage("100", "ENG", "Engineering", "<p>Eng home</p>", T0))
    fake.add(ConfluencePage("101", "ENG", "Onboarding", "<h2>First week</h2><p>Get a laptop.</p>",
                            T0, parent="100"))
    fake.add(ConfluencePage("102", "ENG", "Laptop setup",
                            '<p>Install <strong>brew</strong>.</p><ac:structured-macro '
                            'ac:name="code"><ac:plain-text-body><![CDATA[brew install git]]>'
                            "</ac:plain-text-body></ac:structured-macro>", T0, parent="101"))
    fake.add(ConfluencePage("103", "ENG", "Deploys", "<ul><li>make deploy</li></ul>", T0,
                            parent="100"))
    fake.add(ConfluencePage("200", "OPS", "Runbooks", "<p>Ops home</p>", T0))
    return fake


@pytest.fixture(params=["cloud", "datacenter"])
def wiki(request, serve, monkeypatch) -> FakeConfluence:
    cloud = request.param == "cloud"
    monkeypatch.setenv("CONFLUENCE_TOKEN", "tok")
    monkeypatch.setenv("CONFLUENCE_EMAIL", "me@example.com")
    return fill(serve(FakeConfluence(cloud=cloud)))


def options(fake: FakeConfluence, **extra) -> dict:
    opts = {"base_url": fake.base_url, "spaces": ["ENG", "OPS"], "token_env": "CONFLUENCE_TOKEN",
            "cloud": fake.cloud}
    if fake.cloud:
        opts["user_env"] = "CONFLUENCE_EMAIL"
    return {**opts, **extra}


def test_first_listing(connect, wiki) -> None:
    docs = listing(connect("confluence", **options(wiki)))
    assert set(docs) == {"100", "101", "102", "103", "200"}
    laptop = docs["102"]
    assert laptop.title == "Engineering > Onboarding > Laptop setup"
    assert "Install brew" in laptop.content and "brew install git" in laptop.content
    assert "## First week" in docs["101"].content
    assert laptop.updated_at == T0
    expected_url = (f"{wiki.url}/wiki/spaces/ENG/pages/102/Laptop+setup" if wiki.cloud
                    else f"{wiki.url}/confluence/pages/viewpage.action?pageId=102")
    assert laptop.url == expected_url
    assert laptop.metadata["space"] == "ENG"
    api = "/wiki/rest/api" if wiki.cloud else "/confluence/rest/api"
    content = [r for r in wiki.requests if r.path == f"{api}/content"]
    # 4 ENG pages at 2 a page -> start=0, start=2; OPS -> start=0: pagination followed
    assert [(r.query["spaceKey"], r.query["start"]) for r in content] == [
        ("ENG", "0"), ("ENG", "2"), ("OPS", "0")]
    auth = content[0].headers["authorization"]
    assert auth.startswith("Basic ") if wiki.cloud else auth == "Bearer tok"


def test_edited_and_deleted_pages(connect, wiki) -> None:
    listing(connect("confluence", **options(wiki)))
    wiki.edit("103", "<ul><li>make deploy</li><li>make rollback</li></ul>", T1)
    del wiki.pages["101"], wiki.pages["102"]
    docs = listing(connect("confluence", **options(wiki)))
    assert set(docs) == {"100", "103", "200"}
    assert "make rollback" in docs["103"].content and docs["103"].updated_at == T1


def test_401_is_auth_error_naming_the_env_vars(connect, wiki, monkeypatch) -> None:
    monkeypatch.setenv("CONFLUENCE_TOKEN", "expired")
    with pytest.raises(AuthError, match="CONFLUENCE_TOKEN"):
        listing(connect("confluence", **options(wiki)))


def test_500_mid_listing_raises(connect, wiki) -> None:
    wiki.fail(500, lambda r: r.path.endswith("/content") and r.query.get("start") == "2")
    got = partial(connect("confluence", **options(wiki)), ListingIncompleteError)
    assert [d.source_id for d in got] == ["100", "101"]


def test_429_with_retry_after_is_waited_out(connect, wiki) -> None:
    wiki.fail(429, lambda r: r.path.endswith("/content") and r.query.get("start") == "2",
              headers={"Retry-After": "0"})
    docs = listing(connect("confluence", **options(wiki)))
    assert len(docs) == 5


def test_unknown_space_is_unavailable_not_empty(connect, wiki) -> None:
    with pytest.raises(SourceUnavailableError, match="space ENGG"):
        listing(connect("confluence", **options(wiki, spaces=["ENGG"])))


def test_missing_token_env(connect, wiki, monkeypatch) -> None:
    monkeypatch.delenv("CONFLUENCE_TOKEN")
    with pytest.raises(ConnectorConfigError, match="CONFLUENCE_TOKEN"):
        listing(connect("confluence", **options(wiki)))


def test_config_keys(tmp_path) -> None:
    settings = parse_settings({"sources": [
        {"name": "eng", "type": "confluence", "base_url": "https://team.atlassian.net/wiki",
         "spaces": ["ENG"], "token_env": "CONFLUENCE_TOKEN", "user_env": "CONFLUENCE_EMAIL"},
        {"name": "dc", "type": "confluence", "base_url": "https://wiki.example.com",
         "spaces": ["OPS"], "token_env": "CONFLUENCE_PAT"},
    ]}, tmp_path)
    assert settings.sources[0].options.is_cloud and not settings.sources[1].options.is_cloud
    for bad, message in [({"base_url": "https://team.atlassian.net"}, "user_env"),
                         ({"base_url": "wiki.example.com"}, "http"),
                         ({"base_url": "https://w.example.com", "spaces": ["Engineering Team"]},
                          "space keys"),
                         ({"base_url": "https://w.example.com", "token": "secret"}, "unknown")]:
        src = {"name": "c", "type": "confluence", "spaces": ["ENG"], "token_env": "T", **bad}
        with pytest.raises(ConfigError, match=message):
            parse_settings({"sources": [src]}, tmp_path)
