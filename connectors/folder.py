"""A folder of Markdown / text / HTML pages, read recursively (see `connectors.files` for the rules)."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from connectors.base import (ConfigPath, Connector, ConnectorOptions, ListingIncompleteError,
                             SourceDocument, SourceUnavailableError)
from connectors.files import PAGE_SUFFIXES, UnreadablePage, parse_page


class FolderOptions(ConnectorOptions):
    path: ConfigPath
    url: str | None = None  # "https://wiki.example.com/{path}"; {path} is the source id
    exclude: list[str] = []  # globs on the source id, e.g. "drafts/**"


def page_url(template: str | None, source_id: str) -> str | None:
    return template.replace("{path}", source_id) if template else None


def walk_pages(root: Path, exclude: list[str]) -> Iterator[tuple[str, Path]]:
    """(source_id, path) of every page below root; hidden folders (.git) are not pages.

    Raises ListingIncompleteError if any folder cannot be read: a partial walk must not be
    mistaken for pages having been deleted.
    """

    def fail(err: OSError) -> None:
        raise ListingIncompleteError(f"cannot read {err.filename}: {err.strerror}; nothing was "
                                     "deleted from the index") from err

    for dirpath, dirnames, filenames in os.walk(root, onerror=fail, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            if filename.startswith(".") or Path(filename).suffix.lower() not in PAGE_SUFFIXES:
                continue
            path = Path(dirpath) / filename
            source_id = path.relative_to(root).as_posix()
            if any(fnmatch.fnmatch(source_id, pattern) for pattern in exclude):
                continue
            yield source_id, path


def read_pages(connector: Connector, root: Path, exclude: list[str],
               url_template: str | None) -> Iterator[SourceDocument]:
    for source_id, path in walk_pages(root, exclude):
        try:
            raw = path.read_bytes()
            mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
        except PermissionError:
            connector.skip(source_id, "permission denied")
            continue
        except FileNotFoundError:  # removed while we walked: it is simply not there any more
            continue
        except OSError as exc:
            raise ListingIncompleteError(f"cannot read {path}: {exc}") from exc
        try:
            title, text, updated, content_type, meta = parse_page(source_id, raw)
        except UnreadablePage as exc:
            connector.skip(source_id, str(exc))
            continue
        yield SourceDocument(source_id=source_id, title=title, content=text,
                             url=page_url(url_template, source_id), updated_at=updated or mtime,
                             content_type=content_type,
                             metadata={k: v for k, v in meta.items() if k in {"owner", "tags"}})


class FolderConnector(Connector):
    type = "folder"
    Options = FolderOptions
    options: FolderOptions

    def list_documents(self) -> Iterator[SourceDocument]:
        root = self.options.path
        if not root.exists():
            raise SourceUnavailableError(f"source {self.context.source_name!r}: folder {root} does "
                                         "not exist (check `path` in the config)")
        if not root.is_dir():
            raise SourceUnavailableError(f"source {self.context.source_name!r}: {root} is not a folder")
        if not os.access(root, os.R_OK | os.X_OK):
            raise SourceUnavailableError(f"source {self.context.source_name!r}: permission denied "
                                         f"reading {root}")
        yield from read_pages(self, root, self.options.exclude, self.options.url)
