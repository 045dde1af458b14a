"""Reading wiki pages from files: the rules shared by the folder, git and GitHub connectors.

- .md / .markdown / .txt / .html / .htm pages; anything else is ignored;
- `source_id` is the path relative to the root, with forward slashes;
- title: front matter `title`, else the first heading, else the file name;
- front matter is metadata, never indexed text; `updated`/`last_updated`/`date` in it is the
  page's updated time (a fresh clone gives every file the same mtime, which says nothing);
- binary or non-UTF-8 content is skipped with a reason, never fatal.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

import yaml

PAGE_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html",
                 ".htm": "html"}
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


class UnreadablePage(ValueError):
    """This one page cannot be indexed (binary, not UTF-8); the listing goes on."""


def decode_page(raw: bytes) -> str:
    if b"\x00" in raw[:8192]:
        raise UnreadablePage("binary file (contains NUL bytes)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadablePage(f"not UTF-8 text (byte {exc.start}); re-save it as UTF-8") from None


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        meta = {}
    return (meta if isinstance(meta, dict) else {}), text[match.end():]


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def title_from_name(source_id: str) -> str:
    stem = source_id.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if stem.lower() in {"index", "readme"} and "/" in source_id:
        stem = source_id.rsplit("/", 2)[-2]
    return re.sub(r"[-_]+", " ", stem).strip().capitalize() or source_id


def parse_page(source_id: str, raw: bytes) -> tuple[str, str, datetime | None, str, dict[str, Any]]:
    """(title, text, updated_at from front matter, content_type, front matter) of one page."""
    suffix = "." + source_id.rsplit(".", 1)[-1].lower() if "." in source_id else ""
    content_type = PAGE_SUFFIXES.get(suffix, "text")
    text = decode_page(raw)
    meta, body = split_front_matter(text) if content_type != "html" else ({}, text)
    title = meta.get("title") if isinstance(meta.get("title"), str) else None
    if content_type == "html":
        from connectors.html import html_to_markdown  # bs4: ~0.2 s that Markdown pages never need

        body, html_title = html_to_markdown(body)
        title = title or html_title
        content_type = "markdown"
    elif content_type == "markdown" and not title:
        heading = _HEADING.search(body)
        title = heading.group(1).strip() if heading else None
    updated = None
    for key in ("updated", "last_updated", "lastmod", "date"):
        updated = _as_datetime(meta.get(key))
        if updated:
            break
    return (title or title_from_name(source_id)).strip(), body, updated, content_type, meta
