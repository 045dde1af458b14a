"""Loopback fakes of the services the connectors read, speaking their real REST shapes.

Each fake binds 127.0.0.1 port 0 in a thread, records every request (`.requests`), and can be
told to misbehave for the next matching requests (`.fail(...)`): a 401, a 500 mid-listing, a 429
with Retry-After. Their state is plain dicts the tests edit between syncs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Reply:
    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # answer late (timeouts)
    drip_s: float = 0.0  # send the body one byte every drip_s seconds (a page that never ends)
    chunked: bool = False  # no Content-Length: chunked transfer encoding

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        body = self.body
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return body, headers


@dataclass
class _Fault:
    match: Callable[[Request], bool]
    reply: Reply
    times: int


class FakeServer:
    """Base: a threaded loopback HTTP server; subclasses implement `handle`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, parts.path,
                                  {k: v[-1] for k, v in parse_qs(parts.query).items()},
                                  {k.lower(): v for k, v in self.headers.items()},
                                  self.rfile.read(length) if length else b"")
                reply = fake._dispatch(request)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                body, headers = reply.encoded()
                self.send_response(reply.status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if reply.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    if reply.drip_s:
                        for i in range(len(body)):
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                            time.sleep(reply.drip_s)
                    elif reply.chunked:
                        for i in range(0, len(body), 65536):
                            piece = body[i:i + 65536]
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a deadline, a cap): what the tests want

            do_GET = do_POST = do_HEAD = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        daemon=True)

    def start(self) -> "FakeServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def fail(self, status: int, match: Callable[[Request], bool] | str = "", times: int = 1,
             headers: dict[str, str] | None = None, body: Any = None,
             delay_s: float = 0.0, **reply: Any) -> None:
        """Answer the next `times` requests matching `match` (a path substring or a predicate);
        `reply`: more Reply fields (drip_s, chunked)."""
        predicate = match if callable(match) else (lambda r, s=match: s in r.path)
        reply = Reply(status, body if body is not None else {"message": f"fake {status}"},
                      headers or {}, delay_s, **reply)
        with self._lock:
            self._faults.append(_Fault(predicate, reply, times))

    def _dispatch(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            for fault in self._faults:
                if fault.times > 0 and fault.match(request):
                    fault.times -= 1
                    return fault.reply
        try:
            return self.handle(request)
        except KeyError:
            return Reply(404, {"message": "Not Found"})

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]


def iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --------------------------------------------------------------------------- Confluence


@dataclass
class ConfluencePage:
    id: str
    space: str
    title: str
    body: str
    when: datetime
    parent: str | None = None
    version: int = 1


