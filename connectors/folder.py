"""A folder of Markdown / text / HTML pages, read recursively (see `connectors.files` for the rules).

Ids-only listing: the walk and one `stat` per file (marker: mtime in ns and size); fetch by id
reads only the files whose marker changed.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from connectors.base import (ConfigPath, Connector, ConnectorOptions, ListedId,
                             ListingIncompleteError, SourceDocument, SourceUnavailableError)
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


def stat_marker(stat: os.stat_result) -> str:
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def list_page_ids(connector: Connector, root: Path, exclude: list[str],
                  marker: Mapping[str, str] | None = None) -> Iterator[ListedId]:
    """Every page below root with its marker: `marker[source_id]` if given, else mtime+size."""
    for source_id, path in walk_pages(root, exclude):
        if marker is not None:
            yield ListedId(source_id, marker.get(source_id, ""))
            continue
        try:
            yield ListedId(source_id, stat_marker(path.stat()))
        except FileNotFoundError:  # removed while we walked: it is simply not there any more
            continue
        except OSError as exc:
            raise ListingIncompleteError(f"cannot stat {path}: {exc}") from exc


def read_pages(connector: Connector, root: Path, exclude: list[str],
               url_template: str | None, only: Collection[str] | None = None,
               marker: Mapping[str, str] | None = None) -> Iterator[SourceDocument]:
    """Every page below root (`only`: those ids); `version` is `marker[id]`, else mtime+size."""
    for source_id, path in walk_pages(root, exclude):
        if only is not None and source_id not in only:
            continue
        try:
            raw = path.read_bytes()
            stat = path.stat()
            mtime = datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc)
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
                             metadata={k: v for k, v in meta.items() if k in {"owner", "tags"}},
                             version=stat_marker(stat) if marker is None
                             else marker.get(source_id))


class FolderConnector(Connector):
    type = "folder"
    Options = FolderOptions
    options: FolderOptions

    def list_documents(self) -> Iterator[SourceDocument]:
        root = self._root()
        yield from read_pages(self, root, self.options.exclude, self.options.url)

    def list_ids(self, known: Mapping[str, str]) -> Iterator[ListedId]:
        yield from list_page_ids(self, self._root(), self.options.exclude)

    def fetch_documents(self, source_ids: Sequence[str]) -> Iterator[SourceDocument]:
        yield from read_pages(self, self._root(), self.options.exclude, self.options.url,
                              only=set(source_ids))

    def _root(self) -> Path:
        root = self.options.path
        if not root.exists():
            raise SourceUnavailableError(f"source {self.context.source_name!r}: folder {root} does "
                                         "not exist (check `path` in the config)")
        if not root.is_dir():
            raise SourceUnavailableError(f"source {self.context.source_name!r}: {root} is not a folder")
        if not os.access(root, os.R_OK | os.X_OK):
            raise SourceUnavailableError(f"source {self.context.source_name!r}: permission denied "
                                         f"reading {root}")
        return root
