"""Pages in a GitHub (or GitHub Enterprise) repository through the REST API, plus its wiki.

LangChain's GithubFileLoader is not reused: it sends requests without a timeout or retries,
ignores the tree's `truncated` flag (a cut-off tree would look like deleted pages) and insists on
a token even for public repositories.

- GET /repos/{o}/{r} checks the repository (404 -> SourceUnavailableError) and gives the default
  branch and the web URL; GET /git/trees/{branch}?recursive=1 lists every file in one request.
  `truncated: true` -> ListingIncompleteError (use `type: git` with the clone URL instead).
- Contents come from GET /git/blobs/{sha} (raw), by the exact sha the tree listed, and are cached
  in state_dir by sha: a sync downloads only what changed. Commit dates (GET /commits?path=..&
  per_page=1) are likewise fetched only for new or changed files (`commit_dates`).
- Page rules are the folder connector's (`connectors.files`): Markdown/text/HTML, front matter,
  titles. `include_wiki` adds the wiki (a git repo, read with the git connector) as `wiki/...`.
- Ids-only listing: the tree alone (the blob sha is the marker); fetch by id reads the blobs of
  the paths whose sha changed. The wiki's ids come from the git connector's own.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from pydantic import Field, field_validator

from connectors.base import (Connector, ConnectorContext, ConnectorError, ListedId,
                             ListingIncompleteError, SourceDocument)
from connectors.files import PAGE_SUFFIXES, UnreadablePage, parse_page
from connectors.git import GitConnector, GitOptions
from connectors.http import HttpClient, HttpOptions, parse_time
from connectors.options import BaseUrl, Globs, bearer, open_client

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
MAX_BLOB_BYTES = 5 * 1024 * 1024


class GitHubOptions(HttpOptions):
    repo: str = Field(description='"owner/name"')
    branch: str | None = Field(None, description="default: the repository's default branch")
    paths: Globs = Field(["*"], description='globs on the path, e.g. "docs/**", "*.md"; only '
                                                "Markdown/text/HTML pages are ever read")
    exclude: Globs = []
    token_env: str | None = Field(None, description="env var with a token; none: public repo")
    api_url: BaseUrl = Field("https://api.github.com", description="GHE: https://HOST/api/v3")
    commit_dates: bool = Field(True, description="one request per new/changed page for its "
                                                 "last commit date")
    include_wiki: bool = False
    wiki_url: str | None = Field(None, description="default: https://HOST/owner/name.wiki.git")

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        value = value.strip().removesuffix(".git")
        if not _REPO.match(value):
            raise ValueError(f'`repo` must be "owner/name", got {value!r}')
        return value

    @field_validator("wiki_url")
    @classmethod
    def _wiki_url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value and not Path(value).is_absolute():
            raise ValueError("`wiki_url` must be a clone URL (https://HOST/owner/name.wiki.git)")
        return value


class GitHubConnector(Connector):
    type = "github"
    Options = GitHubOptions
    options: GitHubOptions

    def _open(self) -> HttpClient:
        opts = self.options
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                   **bearer(self, opts.token_env, required=False)}
        return open_client(self, "GitHub", auth_env=opts.token_env, headers=headers)

    def _tree(self) -> Iterator[tuple[str, str]]:
        """(path, blob sha) of every page in the branch's tree; sets the repository's URLs."""
        opts = self.options
        self.repo_api = f"{opts.api_url}/repos/{opts.repo}"
        info = self.client.json("GET", self.repo_api, missing=f"repository {opts.repo}")
        self.branch = opts.branch or info.get("default_branch") or "main"
        self.html_url = info.get("html_url") or f"https://github.com/{opts.repo}"
        tree = self.client.json("GET", f"{self.repo_api}/git/trees/{quote(self.branch, safe='')}",
                                params={"recursive": "1"},
                                missing=f"branch {self.branch} in {opts.repo}")
        if tree.get("truncated"):
            raise ListingIncompleteError(
                f"source {self.context.source_name!r}: GitHub truncated the file tree of "
                f"{opts.repo} (too many files for one API listing); use `type: git` with the "
                "clone URL for this repository. Nothing was deleted")
        for entry in tree.get("tree") or []:
            path, sha = entry.get("path") or "", entry.get("sha") or ""
            if entry.get("type") != "blob" or not self._wanted(path):
                continue
            if not sha:
                raise ListingIncompleteError(f"GitHub tree entry {path} has no sha")
            if (entry.get("size") or 0) > MAX_BLOB_BYTES:
                self.skip(path, f"larger than {MAX_BLOB_BYTES // (1024 * 1024)} MB")
                continue
            yield path, sha

    def list_documents(self) -> Iterator[SourceDocument]:
        with self._open() as self.client:
            cache = _Cache(self.context.state_dir)
            complete = False
            try:
                for path, sha in self._tree():
                    doc = self._file(path, sha, cache)
                    if doc is not None:
                        yield doc
                complete = True
            finally:
                cache.save(prune=complete)
        if self.options.include_wiki:
            yield from self._wiki_items(lambda wiki: wiki.list_documents())

    def list_ids(self, known: Mapping[str, str]) -> Iterator[ListedId]:
        self.client = self._open()
        self.cache = _Cache(self.context.state_dir)
        self.shas: dict[str, str] = {}
        for path, sha in self._tree():
            self.cache.keep(path, sha)
            self.shas[path] = sha
            yield ListedId(path, sha)
        self.cache.save(prune=True)
        if self.options.include_wiki:
            self.wiki_ids: set[str] = set()
            wiki_known = {k[5:]: v for k, v in known.items() if k.startswith("wiki/")}
            for item in self._wiki_items(lambda wiki: wiki.list_ids(wiki_known)):
                self.wiki_ids.add(item.source_id)
                yield item

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    def fetch_documents(self, source_ids: Sequence[str]) -> Iterator[SourceDocument]:
        try:
            for path in source_ids:
                if path in self.shas:
                    doc = self._file(path, self.shas[path], self.cache)
                    if doc is not None:
                        yield doc
        finally:
            self.cache.save(prune=False)
        wiki = [s[5:] for s in source_ids if s in getattr(self, "wiki_ids", ())]
        if wiki:
            yield from self._wiki_items(lambda connector: connector.fetch_documents(wiki))

    def _wanted(self, path: str) -> bool:
        if PurePosixPath(path).suffix.lower() not in PAGE_SUFFIXES:
            return False
        if any(part.startswith(".") for part in path.split("/")):
            return False  # hidden files and folders are not pages (.github/), as in a folder
        if any(fnmatch.fnmatch(path, p) for p in self.options.exclude):
            return False
        return any(fnmatch.fnmatch(path, p) for p in self.options.paths)

    def _file(self, path: str, sha: str, cache: "_Cache") -> SourceDocument | None:
        repo_api, branch, html_url = self.repo_api, self.branch, self.html_url
        raw = cache.blob(sha)
        if raw is None:
            raw = self.client.get(f"{repo_api}/git/blobs/{sha}",
                                  headers={"Accept": "application/vnd.github.raw+json"}).content
            cache.put_blob(sha, raw)
        try:
            title, text, updated, content_type, meta = parse_page(path, raw)
        except UnreadablePage as exc:
            self.skip(path, str(exc))
            return None
        if updated is None and self.options.commit_dates:
            known, updated = cache.date(path, sha)
            if not known:
                updated = self._commit_date(repo_api, branch, path)
                cache.put_date(path, sha, updated)
        return SourceDocument(
            source_id=path, title=title, content=text,
            url=f"{html_url}/blob/{quote(branch)}/{quote(path)}", updated_at=updated,
            content_type=content_type,
            metadata={k: v for k, v in meta.items() if k in {"owner", "tags"}}, version=sha)

    def _commit_date(self, repo_api: str, branch: str, path: str) -> datetime | None:
        commits = self.client.json("GET", f"{repo_api}/commits",
                                   params={"path": path, "sha": branch, "per_page": 1})
        if not commits:
            return None
        commit = commits[0].get("commit") or {}
        return parse_time((commit.get("committer") or commit.get("author") or {}).get("date"))

    def _wiki_items(self, read: Any) -> Iterator[Any]:
        """What `read(wiki connector)` yields (documents or listed ids), as `wiki/...` items."""
        opts = self.options
        wiki_url = opts.wiki_url or f"{self.html_url}.wiki.git"
        wiki = GitConnector(
            GitOptions(repo=wiki_url, token_env=opts.token_env),
            ConnectorContext(self.context.source_name, self.context.state_dir / "wiki",
                             self.context.env))
        try:
            for item in read(wiki):
                if isinstance(item, ListedId):
                    doc = item.document and self._wiki_document(item.document)
                    yield replace(item, source_id=f"wiki/{item.source_id}", document=doc)
                else:
                    yield self._wiki_document(item)
        except ConnectorError as exc:
            raise type(exc)(f"{exc} (this is the wiki of {opts.repo}; set `include_wiki: false` "
                            "if the repository has no wiki)") from exc
        finally:
            for skipped in wiki.skipped:
                self.skip(f"wiki/{skipped.source_id}", skipped.reason)

    def _wiki_document(self, doc: SourceDocument) -> SourceDocument:
        page = doc.source_id.rsplit(".", 1)[0]
        return replace(doc, source_id=f"wiki/{doc.source_id}",
                       url=f"{self.html_url}/wiki/{quote(page)}")


class _Cache:
    """Blobs by sha (content-addressed, so never stale) and commit dates by (path, blob sha)."""

    def __init__(self, state_dir: Path) -> None:
        self.blobs = state_dir / "github-blobs"
        self.dates_file = state_dir / "github-dates.json"
        self.blobs.mkdir(parents=True, exist_ok=True)
        try:
            self.dates: dict[str, list[str | None]] = json.loads(self.dates_file.read_text())
        except (OSError, ValueError):
            self.dates = {}
        self.used: set[str] = set()
        self.fresh: dict[str, list[str | None]] = {}

    def blob(self, sha: str) -> bytes | None:
        self.used.add(sha)
        try:
            return (self.blobs / sha).read_bytes()
        except OSError:
            return None

    def keep(self, path: str, sha: str) -> None:
        """A listed file not read this time: its blob and date stay cached."""
        self.used.add(sha)
        self.date(path, sha)

    def put_blob(self, sha: str, raw: bytes) -> None:
        tmp = self.blobs / f"{sha}.tmp"
        tmp.write_bytes(raw)
        os.replace(tmp, self.blobs / sha)

    def date(self, path: str, sha: str) -> tuple[bool, datetime | None]:
        entry = self.dates.get(path)
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == sha:
            self.fresh[path] = entry
            return True, parse_time(entry[1])
        return False, None

    def put_date(self, path: str, sha: str, when: datetime | None) -> None:
        self.fresh[path] = [sha, when.isoformat() if when else None]

    def save(self, prune: bool) -> None:
        """After a complete listing, forget files that are gone; after a partial one, keep all."""
        dates = self.fresh if prune else {**self.dates, **self.fresh}
        tmp = self.dates_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(dates))
        os.replace(tmp, self.dates_file)
        if prune:
            for blob in self.blobs.iterdir():
                if blob.name not in self.used:
                    blob.unlink(missing_ok=True)
