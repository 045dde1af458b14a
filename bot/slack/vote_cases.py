"""Votes from Slack -> `ragbot eval` cases, so an answer people flagged becomes a regression case.

One case per voted answer (many people may vote on one answer):
- only thumbs up: a ready case. `sources` are the cited pages, `answer` the first quoted sentence
  of the draft that a cited passage really contains (the span `span@4`/`cited` look for; empty
  when none can be vouched for).
- any thumbs down: the bot's answer is suspect, so the right pages and span are unknown. The case
  carries `"review": true`, an empty `sources`, and what the bot said under `cited_sources` and
  `bot_answer`; `load_cases` skips it (and counts it) until a person fills in `sources`/`answer`
  (or sets `answerable: false`) and removes `review`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bot.evaluation import normalise

_MARKER = re.compile(r"\s*\[\d+\]\s*")


def quoted_span(draft: str, passages: Iterable[str]) -> str:
    """The first sentence of an extractive draft that one of `passages` contains, or ""."""
    texts = [normalise(p) for p in passages]
    for piece in _MARKER.split(draft or ""):
        piece = piece.strip()
        for candidate in (piece, piece.rstrip(".")):
            if len(candidate) >= 8 and any(normalise(candidate) in t for t in texts):
                return candidate
    return ""


def cases_from_votes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_answer: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_answer.setdefault(row["answer_id"], []).append(row)
    cases = []
    for answer_id, group in by_answer.items():
        first = group[0]
        up = sum(r["vote"] == "up" for r in group)
        down = sum(r["vote"] == "down" for r in group)
        cited = list(dict.fromkeys(c["source_id"] for c in first["citations"]))
        case: dict[str, Any] = {"id": f"slack-{answer_id}", "question": first["question"]}
        if down or not cited:
            case.update(sources=[], answer="", answerable=True, review=True,
                        cited_sources=cited, bot_answer=first["answer"])
        else:
            span = quoted_span(first.get("draft") or first["answer"],
                               (c.get("passage", "") for c in first["citations"]))
            case.update(sources=cited, answer=span, answerable=True)
        case.update(votes={"up": up, "down": down}, channel=first["channel"],
                    voted_at=max(r["voted_at"] for r in group).isoformat())
        cases.append(case)
    return cases


def export_cases(rows: list[dict[str, Any]], out: Path) -> tuple[int, int]:
    """Write the cases as JSONL; returns (ready cases, cases marked for review)."""
    cases = cases_from_votes(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for case in cases:
            handle.write(json.dumps(case, ensure_ascii=False) + "\n")
    review = sum(bool(c.get("review")) for c in cases)
    return len(cases) - review, review