class FakeConfluence(FakeServer):
    """Cloud (`/wiki/rest/api`, basic email:token) or Data Center (`/confluence/rest/api`, PAT)."""

    def __init__(self, cloud: bool, token: str = "tok", user: str = "me@example.com",
                 page_limit: int = 2) -> None:
        super().__init__()
        self.cloud, self.token, self.user, self.page_limit = cloud, token, user, page_limit
        self.context = "/wiki" if cloud else "/confluence"
        self.base_url = self.url if cloud else self.url + self.context
        self.spaces: dict[str, str] = {}
        self.pages: dict[str, ConfluencePage] = {}
        self.bodies = 0  # page bodies (body.storage) served, listed or fetched by id

    def add(self, page: ConfluencePage) -> None:
        self.spaces.setdefault(page.space, f"{page.space} space")
        self.pages[page.id] = page

    def edit(self, page_id: str, body: str, when: datetime) -> None:
        page = self.pages[page_id]
        page.body, page.when, page.version = body, when, page.version + 1

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if self.cloud:
            expected = base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
            return header == f"Basic {expected}"
        return header == f"Bearer {self.token}"

    def _ancestors(self, page: ConfluencePage) -> list[dict[str, Any]]:
        chain = []
        parent = page.parent
        while parent:
            p = self.pages[parent]
            chain.insert(0, {"id": p.id, "type": "page", "title": p.title})
            parent = p.parent
        return chain

    def _page_json(self, page: ConfluencePage, expand: str) -> dict[str, Any]:
        """The page as the REST API gives it: body, version and ancestors only when expanded."""
        webui = (f"/spaces/{page.space}/pages/{page.id}/{page.title.replace(' ', '+')}"
                 if self.cloud else f"/pages/viewpage.action?pageId={page.id}")
        expanded = set(expand.split(","))
        data: dict[str, Any] = {
            "id": page.id, "type": "page", "status": "current", "title": page.title,
            "_links": {"webui": webui, "self": f"{self.base_url}/rest/api/content/{page.id}"},
            "_expandable": {"body": "", "version": "", "ancestors": ""}}
        if "body.storage" in expanded:
            self.bodies += 1
            data["body"] = {"storage": {"value": page.body, "representation": "storage"}}
        if "version" in expanded:
            data["version"] = {"number": page.version, "when": iso(page.when)}
        if "ancestors" in expanded:
            data["ancestors"] = self._ancestors(page)
        return data

    def handle(self, request: Request) -> Reply:
        if not self._authorized(request):
            return Reply(401, {"statusCode": 401, "message": "Unauthorized"})
        prefix = self.context + "/rest/api"
        if not request.path.startswith(prefix):
            return Reply(404, {"statusCode": 404})
        path = request.path[len(prefix):]
        if path.startswith("/space/"):
            key = path.split("/")[2]
            if key not in self.spaces:
                return Reply(404, {"statusCode": 404, "message": f"No space with key : {key}"})
            return Reply(200, {"key": key, "name": self.spaces[key], "type": "global"})
        if path.startswith("/content/") and path.count("/") == 2:
            page = self.pages.get(path.split("/")[2])
            if page is None:
                return Reply(404, {"statusCode": 404, "message": "No content found with id"})
            return Reply(200, self._page_json(page, request.query.get("expand", "")))
        if path == "/content":
            q = request.query
            assert q.get("type") == "page"
            start, limit = int(q.get("start", 0)), min(int(q.get("limit", 25)), self.page_limit)
            pages = sorted((p for p in self.pages.values() if p.space == q["spaceKey"]),
                           key=lambda p: p.id)
            chunk = pages[start:start + limit]
            links: dict[str, Any] = {"base": self.base_url, "context": self.context}
            if start + limit < len(pages):
                links["next"] = (f"/rest/api/content?spaceKey={q['spaceKey']}&type=page"
                                 f"&status=current&expand={q['expand']}&limit={limit}"
                                 f"&start={start + limit}")
            return Reply(200, {"results": [self._page_json(p, q.get("expand", "")) for p in chunk],
                               "start": start,
                               "limit": limit, "size": len(chunk), "_links": links})
        return Reply(404, {"statusCode": 404})


# --------------------------------------------------------------------------- Notion


class FakeNotion(FakeServer):
    """`/v1/databases/{id}/query`, `/v1/pages/{id}`, `/v1/blocks/{id}/children`, cursor paging."""

    def __init__(self, token: str = "secret_tok", page_limit: int = 2) -> None:
        super().__init__()
        self.token, self.page_limit = token, page_limit
        self.pages: dict[str, dict[str, Any]] = {}
        self.databases: dict[str, list[str]] = {}
        self.blocks: dict[str, list[dict[str, Any]]] = {}  # parent id -> child blocks
        self.bodies = 0  # pages whose blocks were read (first page of their children)

    @staticmethod
    def text(content: str, **annotations: Any) -> dict[str, Any]:
        return {"type": "text", "text": {"content": content, "link": None},
                "annotations": {"bold": False, "italic": False, "strikethrough": False,
                                "underline": False, "code": False, "color": "default",
                                **annotations},
                "plain_text": content, "href": None}

    @classmethod
    def block(cls, block_id: str, kind: str, text: str = "", **extra: Any) -> dict[str, Any]:
        data = {"rich_text": [cls.text(text)] if text else [], **extra}
        return {"object": "block", "id": block_id, "type": kind, "has_children": False,
                "archived": False, kind: data}

    def add_page(self, page_id: str, title: str, when: datetime,
                 blocks: list[dict[str, Any]], database: str | None = None) -> None:
        parent = ({"type": "database_id", "database_id": database} if database
                  else {"type": "workspace", "workspace": True})
        self.pages[page_id] = {
            "object": "page", "id": page_id, "created_time": iso(when),
            "last_edited_time": iso(when), "archived": False, "in_trash": False,
            "parent": parent, "url": f"https://www.notion.so/{page_id.replace('-', '')}",
            "properties": {"Name": {"id": "title", "type": "title",
                                    "title": [self.text(title)]}}}
        if database:
            self.databases.setdefault(database, []).append(page_id)
        self.set_blocks(page_id, blocks)

    def set_blocks(self, parent_id: str, blocks: list[dict[str, Any]]) -> None:
        self.blocks[parent_id] = blocks

    def set_children(self, block: dict[str, Any], children: list[dict[str, Any]]) -> None:
        block["has_children"] = True
        self.blocks[block["id"]] = children

    def _page(self, items: list[Any], cursor: str | None, size: int) -> dict[str, Any]:
        start = int(cursor) if cursor else 0
        size = min(size, self.page_limit)
        end = start + size
        more = end < len(items)
        return {"object": "list", "results": items[start:end], "has_more": more,
                "next_cursor": str(end) if more else None}

    def handle(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, {"object": "error", "status": 401, "code": "unauthorized",
                               "message": "API token is invalid."})
        if request.headers.get("notion-version") != "2022-06-28":
            return Reply(400, {"object": "error", "status": 400, "code": "missing_version"})
        parts = request.path.strip("/").split("/")
        not_found = Reply(404, {"object": "error", "status": 404, "code": "object_not_found"})
        if parts[:2] == ["v1", "databases"] and parts[3:] == ["query"] \
                and request.method == "POST":
            if parts[2] not in self.databases:
                return not_found
            body = request.json()
            pages = [self.pages[p] for p in self.databases[parts[2]]
                     if p in self.pages and not self.pages[p]["archived"]]
            return Reply(200, self._page(pages, body.get("start_cursor"),
                                         int(body.get("page_size", 100))))
        if parts[:2] == ["v1", "pages"] and len(parts) == 3:
            return Reply(200, self.pages[parts[2]]) if parts[2] in self.pages else not_found
        if parts[:2] == ["v1", "blocks"] and parts[3:] == ["children"]:
            if parts[2] not in self.blocks:
                return not_found
            if parts[2] in self.pages and not request.query.get("start_cursor"):
                with self._lock:
                    self.bodies += 1
            return Reply(200, self._page(self.blocks[parts[2]], request.query.get("start_cursor"),
                                         int(request.query.get("page_size", 100))))
        return not_found


