"""Notion pages and databases through the official API (Notion-Version 2022-06-28).

LangChain's NotionDBLoader is not reused: it raises bare `requests.HTTPError` with no retry on 429,
has the API host hard-coded, reads databases only, and keeps plain text of rich-text blocks only
(no headings, code, to-dos or tables), which loses the structure the chunker follows.

- `database_ids`: every page of each database (POST /v1/databases/{id}/query, cursor-paginated);
  `page_ids`: those pages; with `child_pages` (default) the sub-pages and inline databases found
  inside them too, each as its own document.
- A page's blocks (GET /v1/blocks/{id}/children, paginated, recursing into `has_children`) become
  Markdown: headings as #, lists, to-dos, quotes, callouts, code, tables.
- source_id is the page id; updated_at is `last_edited_time`; url is the page's `url`. Archived
  and trashed pages are left out (gone).
- Ids-only listing: the same walk, but a page whose `last_edited_time` matches the stored marker
  is not rendered: its marker also lists the sub-pages and databases found inside it last time
  (adding or removing one edits the page), so the walk goes on without reading its blocks. Only
  new and edited pages are rendered, during the walk (their blocks are where their sub-pages are
  found), and handed to the sync with the listing.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import Field, field_validator, model_validator

from connectors.base import Connector, ListedId, ListingIncompleteError, SourceDocument
from connectors.http import HttpClient, HttpOptions, parse_time
from connectors.options import BaseUrl, bearer, open_client

NOTION_VERSION = "2022-06-28"
MAX_DEPTH = 25  # nesting of blocks; Notion's own editor stops well before
_ID = re.compile(r"([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?"
                 r"([0-9a-fA-F]{12})(?:[?#].*)?$")
_LIST_TYPES = {"bulleted_list_item", "numbered_list_item", "to_do", "toggle", "table_row"}


def normalize_id(value: str) -> str:
    """A Notion id, with or without dashes, or a page/database URL ending in one -> dashed uuid."""
    match = _ID.search(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a Notion id (32 hex digits, or a notion.so URL "
                         "ending in one)")
    return "-".join(match.groups()).lower()


def rich_text(items: list[dict[str, Any]] | None) -> str:
    """Notion rich text -> inline Markdown (bold, italic, strike, code, links)."""
    out = []
    for item in items or []:
        text = item.get("plain_text") or (item.get("text") or {}).get("content") or ""
        if not text:
            continue
        ann = item.get("annotations") or {}
        if ann.get("code"):
            text = f"`{text}`"
        elif text.strip():
            core = text.strip()
            lead, trail = text[:len(text) - len(text.lstrip())], text[len(text.rstrip()):]
            if ann.get("strikethrough"):
                core = f"~~{core}~~"
            if ann.get("italic"):
                core = f"*{core}*"
            if ann.get("bold"):
                core = f"**{core}**"
            text = lead + core + trail
        href = item.get("href") or ((item.get("text") or {}).get("link") or {}).get("url")
        if href:
            text = f"[{text}]({href})"
        out.append(text)
    return "".join(out)


def page_title(page: dict[str, Any]) -> str:
    for prop in (page.get("properties") or {}).values():
        if isinstance(prop, dict) and prop.get("type") == "title":
            return rich_text(prop.get("title")).strip()
    return ""


def _marker(edited: Any, children: list[tuple[str, str]]) -> str:
    """`last_edited_time`, then the sub-pages ("page:id") and databases found in the page."""
    if not isinstance(edited, str) or not edited:
        return ""  # no edit time: the sync must read the page to know
    return " ".join([edited, *(f"{kind}:{item}" for kind, item in children)])


def _children_of(marker: str | None, edited: Any) -> list[tuple[str, str]] | None:
    """The sub-pages recorded in `marker` if it was taken at edit time `edited`, else None."""
    if not marker or not isinstance(edited, str) or not edited:
        return None
    first, *rest = marker.split(" ")
    if first != edited:
        return None
    children = [tuple(part.split(":", 1)) for part in rest]
    if any(len(c) != 2 or c[0] not in {"page", "database"} for c in children):
        return None
    return children  # type: ignore[return-value]


class NotionOptions(HttpOptions):
    token_env: str = Field(description="env var with the integration token (secret_... / ntn_...)")
    database_ids: list[str] = []
    page_ids: list[str] = []
    child_pages: bool = Field(True, description="also list sub-pages and inline databases")
    base_url: BaseUrl = "https://api.notion.com"

    @field_validator("database_ids", "page_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        return [normalize_id(v) for v in value]

    @model_validator(mode="after")
    def _something(self) -> "NotionOptions":
        if not self.database_ids and not self.page_ids:
            raise ValueError("give `database_ids` or `page_ids` (shared with the integration)")
        return self


class NotionConnector(Connector):
    type = "notion"
    Options = NotionOptions
    options: NotionOptions

    def _open(self) -> HttpClient:
        opts = self.options
        self.api = opts.base_url + "/v1"
        headers = {**bearer(self, opts.token_env), "Notion-Version": NOTION_VERSION,
                   "Accept": "application/json"}
        return open_client(self, "Notion", auth_env=opts.token_env, headers=headers)

    def list_documents(self) -> Iterator[SourceDocument]:
        for item in self._walk({}):
            assert item.document is not None  # nothing is known: every page is rendered
            yield item.document

    def list_ids(self, known: Mapping[str, str]) -> Iterator[ListedId]:
        yield from self._walk(known)

    def fetch_documents(self, source_ids: Sequence[str]) -> Iterator[SourceDocument]:
        with self._open() as self.client:
            for page_id in source_ids:
                page = self.client.json("GET", f"{self.api}/pages/{page_id}", accept=(404,))
                if page.get("object") == "page" and not (page.get("archived")
                                                         or page.get("in_trash")):
                    yield self._document(page, [])

    def _walk(self, known: Mapping[str, str]) -> Iterator[ListedId]:
        """Every page under the configured roots; rendered unless `known` has its edit time."""
        opts = self.options
        with self._open() as self.client:
            # (kind, id, page object or None, configured?) in listing order
            todo: deque[tuple[str, str, dict[str, Any] | None, bool]] = deque(
                [("database", d, None, True) for d in opts.database_ids]
                + [("page", p, None, True) for p in opts.page_ids])
            seen: set[str] = set()
            while todo:
                kind, item_id, page, configured = todo.popleft()
                if item_id in seen:
                    continue
                seen.add(item_id)
                if kind == "database":
                    pages = [("page", p["id"], p, False)
                             for p in self._query(item_id, configured)]
                    todo.extendleft(reversed(pages))  # a database's pages come next, in order
                    continue
                if page is None:
                    page = self.client.json("GET", f"{self.api}/pages/{item_id}",
                                            missing=f"page {item_id} (is it shared with the "
                                            "integration?)" if configured else None)
                if page.get("archived") or page.get("in_trash"):
                    continue
                children = _children_of(known.get(page["id"]), page.get("last_edited_time"))
                if children is not None:  # unchanged since the last sync: not rendered
                    item = ListedId(page["id"], known[page["id"]])
                else:
                    children = []
                    doc = self._document(page, children)
                    item = ListedId(doc.source_id, doc.version or "", document=doc)
                if opts.child_pages:
                    todo.extend((k, i, None, False) for k, i in children)
                yield item

    def _query(self, database_id: str, configured: bool) -> Iterator[dict[str, Any]]:
        missing = (f"database {database_id} (is it shared with the integration?)"
                   if configured else None)
        return self._paginate("POST", f"{self.api}/databases/{database_id}/query",
                              f"database {database_id}", missing=missing)

    def _children(self, block_id: str) -> Iterator[dict[str, Any]]:
        return self._paginate("GET", f"{self.api}/blocks/{block_id}/children", f"block {block_id}")

    def _paginate(self, method: str, url: str, what: str,
                  missing: str | None = None) -> Iterator[dict[str, Any]]:
        """Every result of a Notion list endpoint (cursor in the body for POST, query for GET).

        A cursor that is missing or repeats means the listing cannot be trusted to be complete.
        """
        page: dict[str, Any] = {"page_size": 100}
        cursors: set[str] = set()
        while True:
            if method == "POST":
                data = self.client.json("POST", url, json=page, missing=missing)
            else:
                data = self.client.json("GET", url, params=page)
            yield from data.get("results") or []
            if not data.get("has_more"):
                return
            cursor = data.get("next_cursor")
            if not cursor or cursor in cursors:
                raise ListingIncompleteError(f"source {self.context.source_name!r}: Notion "
                                             f"pagination of {what} broke off")
            cursors.add(cursor)
            page = {"page_size": 100, "start_cursor": cursor}

    def _document(self, page: dict[str, Any],
                  children: list[tuple[str, str]]) -> SourceDocument:
        page_id = page["id"]
        title = page_title(page) or "Untitled"
        body = self._render(page_id, 0, children).strip()  # title-only pages are pages too
        return SourceDocument(source_id=page_id, title=title, content=body, url=page.get("url"),
                              updated_at=parse_time(page.get("last_edited_time")),
                              content_type="markdown",
                              version=_marker(page.get("last_edited_time"), children))

    def _render(self, block_id: str, depth: int, children: list[tuple[str, str]],
                indent: str = "") -> str:
        """The blocks under block_id as Markdown; sub-pages and databases go to `children`."""
        if depth > MAX_DEPTH:
            raise ListingIncompleteError(f"source {self.context.source_name!r}: Notion blocks "
                                         f"nested deeper than {MAX_DEPTH} under {block_id}")
        parts: list[str] = []
        previous = ""
        number = 0
        for block in self._children(block_id):
            kind = block.get("type", "")
            number = number + 1 if kind == "numbered_list_item" else 0
            text = self._block(block, depth, children, indent, number)
            if not text:
                continue
            if parts:
                tight = kind in _LIST_TYPES and previous in _LIST_TYPES
                parts.append("\n" if tight else "\n\n")
            parts.append(text)
            previous = kind
        return "".join(parts)

    def _block(self, block: dict[str, Any], depth: int, children: list[tuple[str, str]],
               indent: str, number: int) -> str:
        kind = block.get("type", "")
        data = block.get(kind) or {}
        text = rich_text(data.get("rich_text"))
        if kind == "child_page":
            children.append(("page", block["id"]))
            return ""
        if kind == "child_database":
            children.append(("database", block["id"]))
            return ""
        nested_indent = indent
        if kind == "paragraph":
            line = text
        elif kind in {"heading_1", "heading_2", "heading_3"}:
            line = f"{'#' * int(kind[-1])} {text}"
        elif kind == "bulleted_list_item" or kind == "toggle":
            line, nested_indent = f"- {text}", indent + "  "
        elif kind == "numbered_list_item":
            line, nested_indent = f"{number}. {text}", indent + "   "
        elif kind == "to_do":
            line = f"- [{'x' if data.get('checked') else ' '}] {text}"
            nested_indent = indent + "  "
        elif kind == "quote":
            line = f"> {text}"
        elif kind == "callout":
            icon = (data.get("icon") or {}).get("emoji") or ""
            line = f"> {icon} {text}".replace(">  ", "> ")
        elif kind == "code":
            code = "".join(t.get("plain_text", "") for t in data.get("rich_text") or [])
            line = f"```{data.get('language') or ''}\n{code}\n```"
        elif kind == "equation":
            line = f"$${data.get('expression', '')}$$"
        elif kind == "divider":
            line = "---"
        elif kind == "table_row":
            line = "| " + " | ".join(rich_text(c).replace("|", "\\|")
                                     for c in data.get("cells") or []) + " |"
        elif kind in {"bookmark", "embed", "link_preview"}:
            caption = rich_text(data.get("caption"))
            line = f"[{caption or data.get('url', '')}]({data.get('url', '')})" \
                if data.get("url") else ""
        elif kind in {"image", "video", "file", "pdf", "audio"}:
            line = rich_text(data.get("caption"))
        else:  # column_list, column, synced_block, table, template, unsupported: children only
            line = ""
        line = "\n".join(indent + part if part else part for part in line.split("\n")) \
            if line else ""
        if not block.get("has_children"):
            return line
        source = block["id"]
        if kind == "synced_block" and (data.get("synced_from") or {}).get("block_id"):
            source = data["synced_from"]["block_id"]  # a copy: the content lives in the original
        inner = self._render(source, depth + 1, children, nested_indent)
        if kind == "table":
            inner = self._table(inner, bool(data.get("has_column_header")), indent)
        if not line:
            return inner
        return f"{line}\n{inner}" if kind in _LIST_TYPES else f"{line}\n\n{inner}"

    def _table(self, rows_text: str, header: bool, indent: str) -> str:
        rows = [r for r in rows_text.split("\n") if r.strip()]
        if not rows:
            return ""
        width = rows[0].count(" | ") + 1
        separator = indent + "|" + " --- |" * width
        if header:
            rows.insert(1, separator)
        else:  # Markdown tables need a header row; an empty one keeps the data rows as data
            rows[:0] = [indent + "|" + "  |" * width, separator]
        return "\n".join(rows)
