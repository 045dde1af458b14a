from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from bot.config import parse_settings
from connectors.base import AuthError, ConnectorConfigError, ListingIncompleteError
from fake_sources import FakeSite
from tests.connectors.helpers import listing, partial

T0 = datetime(2024, 1, 10, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2024, 2, 20, 15, 30, tzinfo=timezone.utc)


@pytest.fixture
def site(serve) -> FakeSite:
    fake = serve(FakeSite())
    fake.page("/docs/", "Docs home", "Start here.", T0,
              links=["/docs/setup.html", "guide.html#install", "/docs/private/salaries.html",
                     "/blog/post.html", "https://elsewhere.example.com/", "/docs/logo.png",
                     "mailto:team@example.com"])
    fake.page("/docs/setup.html", "Setup", "Install the CLI with pipx.", T0,
              links=["/docs/deep.html"])
    fake.page("/docs/guide.html", "Guide", "Write short pages.", T0)
    fake.page("/docs/deep.html", "Deep", "Two links away.", T0)
    fake.page("/docs/private/salaries.html", "Salaries", "secret", T0)
    fake.page("/blog/post.html", "Blog", "Not docs.", T0)
    return fake


def test_sitemap_index_listing(connect, site) -> None:
    c = connect("web", url=f"{site.url}/sitemap.xml")
    docs = listing(c)
    assert set(docs) == {"/docs/", "/docs/setup.html", "/docs/guide.html", "/docs/deep.html",
                         "/blog/post.html"}
    setup = docs["/docs/setup.html"]
    assert setup.title == "Setup"
    assert "Install the CLI with pipx." in setup.content
    assert "# Setup" in setup.content
    assert "(c) team" not in setup.content and "Home" not in setup.content  # chrome dropped
    assert setup.url == f"{site.url}/docs/setup.html"
    assert setup.updated_at == T0
    # robots.txt: the disallowed page is never fetched and is reported
    assert "/docs/private/salaries.html" not in site.paths()
    assert [s.source_id for s in c.skipped] == ["/docs/private/salaries.html"]
    assert {"/robots.txt", "/sitemap.xml", "/sitemap-1.xml", "/sitemap-2.xml"} <= set(site.paths())


def test_crawl_stays_under_the_root_and_obeys_robots(connect, site) -> None:
    docs = listing(connect("web", url=f"{site.url}/docs/"))
    assert set(docs) == {"/docs/", "/docs/setup.html", "/docs/guide.html", "/docs/deep.html"}
    assert docs["/docs/guide.html"].updated_at == T0  # from Last-Modified
    fetched = site.paths()
    assert "/docs/private/salaries.html" not in fetched
    assert "/blog/post.html" not in fetched and "/docs/logo.png" not in fetched


def test_crawl_depth_and_page_limits(connect, site) -> None:
    assert set(listing(connect("web", url=f"{site.url}/docs/", max_depth=0))) == {"/docs/"}
    assert "/docs/deep.html" not in listing(connect("web", url=f"{site.url}/docs/", max_depth=1))
    c = connect("web", url=f"{site.url}/docs/", max_pages=2)
    assert len(listing(c)) == 2
    assert any("max_pages" in s.reason for s in c.skipped)


def test_edited_and_deleted_pages(connect, site) -> None:
    listing(connect("web", url=f"{site.url}/sitemap.xml"))
    site.page("/docs/setup.html", "Setup", "Install the CLI with uv.", T1)
    del site.pages["/docs/guide.html"]
    site.sitemap_extra.append("/docs/guide.html")  # still listed, but 404s: gone, not an error
    docs = listing(connect("web", url=f"{site.url}/sitemap.xml"))
    assert "/docs/guide.html" not in docs
    assert "uv" in docs["/docs/setup.html"].content
    assert docs["/docs/setup.html"].updated_at == T1
    crawled = listing(connect("web", url=f"{site.url}/docs/"))
    assert "/docs/guide.html" not in crawled and "/docs/setup.html" in crawled


def test_500_mid_listing_raises(connect, site) -> None:
    site.fail(500, "/docs/setup.html")
    got = partial(connect("web", url=f"{site.url}/sitemap.xml"), ListingIncompleteError)
    assert got  # pages came before the failure: it really was mid-listing


def test_robots_5xx_is_not_read_as_disallow_all(connect, site) -> None:
    site.fail(500, "/robots.txt")
    with pytest.raises(ListingIncompleteError):
        listing(connect("web", url=f"{site.url}/sitemap.xml"))


def test_broken_sitemap_raises(connect, site) -> None:
    site.fail(200, "/sitemap-2.xml", body="<urlset><url><loc>truncated",
              headers={"Content-Type": "application/xml"})
    with pytest.raises(ListingIncompleteError, match="not valid XML"):
        listing(connect("web", url=f"{site.url}/sitemap.xml"))


def test_401_is_auth_error(connect, site) -> None:
    site.fail(401, "/docs/guide.html")
    with pytest.raises(AuthError, match="public pages only"):
        listing(connect("web", url=f"{site.url}/sitemap.xml"))


def test_429_with_retry_after_is_waited_out(connect, site) -> None:
    site.fail(429, "/docs/guide.html", headers={"Retry-After": "1"})
    start = time.monotonic()
    docs = listing(connect("web", url=f"{site.url}/sitemap.xml"))
    assert time.monotonic() - start >= 0.9
    assert "/docs/guide.html" in docs and len(docs) == 5
    assert site.paths().count("/docs/guide.html") == 2


def test_root_disallowed_by_robots(connect, site) -> None:
    site.robots = "User-agent: ragbot\nDisallow: /\n"
    with pytest.raises(ConnectorConfigError, match="robots.txt"):
        listing(connect("web", url=f"{site.url}/docs/"))


def test_config_keys(tmp_path) -> None:
    settings = parse_settings({"sources": [{"name": "docs", "type": "web",
                                            "url": "https://docs.example.com/sitemap.xml",
                                            "max_pages": 200}]}, tmp_path)
    assert settings.sources[0].options.max_depth == 3
    with pytest.raises(Exception, match="http"):
        parse_settings({"sources": [{"name": "d", "type": "web", "url": "docs.example.com"}]},
                       tmp_path)