# --------------------------------------------------------------------------- GitHub


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


class FakeGitHub(FakeServer):
    """A repository behind `/repos/{o}/{r}`: tree, blobs, commits; optional GHE `/api/v3` prefix."""

    def __init__(self, repo: str = "team/handbook", token: str | None = "ghp_tok",
                 prefix: str = "", branch: str = "main") -> None:
        super().__init__()
        self.repo, self.token, self.prefix, self.branch = repo, token, prefix, branch
        self.api_url = self.url + prefix
        self.files: dict[str, bytes] = {}
        self.dates: dict[str, datetime] = {}
        self.truncated = False
        self.private = token is not None
        self.bodies = 0  # blobs served
        self._by_sha: dict[str, bytes] = {}

    def put(self, path: str, content: str | bytes, when: datetime) -> None:
        if path in self.files:
            self.delete(path)
        self.files[path] = content.encode() if isinstance(content, str) else content
        self.dates[path] = when
        self._by_sha[git_blob_sha(self.files[path])] = self.files[path]

    def delete(self, path: str) -> None:
        data = self.files.pop(path)
        if data not in self.files.values():  # a blob lives while some file holds it
            self._by_sha.pop(git_blob_sha(data), None)

    def _tree(self) -> list[dict[str, Any]]:
        entries: dict[str, dict[str, Any]] = {}
        for path, data in sorted(self.files.items()):
            parts = path.split("/")
            for i in range(1, len(parts)):
                folder = "/".join(parts[:i])
                entries.setdefault(folder, {"path": folder, "mode": "040000", "type": "tree",
                                            "sha": hashlib.sha1(folder.encode()).hexdigest()})
            entries[path] = {"path": path, "mode": "100644", "type": "blob",
                             "sha": git_blob_sha(data), "size": len(data),
                             "url": f"{self.api_url}/repos/{self.repo}/git/blobs/"
                                    f"{git_blob_sha(data)}"}
        return sorted(entries.values(), key=lambda e: e["path"])

    def handle(self, request: Request) -> Reply:
        auth = request.headers.get("authorization")
        if auth is not None and auth != f"Bearer {self.token}":
            return Reply(401, {"message": "Bad credentials",
                               "documentation_url": "https://docs.github.com/rest"})
        not_found = Reply(404, {"message": "Not Found"})
        if self.private and auth is None:
            return not_found  # GitHub hides private repositories from anonymous callers
        base = f"{self.prefix}/repos/{self.repo}"
        if not request.path.startswith(base):
            return not_found
        path = request.path[len(base):]
        html_url = f"{self.url}/{self.repo}"
        if path == "":
            return Reply(200, {"full_name": self.repo, "default_branch": self.branch,
                               "html_url": html_url, "private": self.private})
        if path.startswith("/git/trees/"):
            if path.rsplit("/", 1)[-1] != self.branch:
                return not_found
            assert request.query.get("recursive") == "1"
            return Reply(200, {"sha": "f" * 40, "url": "", "tree": self._tree(),
                               "truncated": self.truncated})
        if path.startswith("/git/blobs/"):
            sha = path.rsplit("/", 1)[-1]
            data = self._by_sha.get(sha)
            if data is None:
                return not_found
            with self._lock:
                self.bodies += 1
            if "raw" in request.headers.get("accept", ""):
                return Reply(200, data, {"Content-Type": "application/vnd.github.raw"})
            return Reply(200, {"sha": sha, "size": len(data), "encoding": "base64",
                               "content": base64.b64encode(data).decode()})
        if path == "/commits":
            file_path = request.query.get("path", "")
            if file_path not in self.dates or request.query.get("sha") != self.branch:
                return Reply(200, [])
            when = iso(self.dates[file_path])
            link = (f'<{self.api_url}/repos/{self.repo}/commits?path={file_path}&per_page=1'
                    f'&page=2>; rel="next"')
            return Reply(200, [{"sha": "c" * 40, "commit": {"author": {"date": when},
                                                            "committer": {"date": when}}}],
                         {"Link": link})
        return not_found


