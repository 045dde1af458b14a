"""Cutting a Markdown passage into quotable units: sentences, list items and table rows.

A table row on its own ("| SEV2 | 30 min |") means nothing, so rows are rendered with their
header ("Severity: SEV2; Response time: 30 min"). Code blocks are not quoted (a half command is
worse than none); inline code is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(`“])")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+(?:\[[ xX]\]\s+)?")
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_HEADING = re.compile(r"^#{1,6}\s+")


@dataclass(frozen=True, slots=True)
class Unit:
    text: str
    position: int


def clean_inline(text: str) -> str:
    text = _EMPHASIS.sub(r"\2", text)
    text = re.sub(r"(?<!\w)\*(?!\s)([^*\n]+?)(?<!\s)\*(?!\w)", r"\1", text)
    return " ".join(text.split())


def _cells(line: str) -> list[str]:
    return [clean_inline(c) for c in line.strip().strip("|").split("|")]


def split_units(passage: str) -> list[Unit]:
    units: list[str] = []
    paragraph: list[str] = []
    header: list[str] | None = None
    in_code = False
    lines = passage.splitlines()

    def flush() -> None:
        if paragraph:
            text = clean_inline(" ".join(paragraph))
            units.extend(s.strip() for s in _SENTENCE_END.split(text) if s.strip())
            paragraph.clear()

    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("```") or stripped.startswith("~~~"):
            flush()
            in_code = not in_code
            continue
        if in_code:
            continue
        if stripped.startswith("|") and stripped.count("|") >= 2:
            flush()
            if _TABLE_SEP.match(stripped):
                continue
            cells = _cells(stripped)
            next_line = lines[i + 1] if i + 1 < len(lines) else ""
            if header is None and _TABLE_SEP.match(next_line.strip()):
                header = cells
                continue
            if header and len(header) == len(cells):
                pairs = [f"{h}: {c}" for h, c in zip(header, cells) if c and h]
                units.append("; ".join(pairs) if pairs else " ".join(cells))
            else:
                units.append(" | ".join(c for c in cells if c))
            continue
        header = None
        if not stripped or _HEADING.match(stripped):
            flush()
            continue
        if _LIST_MARK.match(line):
            flush()
            paragraph.append(_LIST_MARK.sub("", line))
            flush()
            continue
        paragraph.append(stripped)
    flush()
    return [Unit(text=u, position=n) for n, u in enumerate(units) if len(u.split()) >= 3]
