"""Every fetch has a total deadline and a size cap, and every redirect hop is checked before it
is followed (issue #17, items 3, 4 and 5). Real HTTP on 127.0.0.1 throughout."""

from __future__ import annotations

import gzip
import tracemalloc
from datetime import datetime, timezone

import pytest

from connectors.base import ConnectorConfigError, ListingIncompleteError
from fake_sources import FakeSite
from tests.connectors.helpers import listing

T0 = datetime(2024, 1, 10, 9, 0, tzinfo=timezone.utc)
HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture
def site(serve) -> FakeSite:
    fake = serve(FakeSite())
    fake.page("/docs/a.html", "Alpha", "The alpha page.", T0)
    fake.page("/docs/b.html", "Beta", "The beta page.", T0)
    return fake


def _misbehave(site: FakeSite, path: str, status: int = 200, **reply) -> None:
    site.sitemap_extra.append(path)
    site.fail(status, lambda r, p=path: r.path == p, times=99, **reply)


def test_a_page_that_never_ends_is_skipped_at_the_deadline(connect, site):
    # 1 byte a second: a per-read timeout never fires; before, the page took 40 s and was kept.
    _misbehave(site, "/docs/drip.html", body="<html><body>" + "x" * 28 + "</body></html>",
               headers=HTML, drip_s=1.0)
    c = connect("web", url=f"{site.url}/sitemap.xml", timeout_s=2, max_attempts=1)
    assert set(listing(c)) == {"/docs/a.html", "/docs/b.html"}
    [skipped] = c.skipped
    assert skipped.source_id == "/docs/drip.html" and "deadline" in skipped.reason


@pytest.mark.parametrize("chunked", [False, True])
def test_a_page_over_the_cap_is_skipped_without_reading_it_whole(connect, site, chunked):
    _misbehave(site, "/docs/huge.html", body="<p>" + "word " * 600_000 + "</p>", headers=HTML,
               chunked=chunked)
    c = connect("web", url=f"{site.url}/sitemap.xml", max_page_mb=1)
    assert set(listing(c)) == {"/docs/a.html", "/docs/b.html"}
    assert [(s.source_id, "max_page_mb" in s.reason) for s in c.skipped] == \
        [("/docs/huge.html", True)]


def test_redirects_off_site_are_never_requested(connect, site, serve):
    other = serve(FakeSite())
    other.page("/stolen.html", "Elsewhere", "Another host's page.", T0)
    _misbehave(site, "/docs/moved.html", 302, headers={"Location": f"{other.url}/stolen.html"},
               body="")
    c = connect("web", url=f"{site.url}/sitemap.xml")
    assert set(listing(c)) == {"/docs/a.html", "/docs/b.html"}
    assert other.requests == []  # checked before following: the other host was never asked
    [skipped] = c.skipped
    assert skipped.source_id == "/docs/moved.html" and "another site" in skipped.reason


def test_a_root_url_redirecting_off_site_fails_the_source(connect, site, serve):
    other = serve(FakeSite())
    other.page("/docs/", "Elsewhere", "Another host's page.", T0)
    site.fail(301, lambda r: r.path == "/docs/", times=9, headers={"Location": f"{other.url}/docs/"},
              body="")
    c = connect("web", url=f"{site.url}/docs/")
    with pytest.raises(ConnectorConfigError, match="another site"):
        listing(c)
    assert other.requests == []


@pytest.mark.parametrize("location, reason", [("file:///etc/passwd", "only http/https"),
                                              ("/docs/loop.html", "redirect loop")])
def test_a_bad_redirect_skips_that_page_only(connect, site, location, reason):
    _misbehave(site, "/docs/loop.html", 302, headers={"Location": location}, body="")
    c = connect("web", url=f"{site.url}/sitemap.xml")
    assert set(listing(c)) == {"/docs/a.html", "/docs/b.html"}
    [skipped] = c.skipped
    assert skipped.source_id == "/docs/loop.html" and reason in skipped.reason


def test_a_gzip_sitemap_bomb_is_stopped_at_the_cap(connect, site):
    bomb = gzip.compress(b"<" + b" " * (400 * 2**20), 9)  # 400 MB of nothing, ~400 KB packed
    site.fail(200, lambda r: r.path == "/sitemap.xml.gz", times=9, body=bomb,
              headers={"Content-Type": "application/x-gzip"})
    c = connect("web", url=f"{site.url}/sitemap.xml.gz")
    tracemalloc.start()
    try:
        with pytest.raises(ListingIncompleteError, match="inflates to over"):
            listing(c)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 120 * 2**20  # was the whole 400 MB