# --------------------------------------------------------------------------- Web site


class FakeSite(FakeServer):
    """A small site: pages, robots.txt, /sitemap.xml (an index of two child sitemaps)."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, tuple[str, datetime]] = {}  # path -> (html, last modified)
        self.robots = "User-agent: *\nDisallow: /docs/private/\n"
        self.sitemap_extra: list[str] = []  # paths listed in the sitemap but not served
        self.lastmod = True  # <lastmod> in the sitemap
        self.bodies = 0  # page bodies served (a 304 has none)

    def page(self, path: str, title: str, body: str, when: datetime,
             links: list[str] = ()) -> None:
        anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
        html = (f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a></nav>"
                f"<main><h1>{title}</h1><p>{body}</p><ul>{anchors}</ul></main>"
                f"<footer>(c) team</footer></body></html>")
        self.pages[path] = (html, when)

    def _urlset(self, paths: list[str]) -> str:
        entries = "".join(
            f"<url><loc>{self.url}{p}</loc>"
            + (f"<lastmod>{iso(self.pages[p][1])}</lastmod>" if p in self.pages and self.lastmod
               else "")
            + "</url>" for p in paths)
        return ('<?xml version="1.0" encoding="UTF-8"?>'
                f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>')

    def handle(self, request: Request) -> Reply:
        xml = {"Content-Type": "application/xml"}
        if request.path == "/robots.txt":
            return Reply(200, self.robots) if self.robots is not None else Reply(404, "")
        listed = sorted(self.pages) + self.sitemap_extra
        half = len(listed) // 2
        if request.path == "/sitemap.xml":
            children = "".join(f"<sitemap><loc>{self.url}/sitemap-{i}.xml</loc></sitemap>"
                               for i in (1, 2))
            return Reply(200, '<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="'
                              f'http://www.sitemaps.org/schemas/sitemap/0.9">{children}'
                              "</sitemapindex>", xml)
        if request.path == "/sitemap-1.xml":
            return Reply(200, self._urlset(listed[:half]), xml)
        if request.path == "/sitemap-2.xml":
            return Reply(200, self._urlset(listed[half:]), xml)
        if request.path in self.pages:
            html, when = self.pages[request.path]
            headers = {"ETag": f'"{hashlib.sha1(html.encode()).hexdigest()[:16]}"',
                       "Last-Modified": format_datetime(when, usegmt=True)}
            # RFC 9110: If-None-Match decides when present; else If-Modified-Since
            match = request.headers.get("if-none-match")
            since = request.headers.get("if-modified-since")
            if match is not None and match == headers["ETag"] or match is None and since \
                    and parsedate_to_datetime(since) >= when.replace(microsecond=0):
                return Reply(304, b"", headers)
            with self._lock:
                self.bodies += 1
            return Reply(200, html, {"Content-Type": "text/html; charset=utf-8", **headers})
        return Reply(404, "<html><body><h1>Not found</h1></body></html>",
                     {"Content-Type": "text/html"})
