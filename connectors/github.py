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
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from pydantic import Field, field_validator

from connectors.base import (Connector, ConnectorContext, ConnectorError, ListingIncompleteError,
                             SourceDocument)
from connectors.files import PAGE_SUFFIXES, UnreadablePage, parse_page
from connectors.git import GitConnector, GitOptions, check_globs
from connectors.http import HttpClient, HttpOptions, check_http_url, parse_time

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
MAX_BLOB_BYTES = 5 * 1024 * 1024


class GitHubOptions(HttpOptions):
    repo: str = Field(description='"owner/name"')
    branch: str | None = Field(None, description="default: the repository's default branch")
    paths: list[str] = Field(["*"], description='globs on the path, e.g. "docs/**", "*.md"; only '
                                                "Markdown/text/HTML pages are ever read")
    exclude: list[str] = []
    token_env: str | None = Field(None, description="env var with a token; none: public repo")
    api_url: str = Field("https://api.github.com", description="GHE: https://HOST/api/v3")
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

    @field_validator("paths", "exclude")
    @classmethod
    def _globs(cls, value: list[str]) -> list[str]:
        return check_globs(value, "paths")

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return check_http_url(value, "api_url")

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

    def list_documents(self) -> Iterator[SourceDocument]:
        opts = self.options
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if opts.token_env:
            headers["Authorization"] = f"Bearer {self.require_env(opts.token_env, 'token')}"
        repo_api = f"{opts.api_url}/repos/{opts.repo}"
        with HttpClient(source_name=self.context.source_name, service="GitHub",
                        auth_env=opts.token_env, timeout_s=opts.timeout_s,
                        max_attempts=opts.max_attempts, headers=headers) as self.client:
            info = self.client.json("GET", repo_api, missing=f"repository {opts.repo}")
            branch = opts.branch or info.get("default_branch") or "main"
            html_url = info.get("html_url") or f"https://github.com/{opts.repo}"
            tree = self.client.json("GET", f"{repo_api}/git/trees/{quote(branch, safe='')}",
                                    params={"recursive": "1"},
                                    missing=f"branch {branch} in {opts.repo}")
            if tree.get("truncated"):
                raise ListingIncompleteError(
                    f"source {self.context.source_name!r}: GitHub truncated the file tree of "
                    f"{opts.repo} (too many files for one API listing); use `type: git` with the "
                    "clone URL for this repository. Nothing was deleted")
            cache = _Cache(self.context.state_dir)
            complete = False
            try:
                for entry in tree.get("tree") or []:
                    doc = self._file(entry, repo_api, branch, html_url, cache)
                    if doc is not None:
                        yield doc
                complete = True
            finally:
                cache.save(prune=complete)
        if opts.include_wiki:
            yield from self._wiki(html_url)

    def _wanted(self, path: str) -> bool:
        if PurePosixPath(path).suffix.lower() not in PAGE_SUFFIXES:
            return False
        if any(part.startswith(".") for part in path.split("/")):
            return False  # hidden files and folders are not pages (.github/), as in a folder
        if any(fnmatch.fnmatch(path, p) for p in self.options.exclude):
            return False
        return any(fnmatch.fnmatch(path, p) for p in self.options.paths)

    def _file(self, entry: dict[str, Any], repo_api: str, branch: str, html_url: str,
              cache: "_Cache") -> SourceDocument | None:
        path, sha = entry.get("path") or "", entry.get("sha") or ""
        if entry.get("type") != "blob" or not self._wanted(path):
            return None
        if not sha:
            raise ListingIncompleteError(f"GitHub tree entry {path} has no sha")
        if (entry.get("size") or 0) > MAX_BLOB_BYTES:
            self.skip(path, f"larger than {MAX_BLOB_BYTES // (1024 * 1024)} MB")
            return None
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
            metadata={k: v for k, v in meta.items() if k in {"owner", "tags"}})

    def _commit_date(self, repo_api: str, branch: str, path: str) -> datetime | None:
        commits = self.client.json("GET", f"{repo_api}/commits",
                                   params={"path": path, "sha": branch, "per_page": 1})
        if not commits:
            return None
        commit = commits[0].get("commit") or {}
        return parse_time((commit.get("committer") or commit.get("author") or {}).get("date"))

    def _wiki(self, html_url: str) -> Iterator[SourceDocument]:
        opts = self.options
        wiki_url = opts.wiki_url or f"{html_url}.wiki.git"
        wiki = GitConnector(
            GitOptions(repo=wiki_url, token_env=opts.token_env),
            ConnectorContext(self.context.source_name, self.context.state_dir / "wiki",
                             self.context.env))
        try:
            for doc in wiki.list_documents():
                page = doc.source_id.rsplit(".", 1)[0]
                yield replace(doc, source_id=f"wiki/{doc.source_id}",
                              url=f"{html_url}/wiki/{quote(page)}")
        except ConnectorError as exc:
            raise type(exc)(f"{exc} (this is the wiki of {opts.repo}; set `include_wiki: false` "
                            "if the repository has no wiki)") from exc
        finally:
            for item in wiki.skipped:
                self.skip(f"wiki/{item.source_id}", item.reason)


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
