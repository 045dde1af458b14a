"""Confluence spaces (Cloud or Data Center / Server) through the REST content API.

LangChain's ConfluenceLoader needs atlassian-python-api (not installed) and logs-and-continues on a
failed page or attachment, which would make a partial listing look like deletions.

- Cloud: `{base}/wiki/rest/api/...`, basic auth `email:API token` (`user_env` + `token_env`);
  Data Center: `{base}/rest/api/...`, `Authorization: Bearer <personal access token>`.
- Each space is checked first (`/space/{key}`): a typo in a key is an error, not an empty space
  whose pages would all look deleted. Pages come from `/content?spaceKey=..&type=page` with
  `expand=body.storage,version,ancestors`, following `_links.next` to the end.
- source_id is the page id (stable across renames and moves); the title is the ancestor path
  ("Parent > Child > Page"); updated_at is `version.when`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator, model_validator

from connectors.base import Connector, ListedId, ListingIncompleteError, SourceDocument
from connectors.html import html_to_markdown
from connectors.http import HttpClient, HttpOptions, parse_time, same_origin
from connectors.options import BaseUrl, bearer, open_client

_SPACE_KEY = re.compile(r"^~?[A-Za-z0-9_-]+$")
MAX_REQUESTS_PER_SPACE = 20_000


class ConfluenceOptions(HttpOptions):
    base_url: BaseUrl = Field(description="https://team.atlassian.net or https://wiki.example.com")
    spaces: list[str] = Field(min_length=1, description="space keys, e.g. [ENG, OPS]")
    token_env: str = Field(description="env var with the API token (Cloud) or PAT (Data Center)")
    user_env: str | None = Field(None, description="Cloud only: env var with the account email")
    cloud: bool | None = Field(None, description="default: true for *.atlassian.net hosts")
    page_size: int = Field(50, ge=1, le=250)

    @field_validator("spaces")
    @classmethod
    def _spaces(cls, value: list[str]) -> list[str]:
        bad = [key for key in value if not _SPACE_KEY.match(key)]
        if bad:
            raise ValueError(f"not Confluence space keys: {', '.join(map(repr, bad))} (use the "
                             "key, e.g. ENG, not the space name)")
        return value

    @model_validator(mode="after")
    def _cloud_needs_user(self) -> "ConfluenceOptions":
        if self.is_cloud and not self.user_env:
            raise ValueError("Confluence Cloud authenticates with email + API token: set "
                             "`user_env` to the env var holding the account email (or `cloud: "
                             "false` for Data Center, which uses a bearer token)")
        return self

    @property
    def is_cloud(self) -> bool:
        if self.cloud is not None:
            return self.cloud
        return (urlsplit(self.base_url).hostname or "").endswith(".atlassian.net")


class ConfluenceConnector(Connector):
    type = "confluence"
    Options = ConfluenceOptions
    options: ConfluenceOptions

    BODY = "body.storage,version,ancestors"
    client: HttpClient | None = None

    def _open(self) -> HttpClient:
        """The client (kept for `fetch_documents` after `list_ids`); sets `api` and `web_base`."""
        if self.client is not None:
            return self.client
        opts = self.options
        site = opts.base_url
        if opts.is_cloud:
            site = site.removesuffix("/wiki")
            token = self.require_env(opts.token_env, "token")
            auth: Any = (self.require_env(opts.user_env, "user"), token)
            headers: dict[str, str] = {}
            auth_env = f"{opts.user_env} / {opts.token_env}"
        else:
            auth, headers, auth_env = None, bearer(self, opts.token_env), opts.token_env
        self.web_base = site + "/wiki" if opts.is_cloud else site
        self.api = self.web_base + "/rest/api"
        self.client = open_client(self, "Confluence", auth_env=auth_env, auth=auth,
                                  headers={"Accept": "application/json", **headers})
        return self.client

    def _spaces(self, expand: str) -> Iterator[tuple[str, dict[str, Any]]]:
        client = self._open()
        for key in self.options.spaces:
            client.json("GET", f"{self.api}/space/{quote(key)}", missing=f"space {key}")
            for page in self._space_pages(client, self.api, key, expand):
                yield key, page

    def list_documents(self) -> Iterator[SourceDocument]:
        try:
            for key, page in self._spaces(self.BODY):
                yield self._document(page, key)
        finally:
            self.close()

    def list_ids(self, known: Mapping[str, str]) -> Iterator[ListedId]:
        self.space_of: dict[str, str] = {}
        for key, page in self._spaces("version,ancestors"):
            page_id = self._id(page)
            self.space_of[page_id] = key
            yield ListedId(page_id, self._marker(page))

    def fetch_documents(self, source_ids: Sequence[str]) -> Iterator[SourceDocument]:
        client = self._open()
        for page_id in source_ids:
            response = client.get(f"{self.api}/content/{quote(page_id)}",
                                  params={"expand": self.BODY, "status": "current"},
                                  accept=(404, 410))
            if response.status_code in (404, 410):
                continue  # deleted since the listing
            try:
                page = response.json()
            except ValueError as exc:
                raise ListingIncompleteError(f"source {self.context.source_name!r}: Confluence "
                                             f"sent a reply that is not JSON for page {page_id}"
                                             ) from exc
            yield self._document(page, self.space_of.get(page_id, ""))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def _marker(self, page: dict[str, Any]) -> str:
        version = (page.get("version") or {}).get("number")
        if version is None:
            return ""  # no version: the sync fetches the page to know
        path = "\0".join([*self._path(page), str((page.get("_links") or {}).get("webui"))])
        return f"{version}:{hashlib.sha1(path.encode()).hexdigest()[:12]}"

    def _space_pages(self, client: HttpClient, api: str, key: str,
                     expand: str) -> Iterator[dict[str, Any]]:
        url: str | None = f"{api}/content"
        params: dict[str, Any] | None = {
            "spaceKey": key, "type": "page", "status": "current", "start": 0,
            "limit": self.options.page_size, "expand": expand}
        seen: set[str] = set()
        while url:
            if url in seen or len(seen) >= MAX_REQUESTS_PER_SPACE:
                raise ListingIncompleteError(f"source {self.context.source_name!r}: Confluence "
                                             f"pagination of space {key} does not end")
            seen.add(url)
            data = client.json("GET", url, params=params)
            if not isinstance(data, dict) or not isinstance(data.get("results"), list):
                raise ListingIncompleteError(f"source {self.context.source_name!r}: unexpected "
                                             f"Confluence reply for space {key}")
            yield from data["results"]
            url, params = self._next(data), None

    def _next(self, data: dict[str, Any]) -> str | None:
        link = (data.get("_links") or {}).get("next")
        if not link:
            return None
        url = link if "://" in link else self.web_base + link
        if not same_origin(url, self.web_base):  # never send the credentials elsewhere
            raise ListingIncompleteError(f"source {self.context.source_name!r}: Confluence "
                                         f"pagination points to another host ({url})")
        return url

    def _id(self, page: dict[str, Any]) -> str:
        page_id = str(page.get("id") or "")
        if not page_id:
            raise ListingIncompleteError(f"source {self.context.source_name!r}: a Confluence "
                                         "page without an id")
        return page_id

    def _path(self, page: dict[str, Any]) -> list[str]:
        """Ancestor titles, then the page's own: the title people see in citations."""
        path = [str(a.get("title")) for a in page.get("ancestors") or [] if a.get("title")]
        return [*path, str(page.get("title") or self._id(page))]

    def _document(self, page: dict[str, Any], space: str) -> SourceDocument:
        page_id = self._id(page)
        html = ((page.get("body") or {}).get("storage") or {}).get("value") or ""
        text, _ = html_to_markdown(html)  # a title-only page is still a page people look for
        webui = (page.get("_links") or {}).get("webui")
        return SourceDocument(
            source_id=page_id, title=" > ".join(self._path(page)), content=text,
            url=(webui if "://" in webui else self.web_base + webui) if webui else None,
            updated_at=parse_time((page.get("version") or {}).get("when")),
            content_type="markdown", metadata={"space": space}, version=self._marker(page))
