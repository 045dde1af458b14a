"""The one small interface every source implements, and the typed errors a sync understands.

A connector *lists* its source: it yields every document the source holds right now, each with a
`source_id` that is stable across syncs (the sync uses it to tell an edited page from a new one and
to find pages that disappeared). It never writes to the index; `bot.knowledge.sync` does that.

Safety contract (the reason deletions can be trusted): a connector raises a `ConnectorError`
whenever it cannot vouch that the listing is complete (auth failure, HTTP 5xx, timeout, rate limit
beyond retries, folder missing). The sync then deletes nothing. Problems with a single item that do
not put the rest of the listing in doubt (a binary file, a page that is not UTF-8, a link out of
the folder, a page over the size cap or its deadline) are recorded in `skipped` and the listing
goes on; such a page is simply not in the listing (an older copy leaves the index). A skip that
*does* put the listing in doubt (a sub-folder that cannot be read) is marked `listing=True`: the
rest still syncs, but the sync then deletes nothing.

Two optional capabilities beside the full listing (Onyx's "slim" listing and fetch-by-id):
- `list_ids(known)` yields every document id the source holds with its *version marker* (a
  Confluence version, a Notion `last_edited_time`, a git blob sha, an HTTP validator, a file's
  mtime+size): the sync diffs markers against the ones it stored and asks for bodies only where
  they differ. `known` holds the markers stored by the last sync (id -> marker), for sources that
  can ask "changed since?" themselves (HTTP conditional GET). A listed item may carry its
  document when the listing had to read it anyway (`document`), or say the source vouched it
  unchanged (`unchanged`: a 304). Its safety contract is the full listing's: raise a
  `ConnectorError` rather than yield a partial listing.
- `fetch_documents(ids)` yields the documents of those ids, called on the same instance after
  `list_ids`; an id it does not yield is gone (deleted since the listing, or skipped).
A connector offers both or neither (`supports_ids`). Every document's `version` is the marker
the ids listing would give it, so that a full listing also stores markers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One page of a source, as the connector read it."""

    source_id: str
    title: str
    content: str
    url: str | None = None
    updated_at: datetime | None = None
    # "markdown" | "text" | "html": tells the chunker how to find the page's structure.
    content_type: str = "markdown"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # The version marker `list_ids` gives this document (None: the connector has none).
    version: str | None = None


@dataclass(frozen=True, slots=True)
class ListedId:
    """One entry of an ids-only listing."""

    source_id: str
    marker: str  # "" = no marker: the sync must fetch it to know
    document: SourceDocument | None = None  # already read while listing (a fetch would repeat it)
    unchanged: bool = False  # the source said so against `known` (HTTP 304): nothing to fetch


@dataclass(frozen=True, slots=True)
class SkippedItem:
    """An item left out of the listing, and why (reported by `ragbot sync`, never fatal)."""

    source_id: str
    reason: str
    listing: bool = False  # True: the listing may be missing pages, so nothing is deleted


def printable_name(name: str) -> str:
    """A file name for messages and metadata: bytes that are not UTF-8 shown as `\\xe9`, control
    characters (a newline) escaped, so a report names the file and never breaks a line."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ConnectorError(Exception):
    """The listing could not be completed; the sync must delete nothing."""

    retryable: ClassVar[bool] = False


class ConnectorConfigError(ConnectorError):
    """The source's configuration cannot work (bad option, missing environment variable)."""


class SourceUnavailableError(ConnectorError):
    """The source is not there: a missing folder, an unreachable host."""

    retryable = True


class AuthError(ConnectorError):
    """The credentials were refused or have expired (HTTP 401/403)."""


class RateLimitedError(ConnectorError):
    """The source kept answering 429 after the retries were spent."""

    retryable = True


class ListingIncompleteError(ConnectorError):
    """The listing broke off part-way (HTTP 5xx, timeout, a read error mid-walk)."""

    retryable = True


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    value = value.expanduser()
    if not value.is_absolute() and base is not None:
        value = Path(base) / value
    return value.resolve() if value.is_absolute() else value


# A path in the config: relative paths resolve against the config file's folder (the validation
# context's `base_dir`). It lives here, below bot.config, so connectors never import the bot.
ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]


DEFAULT_MAX_PAGE_MB = 10.0


class ConnectorOptions(BaseModel):
    """Base of every connector's own config keys; unknown keys are errors, never ignored."""

    model_config = ConfigDict(extra="forbid")

    max_page_mb: float = Field(DEFAULT_MAX_PAGE_MB, gt=0, le=1024, description="a page (or one "
                               "HTTP reply) larger than this is skipped and reported, never read "
                               "whole")

    @property
    def max_page_bytes(self) -> int:
        return int(self.max_page_mb * 1024 * 1024)


@dataclass(slots=True)
class ConnectorContext:
    """What a connector may use besides its options."""

    source_name: str
    # Per-source folder under data_dir for clones, caches and cursors.
    state_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)


class Connector(ABC):
    """A source of documents. Subclasses set `type` and `Options` and implement `list_documents`."""

    type: ClassVar[str]
    Options: ClassVar[type[ConnectorOptions]]

    def __init__(self, options: ConnectorOptions, context: ConnectorContext) -> None:
        self.options = options
        self.context = context
        self.skipped: list[SkippedItem] = []

    @abstractmethod
    def list_documents(self) -> Iterator[SourceDocument]:
        """Yield every document the source holds now; raise ConnectorError if that is not certain."""

    def list_ids(self, known: Mapping[str, str]) -> Iterator[ListedId]:
        """Every document id with its version marker (optional; see the module docstring)."""
        raise NotImplementedError(f"{type(self).__name__} has no ids-only listing")

    def fetch_documents(self, source_ids: Sequence[str]) -> Iterator[SourceDocument]:
        """The documents of these ids, after `list_ids`; an id not yielded is gone."""
        raise NotImplementedError(f"{type(self).__name__} cannot fetch by id")

    def close(self) -> None:
        """Release what `list_ids` kept open for `fetch_documents` (the sync calls it last)."""

    @classmethod
    def supports_ids(cls) -> bool:
        return cls.list_ids is not Connector.list_ids and \
            cls.fetch_documents is not Connector.fetch_documents

    def skip(self, source_id: str, reason: str, *, listing: bool = False) -> None:
        item = SkippedItem(printable_name(source_id), reason, listing)
        if item not in self.skipped:  # an ids listing and its fetch may walk the same item twice
            self.skipped.append(item)

    def require_env(self, name: str | None, what: str) -> str:
        """The credential in environment variable `name`; credentials never live in the YAML."""
        if not name:
            raise ConnectorConfigError(f"source {self.context.source_name!r}: set `{what}_env` to "
                                       f"the name of the environment variable holding the {what}")
        value = self.context.env.get(name)
        if not value:
            raise ConnectorConfigError(f"source {self.context.source_name!r}: environment variable "
                                       f"{name} (the {what}) is not set")
        return value
