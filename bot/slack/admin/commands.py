"""`/ragadmin` text -> a typed command or a usage error. Pure: no Slack, no I/O.

The grammar is small on purpose (admins type it from memory):

    /ragadmin [help]
    /ragadmin status
    /ragadmin sources
    /ragadmin resync <source|all> [--full]
    /ragadmin pause <source>
    /ragadmin resume <source>
    /ragadmin history <source>

Constraints and why:
- Subcommands and `all` are case-insensitive; source names are matched exactly, else
  case-insensitively when that is unambiguous (phones capitalise the first letter).
- `--full` may come anywhere after `resync`. Slack's desktop clients turn a typed `--` into an
  en or em dash, so `—full` and `–full` mean `--full` too.
- Only what the grammar names is accepted: an unknown flag or an extra word is a usage error with
  the usage line, never silently ignored (a resync that ignored a mistyped `--ful` would look like
  a full one and not be).
- An unknown source is reported with the list of configured ones. Whether a source may be
  resynced or paused now (disabled, no schedule) is the caller's business, not the parser's.
- The user is never taken from the text: who runs a command comes from the signed payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ALL = "all"
FULL_FLAGS = ("--full", "\u2014full", "\u2013full")  # "--", em dash, en dash

USAGE = {
    "help": "/ragadmin help",
    "status": "/ragadmin status",
    "sources": "/ragadmin sources",
    "resync": "/ragadmin resync <source|all> [--full]",
    "pause": "/ragadmin pause <source>",
    "resume": "/ragadmin resume <source>",
    "history": "/ragadmin history <source>",
}

SUMMARY = {
    "help": "this list",
    "status": "per source: health, last successful sync, documents, chunks, next run, last error",
    "sources": "each source's type, schedule, visibility and the channels that may use it",
    "resync": "sync now; --full re-reads everything and removes what the source no longer has",
    "pause": "stop the source's scheduled syncs (kept across restarts)",
    "resume": "restart the source's scheduled syncs",
    "history": "the source's last 10 sync runs",
}


@dataclass(frozen=True, slots=True)
class Help:
    name = "help"


@dataclass(frozen=True, slots=True)
class Status:
    name = "status"


@dataclass(frozen=True, slots=True)
class Sources:
    name = "sources"


@dataclass(frozen=True, slots=True)
class Resync:
    sources: tuple[str, ...]  # every configured source for `all` (the caller drops disabled ones)
    full: bool = False
    all: bool = False
    name = "resync"

    @property
    def target(self) -> str:
        return ALL if self.all else self.sources[0]


@dataclass(frozen=True, slots=True)
class OneSource:
    """A subcommand about one source; the subclass says which (equality includes the class)."""

    source: str
    name = ""


class Pause(OneSource):
    __slots__ = ()
    name = "pause"


class Resume(OneSource):
    __slots__ = ()
    name = "resume"


class History(OneSource):
    __slots__ = ()
    name = "history"


@dataclass(frozen=True, slots=True)
class UsageError:
    """What is wrong with the text, and what to type instead."""

    message: str
    usage: str | None = None  # the usage line of the subcommand, when one was recognised
    known_sources: tuple[str, ...] = ()  # set for an unknown source name
    name = "invalid"


Command = Help | Status | Sources | Resync | Pause | Resume | History
Parsed = Command | UsageError

_NO_ARGS = {"help": Help, "status": Status, "sources": Sources}
_ONE_SOURCE = {"pause": Pause, "resume": Resume, "history": History}


def resolve_source(word: str, sources: Sequence[str]) -> str | None:
    """The configured name `word` means: exact, else a unique case-insensitive match."""
    if word in sources:
        return word
    matches = [s for s in sources if s.lower() == word.lower()]
    return matches[0] if len(matches) == 1 else None


def _unknown_source(word: str, sources: Sequence[str], usage: str) -> UsageError:
    return UsageError(f"there is no source named `{word}`", usage, tuple(sources))


def parse(text: str | None, sources: Sequence[str]) -> Parsed:
    """Parse the text after `/ragadmin`; `sources` are the configured source names, in order."""
    words = (text or "").split()
    if not words:
        return Help()
    verb, args = words[0].lower(), words[1:]
    if verb in _NO_ARGS:
        if args:
            return UsageError(f"`{verb}` takes no arguments", USAGE[verb])
        return _NO_ARGS[verb]()
    if verb == "resync":
        return _parse_resync(args, sources)
    if verb in _ONE_SOURCE:
        if len(args) != 1 or args[0].startswith(("-", "\u2014", "\u2013")):
            what = "name one source" if not args or len(args) == 1 else "name only one source"
            return UsageError(f"`{verb}`: {what}", USAGE[verb])
        name = resolve_source(args[0], sources)
        if name is None:
            return _unknown_source(args[0], sources, USAGE[verb])
        return _ONE_SOURCE[verb](name)
    return UsageError(f"there is no `{words[0]}` command")


def _parse_resync(args: list[str], sources: Sequence[str]) -> Parsed:
    usage = USAGE["resync"]
    full = False
    targets = []
    for arg in args:
        if arg.lower() in FULL_FLAGS:
            full = True
        elif arg.startswith(("-", "\u2014", "\u2013")):
            return UsageError(f"unknown option `{arg}` (the only option is `--full`)", usage)
        else:
            targets.append(arg)
    if not targets:
        return UsageError("`resync`: name a source, or `all`", usage)
    if len(targets) > 1:
        return UsageError("`resync`: name one source, or `all`", usage)
    if targets[0].lower() == ALL:
        return Resync(tuple(sources), full=full, all=True)
    name = resolve_source(targets[0], sources)
    if name is None:
        return _unknown_source(targets[0], sources, usage)
    return Resync((name,), full=full)
