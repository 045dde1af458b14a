"""Cutting a Markdown passage into quotable units: sentences, list items and table rows.

A table row on its own ("| SEV2 | 30 min |") means nothing, so rows are rendered with their
header ("Severity: SEV2; Response time: 30 min"). Code blocks are not quoted (a half command is
worse than none); inline code is kept.

Some units do not stand alone, and say which unit must be read before them (`lead`):
- a sentence whose subject is in the sentence before it ("It's the same in every country",
  "This applies to ...", "Yes, ...") leads with that sentence, when it is in the same paragraph;
- an FAQ answer leads with its question (`entry` is that question for every unit of the
  answer, so a composer can keep one entry's answer apart from its neighbour's);
- a list item leads with the sentence that introduces the list ("What you do in Harbor:").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(`“])")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+(?:\[[ xX]\]\s+)?")
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_HEADING = re.compile(r"^#{1,6}\s+")
_NUMBERED = re.compile(r"^\s*\d{1,3}[.)]\s+")


_ANAPHORIC = re.compile(r"^(?:it|it's|its|this|that|these|those|they|they're|their|them|there|"
                        r"here|such|yes|no|also|however|but|so|otherwise|then|instead|both|"
                        r"either|neither|same|which|likewise|in that case|in this case|"
                        r"if so|if not)\b", re.I)


@dataclass(frozen=True, slots=True)
class Unit:
    text: str
    position: int
    lead: int | None = None  # position of the unit to show before this one
    entry: int | None = None  # position of the FAQ question whose answer this unit is part of

    @property
    def is_question(self) -> bool:
        return self.text.rstrip().endswith("?")


def clean_inline(text: str) -> str:
    text = _EMPHASIS.sub(r"\2", text)
    text = re.sub(r"(?<!\w)\*(?!\s)([^*\n]+?)(?<!\s)\*(?!\w)", r"\1", text)
    return " ".join(text.split())


def _cells(line: str) -> list[str]:
    return [clean_inline(c) for c in line.strip().strip("|").split("|")]


def split_units(passage: str) -> list[Unit]:
    # (text, paragraph id, list: 0 no, 1 bulleted, 2 numbered) in reading order; leads are
    # worked out afterwards
    units: list[tuple[str, int, int]] = []
    breaks: set[int] = set()  # unit indexes that start after a heading (no lead across it)
    paragraph: list[str] = []
    header: list[str] | None = None
    in_code = False
    block = 0
    lines = passage.splitlines()

    def flush(list_item: int = 0) -> None:
        nonlocal block
        if paragraph:
            text = clean_inline(" ".join(paragraph))
            block += 1
            units.extend((s.strip(), block, list_item) for s in _SENTENCE_END.split(text)
                         if s.strip())
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
            block += 1
            if header and len(header) == len(cells):
                pairs = [f"{h}: {c}" for h, c in zip(header, cells) if c and h]
                units.append(("; ".join(pairs) if pairs else " ".join(cells), block, 0))
            else:
                units.append((" | ".join(c for c in cells if c), block, 0))
            continue
        header = None
        if not stripped or _HEADING.match(stripped):
            flush()
            if stripped:
                breaks.add(len(units))
            continue
        if _LIST_MARK.match(line):
            flush()
            paragraph.append(_LIST_MARK.sub("", line))
            flush(list_item=2 if _NUMBERED.match(line) else 1)
            continue
        paragraph.append(stripped)
    flush()
    return _with_leads(units, breaks)


def _with_leads(raw: list[tuple[str, int, int]], breaks: set[int]) -> list[Unit]:
    kept = [i for i, (text, _, _) in enumerate(raw) if len(text.split()) >= 3]
    out: list[Unit] = []
    entry: int | None = None  # the FAQ question whose answer we are in
    lead_in: int | None = None  # the sentence ending in ":" that introduces the current list
    for n, i in enumerate(kept):
        text, block, list_item = raw[i]
        previous = kept[n - 1] if n else None
        crossed = previous is not None and any(previous < b <= i for b in breaks)
        if crossed:
            entry = lead_in = None
        lead = None
        if text.rstrip().endswith("?"):
            entry = n
        elif list_item == 2 and previous is not None and not crossed \
                and raw[previous][2] == 2 and previous == i - 1:
            lead = n - 1  # a step keeps the steps before it in view
        elif list_item:
            lead = lead_in
        elif previous is not None and not crossed and raw[previous][1] == block \
                and _ANAPHORIC.match(text):
            lead = n - 1
        if lead is None and entry is not None and n != entry:
            lead = entry if n == entry + 1 else None
        out.append(Unit(text=text, position=n, lead=lead,
                        entry=entry if entry is not None and n != entry else None))
        if not list_item:
            lead_in = n if text.rstrip().endswith(":") else None
    return out
