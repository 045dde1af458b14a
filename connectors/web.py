"""A web site: from its sitemap.xml (or sitemap index), or crawled from a root page.

LangChain's SitemapLoader needs lxml (not installed) and RecursiveUrlLoader logs-and-continues on a
failed page, ignores robots.txt and cannot tell a 404 (page gone) from a 5xx (listing broken).

- `url` ending in .xml, or answering with an XML <urlset>/<sitemapindex>, is a sitemap: every
  listed page on the same host is read. Anything else is a root page: links are followed on the
  same host, under the root's folder, up to `max_depth` links away.
- robots.txt is obeyed (user agent `ragbot`, crawl-delay up to 10 s). A robots.txt that fails
  with a 5xx is not read as "disallow everything", which would look like every page deleted.
- source_id is the page's path (+ query); updated_at is `<lastmod>`, else `Last-Modified`.
- A listed page that answers 404/410 is gone (left out, not an error); 5xx, timeouts, a broken
  sitemap -> ListingIncompleteError. Pages past `max_pages` are reported as skipped.
- Ids-only listing (sitemaps): the marker is the page's `<lastmod>`, `ETag` and `Last-Modified`.
  A page whose `<lastmod>` is the stored one costs no request; any other is asked for with
  `If-None-Match` / `If-Modified-Since`, and an unchanged page answers 304 with no body. A crawl
  finds pages through the links in their bodies, so it reads every page (a full listing).
"""

from __future__ import annotations

import fnmatch
import json
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import requests
from bs4 import BeautifulSoup, SoupStrainer
from pydantic import Field, field_validator

from connectors.base import (Connector, ConnectorConfigError, ListedId, ListingIncompleteError,
                             SourceDocument)
from connectors.fetch_limits import ItemFetchError, gunzip_capped
from connectors.html import html_to_markdown
from connectors.http import HttpOptions, check_http_url, parse_time, same_origin
from connectors.options import open_client

ROBOTS_AGENT = "ragbot"
GONE = (404, 410)
MAX_SITEMAPS = 200
MAX_CRAWL_DELAY_S = 10.0
MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps protocol's own limit, uncompressed
_NOT_PAGES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".pdf", ".zip", ".gz",
              ".tgz", ".tar", ".css", ".js", ".json", ".xml", ".woff", ".woff2", ".ttf", ".mp3",
              ".mp4", ".webm", ".avi", ".mov", ".exe", ".dmg", ".doc", ".docx", ".xls", ".xlsx",
              ".ppt", ".pptx", ".csv", ".rss", ".atom"}


