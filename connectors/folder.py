"""A folder of Markdown / text / HTML pages, read recursively (see `connectors.files` for the rules).

Ids-only listing: the walk and one `stat` per file (marker: mtime in ns and size); fetch by id
reads only the files whose marker changed.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from connectors.base import (ConfigPath, Connector, ConnectorOptions, ListedId,
                             ListingIncompleteError, SourceDocument, SourceUnavailableError,
                             printable_name)
from connectors.files import PAGE_SUFFIXES, UnreadablePage, parse_page


class FolderOptions(ConnectorOptions):
    path: ConfigPath
    url: str | None = None  # "https://wiki.example.com/{path}"; {path} is the source id
    exclude: list[str] = []  # globs on the source id, e.g. "drafts/**"


def page_url(template: str | None, source_id: str) -> str | None:
    """The page's link: the id percent-encoded (a newline or `|` in a file name must not end
    up raw inside a URL, where it would break the link or the Slack markup around it)."""
    return template.replace("{path}", quote(source_id, safe="/")) if template else None


def walk_pages(root: Path, exclude: list[str],
               connector: Connector | None = None) -> Iterator[tuple[str, Path]]:
    """(source_id, path) of every page below root; hidden folders (.git) are not pages.

    Symlinked folders are never descended into (their target, when inside root, is read at its
    own path; one pointing out is reported). A folder that cannot be read is reported as a
    listing-level skip (the rest syncs, nothing is deleted); without a connector to report to it
    raises ListingIncompleteError: a partial walk must not be mistaken for pages deleted.
    """
    real_root = root.resolve()

    def fail(err: OSError) -> None:
        where = printable_name(os.path.relpath(err.filename, root)) if err.filename else "."
        if connector is None:
            raise ListingIncompleteError(f"cannot read {err.filename}: {err.strerror}; nothing "
                                         "was deleted from the index") from err
        connector.skip(where, f"folder cannot be read ({err.strerror}); nothing is deleted "
                       "until it can", listing=True)

    for dirpath, dirnames, filenames in os.walk(root, onerror=fail, followlinks=False):
        kept = []
        for name in sorted(d for d in dirnames if not d.startswith(".")):
            path = Path(dirpath) / name
            if path.is_symlink():
                if connector is not None and not _inside(path, real_root):
                    connector.skip(path.relative_to(root).as_posix(),
                                   f"folder link pointing outside the folder ({_target(path)})")
                continue
            kept.append(name)
        dirnames[:] = kept
        for filename in sorted(filenames):
            if filename.startswith(".") or Path(filename).suffix.lower() not in PAGE_SUFFIXES:
                continue
            path = Path(dirpath) / filename
            source_id = path.relative_to(root).as_posix()
            if any(fnmatch.fnmatch(source_id, pattern) for pattern in exclude):
                continue
            yield source_id, path


def stat_marker(info: os.stat_result) -> str:
    return f"{info.st_mtime_ns}:{info.st_size}"


def list_page_ids(connector: Connector, root: Path, exclude: list[str],
                  marker: Mapping[str, str] | None = None) -> Iterator[ListedId]:
    """Every page below root with its marker: `marker[source_id]` if given, else mtime+size."""
    for source_id, path in walk_pages(root, exclude, connector):
        if marker is not None:
            yield ListedId(source_id, marker.get(source_id, ""))
            continue
        try:
            yield ListedId(source_id, stat_marker(path.stat()))
        except FileNotFoundError:  # removed while we walked: it is simply not there any more
            continue
        except OSError as exc:
            raise ListingIncompleteError(f"cannot stat {path}: {exc}") from exc


def _target(path: Path) -> str:
    try:
        return printable_name(os.readlink(path))
    except OSError:
        return "?"


def _inside(path: Path, real_root: Path) -> bool:
    try:
        return path.resolve(strict=True).is_relative_to(real_root)
    except (OSError, RuntimeError):  # broken link, loop
        return False


def read_file(path: Path, real_root: Path, max_bytes: int) -> bytes:
    """The bytes of one page file, read only if it really is a regular file inside the folder.

    Every path is resolved (a link, or a link in a parent, may point anywhere) and must stay
    below the folder's real path; FIFOs, devices and sockets are refused before any read (a FIFO
    blocks forever, /dev/zero never ends), and the file is opened non-blocking and checked again
    on the open descriptor, so a swap between the check and the open cannot get past it.
    Raises UnreadablePage with the reason.
    """
    try:
        real = path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 reports a symlink loop this way
        raise UnreadablePage("symlink loop") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnreadablePage("symlink loop") from None
        if path.is_symlink():
            raise UnreadablePage(f"broken link (to {_target(path)})") from None
        raise
    if not real.is_relative_to(real_root):
        raise UnreadablePage(f"link pointing outside the folder ({_target(path)})")
    if not stat.S_ISREG(os.stat(real).st_mode):
        raise UnreadablePage("not a regular file (FIFO, device or socket)")
    fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadablePage("not a regular file (FIFO, device or socket)")
        if info.st_size > max_bytes:
            raise UnreadablePage(f"larger than max_page_mb ({info.st_size / 2**20:.1f} MB)")
        with os.fdopen(os.dup(fd), "rb") as handle:
            raw = handle.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise UnreadablePage(f"larger than max_page_mb ({max_bytes / 2**20:g} MB)")
        return raw
    finally:
        os.close(fd)


def read_pages(connector: Connector, root: Path, exclude: list[str],
               url_template: str | None, only: Collection[str] | None = None,
               marker: Mapping[str, str] | None = None) -> Iterator[SourceDocument]:
    """Every page below root (`only`: those ids); `version` is `marker[id]`, else mtime+size."""
    real_root = root.resolve()
    max_bytes = getattr(connector.options, "max_page_bytes", 10 * 2**20)
    for source_id, path in walk_pages(root, exclude, connector):
        if only is not None and source_id not in only:
            continue
        try:
            source_id.encode("utf-8")
        except UnicodeEncodeError:
            connector.skip(source_id, "file name is not UTF-8; rename the file")
            continue
        try:
            raw = read_file(path, real_root, max_bytes)
            info = path.stat()
            mtime = datetime.fromtimestamp(info.st_mtime, tz=timezone.utc)
        except UnreadablePage as exc:
            connector.skip(source_id, str(exc))
            continue
        except PermissionError:
            connector.skip(source_id, "permission denied")
            continue
        except FileNotFoundError:  # removed while we walked: it is simply not there any more
            continue
        except OSError as exc:
            connector.skip(source_id, f"cannot read: {exc.strerror or exc}")
            continue
        try:
            title, text, updated, content_type, meta = parse_page(source_id, raw)
        except UnreadablePage as exc:
            connector.skip(source_id, str(exc))
            continue
        yield SourceDocument(source_id=source_id, title=title, content=text,
                             url=page_url(url_template, source_id), updated_at=updated or mtime,
                             content_type=content_type,
                             metadata={k: v for k, v in meta.items() if k in {"owner", "tags"}},
                             version=stat_marker(info) if marker is None
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