class WebOptions(HttpOptions):
    url: str = Field(description="a sitemap.xml (or sitemap index), or the root page to crawl")
    max_depth: int = Field(3, ge=0, le=50, description="links away from the root (crawl only)")
    max_pages: int = Field(500, ge=1, le=100_000)
    exclude: list[str] = Field([], description="globs on the source id (path + query)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value, base=False)


@dataclass(slots=True)
class _Listed:
    url: str
    lastmod: datetime | None = None


def source_id_of(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def page_marker(lastmod: datetime | None, etag: str | None, modified: str | None) -> str:
    """The version marker of a page: its sitemap `<lastmod>` and its HTTP validators."""
    if not (lastmod or etag or modified):
        return ""  # nothing to ask "changed since?" with: the sync reads the page every time
    return json.dumps({"lastmod": lastmod.isoformat() if lastmod else None, "etag": etag,
                       "modified": modified}, sort_keys=True)


def _validators(marker: str | None) -> dict[str, str | None]:
    try:
        value = json.loads(marker or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _decode(response: requests.Response) -> str:
    if "charset=" in response.headers.get("Content-Type", "").lower():
        return response.text
    try:
        return response.content.decode("utf-8")
    except UnicodeDecodeError:
        return response.content.decode(response.apparent_encoding or "latin-1", errors="replace")


class WebConnector(Connector):
    type = "web"
    Options = WebOptions
    options: WebOptions

    def _open(self) -> requests.Response:
        """Client, robots.txt and the first response (the sitemap or the crawl's root)."""
        opts = self.options
        self.client = client = self._client()
        self.robots, self.crawl_delay = self._read_robots()
        if not self._allowed(opts.url):
            raise ConnectorConfigError(f"source {self.context.source_name!r}: robots.txt "
                                       f"disallows {opts.url} for {ROBOTS_AGENT!r}")
        try:  # the root may be a sitemap: up to the sitemap limit, not the page cap
            return client.get(opts.url, missing="page at `url`",
                              max_bytes=max(MAX_SITEMAP_BYTES, opts.max_page_bytes))
        except ItemFetchError as exc:
            raise ConnectorConfigError(f"source {self.context.source_name!r}: `url` "
                                       f"{opts.url}: {exc}") from None

    def _client(self):
        """Every request capped (`max_page_mb`, `timeout_s` in all) and kept on the site: each
        redirect hop is checked against `url` before it is followed."""
        return open_client(self, "the web site", max_bytes=self.options.max_page_bytes,
                           allowed_origins=[self.options.url],
                           no_auth_hint="the web connector reads public pages only; exclude "
                                        "the protected ones (`exclude`)")

    def list_documents(self) -> Iterator[SourceDocument]:
        for item in self.list_ids({}):
            assert item.document is not None  # nothing known: every page was read
            yield item.document

    def list_ids(self, known: Mapping[str, str]) -> Iterator[ListedId]:
        try:
            first = self._open()
            root = self._sitemap_root(first)
            if root is not None:
                listed = self._sitemap_urls(first.url, root)
                self.listed = {source_id_of(item.url): item for item in listed}
                yield from self._read_listed(listed, known)
            else:
                for doc in self._crawl(first):
                    yield ListedId(doc.source_id, doc.version or "", document=doc)
        finally:
            self.client.close()

    def fetch_documents(self, source_ids: Sequence[str]) -> Iterator[SourceDocument]:
        listed = getattr(self, "listed", {})  # a crawl hands over every page while listing
        done: set[str] = set()
        with self._client() as self.client:
            for source_id in source_ids:
                if source_id not in listed:
                    continue
                self._pause(done)
                response = self._fetch_page(listed[source_id].url, source_id)
                done.add(source_id)
                if response is None or response.status_code in GONE:
                    continue
                if not same_origin(response.url, self.options.url):
                    self.skip(source_id, f"redirects to another host ({response.url})")
                    continue
                doc = self._document(response, source_id, listed[source_id].lastmod)
                if doc is not None:
                    yield doc

    # robots.txt ---------------------------------------------------------------------------

    def _read_robots(self) -> tuple[RobotFileParser | None, float]:
        parts = urlsplit(self.options.url)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        # RFC 9309: a 4xx robots.txt means no rules; a 5xx must not be read as "allow all" nor
        # as "disallow all" (the latter would delete the site from the index): it raises.
        response = self.client.get(robots_url, missing="robots.txt",
                                   accept=[s for s in range(400, 500) if s != 429])
        if response.status_code >= 400:
            return None, 0.0
        parser = RobotFileParser(robots_url)
        parser.parse(_decode(response).splitlines())
        delay = parser.crawl_delay(ROBOTS_AGENT) or 0.0
        return parser, min(float(delay), MAX_CRAWL_DELAY_S)

    def _allowed(self, url: str) -> bool:
        return self.robots is None or self.robots.can_fetch(ROBOTS_AGENT, url)

    # sitemaps -----------------------------------------------------------------------------

    def _sitemap_root(self, response: requests.Response) -> ET.Element | None:
        content_type = response.headers.get("Content-Type", "").lower()
        path = urlsplit(response.url).path.lower()
        if "html" in content_type or not ("xml" in content_type or path.endswith((".xml",
                                                                                   ".xml.gz"))):
            return None
        root = self._parse_xml(response)
        if _local(root.tag) not in {"urlset", "sitemapindex"}:
            raise ConnectorConfigError(f"source {self.context.source_name!r}: {response.url} is "
                                       "XML but not a sitemap (<urlset> or <sitemapindex>)")
        return root

    def _parse_xml(self, response: requests.Response) -> ET.Element:
        data = response.content  # at most MAX_SITEMAP_BYTES: the client stopped reading there
        if data[:2] == b"\x1f\x8b":  # inflated with the same cap, never whole
            data = gunzip_capped(data, MAX_SITEMAP_BYTES, f"sitemap {response.url}")
        try:
            return ET.fromstring(data)
        except ET.ParseError as exc:
            raise ListingIncompleteError(f"source {self.context.source_name!r}: sitemap "
                                         f"{response.url} is not valid XML ({exc}); nothing was "
                                         "deleted") from exc

    def _sitemap_urls(self, sitemap_url: str, root: ET.Element) -> list[_Listed]:
        listed: dict[str, _Listed] = {}
        queue: deque[tuple[str, ET.Element | None]] = deque([(sitemap_url, root)])
        seen = {sitemap_url}
        while queue:
            url, element = queue.popleft()
            if element is None:
                element = self._parse_xml(self.client.get(url, max_bytes=MAX_SITEMAP_BYTES))
            for child in element:
                kind = _local(child.tag)
                fields = {_local(f.tag): (f.text or "").strip() for f in child}
                loc = urldefrag(urljoin(url, fields.get("loc", "")))[0]
                if not loc:
                    continue
                if not same_origin(loc, self.options.url):
                    self.skip(loc, "on another host than `url`")
                elif kind == "sitemap" and loc not in seen:
                    if len(seen) >= MAX_SITEMAPS:
                        raise ListingIncompleteError(f"more than {MAX_SITEMAPS} sitemaps")
                    seen.add(loc)
                    queue.append((loc, None))
                elif kind == "url" and loc not in listed:
                    listed[loc] = _Listed(loc, parse_time(fields.get("lastmod")))
        return list(listed.values())

    def _read_listed(self, listed: list[_Listed],
                     known: Mapping[str, str]) -> Iterator[ListedId]:
        """Each listed page: unchanged by `<lastmod>` (no request), by a 304, or read."""
        done: set[str] = set()
        for item in listed:
            source_id = source_id_of(item.url)
            if self._excluded(source_id) or source_id in done:
                continue
            if not self._allowed(item.url):
                self.skip(source_id, "disallowed by robots.txt")
                continue
            if len(done) >= self.options.max_pages:
                self.skip(source_id, f"beyond max_pages ({self.options.max_pages})")
                continue
            old = _validators(known.get(source_id))
            if item.lastmod and old.get("lastmod") == item.lastmod.isoformat():
                done.add(source_id)
                yield ListedId(source_id, known[source_id])
                continue
            ask = {k: v for k, v in (("If-None-Match", old.get("etag")),
                                     ("If-Modified-Since", old.get("modified"))) if v}
            self._pause(done)
            done.add(source_id)
            response = self._fetch_page(item.url, source_id, headers=ask)
            if response is None:
                continue
            if response.status_code == 304 and ask:  # unchanged: a few headers, no body
                yield ListedId(source_id, page_marker(
                    item.lastmod, response.headers.get("ETag") or old.get("etag"),
                    response.headers.get("Last-Modified") or old.get("modified")),
                    unchanged=True)
                continue
            if response.status_code in GONE:
                continue  # listed but gone: deleted from the index, as it should be
            if not same_origin(response.url, self.options.url):
                self.skip(source_id, f"redirects to another host ({response.url})")
                continue
            doc = self._document(response, source_id, item.lastmod)
            if doc is not None:
                yield ListedId(source_id, doc.version or "", document=doc)

    # crawling -----------------------------------------------------------------------------

    def _scope(self, url: str) -> str:
        path = urlsplit(url).path or "/"
        if path.endswith("/"):
            return path
        last = path.rsplit("/", 1)[-1]
        return path + "/" if "." not in last else path.rsplit("/", 1)[0] + "/"

    def _in_scope(self, url: str, base: str, prefix: str) -> bool:
        if not same_origin(url, base):
            return False
        path = urlsplit(url).path or "/"
        if PurePosixPath(path).suffix.lower() in _NOT_PAGES:
            return False
        return path.startswith(prefix) or path + "/" == prefix

    def _crawl(self, first: requests.Response) -> Iterator[SourceDocument]:
        base = first.url
        prefix = self._scope(base)
        queue: deque[tuple[str, int]] = deque([(base, 0)])
        queued = {base}
        done: set[str] = set()
        while queue:
            url, depth = queue.popleft()
            source_id = source_id_of(url)
            if len(done) >= self.options.max_pages:
                self.skip(source_id, f"beyond max_pages ({self.options.max_pages})")
                continue
            if url == base:
                response = first
            else:
                self._pause(done)
                response = self._fetch_page(url, source_id)
            if response is None or response.status_code in GONE:
                continue  # a broken link is not a page
            final_id = source_id_of(response.url)
            if final_id in done or not self._in_scope(response.url, base, prefix):
                continue  # redirected to a page already read, or off the site
            done.add(final_id)
            if depth < self.options.max_depth and self._is_html(response):
                for link in self._links(response):
                    if link in queued or not self._in_scope(link, base, prefix):
                        continue
                    queued.add(link)
                    if self._excluded(source_id_of(link)):
                        continue
                    if not self._allowed(link):
                        self.skip(source_id_of(link), "disallowed by robots.txt")
                        continue
                    queue.append((link, depth + 1))
            if not self._excluded(final_id):
                doc = self._document(response, final_id, None)
                if doc is not None:
                    yield doc

    def _links(self, response: requests.Response) -> list[str]:
        soup = BeautifulSoup(_decode(response), "html.parser", parse_only=SoupStrainer("a"))
        links = []
        for anchor in soup.find_all("a", href=True):
            href = str(anchor["href"]).strip()
            if href and not href.startswith(("#", "mailto:", "javascript:", "tel:")):
                links.append(urldefrag(urljoin(response.url, href))[0])
        return links

    # pages --------------------------------------------------------------------------------

    def _fetch_page(self, url: str, source_id: str,
                    headers: dict[str, str] | None = None) -> requests.Response | None:
        """The page, or None when it broke a limit (too large, too slow, a refused redirect:
        skipped and reported by name; the rest of the site still syncs). `headers`: the
        conditional GET's validators (an unchanged page answers 304)."""
        try:
            return self.client.get(url, accept=GONE, headers=headers or {})
        except ItemFetchError as exc:
            self.skip(source_id, str(exc))
            return None

    def _is_html(self, response: requests.Response) -> bool:
        content_type = response.headers.get("Content-Type", "text/html").lower()
        return "html" in content_type

    def _document(self, response: requests.Response, source_id: str,
                  lastmod: datetime | None) -> SourceDocument | None:
        content_type = response.headers.get("Content-Type", "text/html").split(";")[0].strip()
        if len(response.content) > self.options.max_page_bytes:  # the root, read up to 50 MB
            self.skip(source_id, f"over max_page_mb ({self.options.max_page_mb:g} MB)")
            return None
        updated = lastmod or parse_time(response.headers.get("Last-Modified"))
        text = _decode(response)
        if "html" in content_type:
            body, title = html_to_markdown(text)
            kind = "markdown"
        elif content_type in {"text/plain", "text/markdown", "text/x-markdown"}:
            body, title = text, None
            kind = "text" if content_type == "text/plain" else "markdown"
        else:
            self.skip(source_id, f"not a page ({content_type or 'no content type'})")
            return None
        title = title or PurePosixPath(urlsplit(response.url).path).name or response.url
        return SourceDocument(source_id=source_id, title=title, content=body, url=response.url,
                              updated_at=updated, content_type=kind,
                              version=page_marker(lastmod, response.headers.get("ETag"),
                                                  response.headers.get("Last-Modified")))

    def _excluded(self, source_id: str) -> bool:
        return any(fnmatch.fnmatch(source_id, pattern) for pattern in self.options.exclude)

    def _pause(self, done: set[str]) -> None:
        if self.crawl_delay and done:
            self.client.sleep(self.crawl_delay)
