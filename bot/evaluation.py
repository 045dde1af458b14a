"""`ragbot eval`: run a question set through the pipeline and measure it.

Metrics (answerable questions unless stated):
- hit@1, hit@5, MRR at *document* level: the retrieved passages are collapsed to pages in rank
  order, and a hit is an expected page among the first 1 / 5 pages;
- span@4: the expected answer span appears in one of the top 4 passages;
- cited: a passage the answer cites contains the span (0 when the bot abstained);
- quoted: the answer itself (the draft, before the tone stage; citation markers dropped) contains
  the span: the reader got the fact without opening a source;
- abstain_ok: unanswerable questions the bot abstained on; abstain_bad: answerable ones it
  abstained on (lower is better).
Spans are compared after normalising case, whitespace and Markdown emphasis, since the index
keeps the page's Markdown. Expected and retrieved source ids match when equal or when one is a
path suffix of the other, so a question set written with ids relative to a parent folder still
scores against a source rooted deeper (or the reverse).
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.answering.pipeline import Pipeline
from bot.answering.types import Answer, QuestionError


class CasesError(ValueError):
    """The question file is unusable; the message names the line and the fix."""


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    question: str
    sources: tuple[str, ...]
    answer: str
    answerable: bool


class Cases(list):
    """The cases of a file; `review_skipped` counts rows marked `"review": true` (left out)."""

    review_skipped: int = 0


def load_cases(path: Path) -> Cases:
    """Cases of a JSONL file. Rows with `"review": true` (flagged answers exported from Slack
    feedback, waiting for a person to fill in `sources`/`answer`) are skipped and counted."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CasesError(f"question file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CasesError(f"cannot read {path}: {exc}") from None
    cases, ids = Cases(), set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CasesError(f"{path} line {number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise CasesError(f"{path} line {number}: expected an object")
        for key in ("id", "question"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise CasesError(f"{path} line {number}: `{key}` must be a non-empty string")
        if row["id"] in ids:
            raise CasesError(f"{path} line {number}: id {row['id']!r} is used twice")
        ids.add(row["id"])
        if row.get("review") is True:
            cases.review_skipped += 1
            continue
        answerable = row.get("answerable", True)
        sources = row.get("sources") or []
        if not isinstance(answerable, bool) or not isinstance(sources, list):
            raise CasesError(f"{path} line {number}: `answerable` must be true/false and "
                             "`sources` a list of source ids")
        if answerable and not sources:
            raise CasesError(f"{path} line {number}: an answerable case needs `sources`")
        cases.append(Case(row["id"], row["question"], tuple(map(str, sources)),
                          str(row.get("answer") or ""), answerable))
    if not cases:
        if cases.review_skipped:
            raise CasesError(f"{path} holds only cases marked for review ({cases.review_skipped});"
                             " fill in `sources`/`answer` and remove `\"review\": true` first")
        raise CasesError(f"{path} holds no questions")
    return cases


# The summary's quality metrics, in the order every report prints them.
METRICS = ("hit@1", "hit@5", "mrr", "span@4", "cited", "quoted", "abstain_ok", "abstain_bad")
_MARKER = re.compile(r"\s*\[\d+\]")
_MD_NOISE = re.compile(r"\*\*|__|`|\[|\]\([^)]*\)")


def normalise(text: str) -> str:
    return " ".join(_MD_NOISE.sub("", text).replace("’", "'").lower().split())


def same_page(expected: str, got: str) -> bool:
    return expected == got or got.endswith("/" + expected) or expected.endswith("/" + got)


def page_ranking(answer: Answer) -> list[str]:
    pages: list[str] = []
    for p in answer.retrieved:
        if p.source_id not in pages:
            pages.append(p.source_id)
    return pages


def score_case(case: Case, answer: Answer) -> dict:
    pages = page_ranking(answer)
    rank = next((i for i, page in enumerate(pages, 1)
                 if any(same_page(e, page) for e in case.sources)), None)
    span = normalise(case.answer)
    in_top4 = bool(span) and any(span in normalise(p.text) for p in answer.retrieved[:4])
    cited = bool(span) and not answer.abstained and any(
        span in normalise(c.passage) for c in answer.citations)
    quoted = bool(span) and not answer.abstained and span in normalise(
        _MARKER.sub("", answer.draft or answer.text))
    return {"rank": rank, "span_top4": in_top4, "cited": cited, "quoted": quoted}


def summarise(cases: list[Case], answers: list[Answer], scores: list[dict]) -> dict[str, float]:
    answerable = [(c, a, s) for c, a, s in zip(cases, answers, scores) if c.answerable]
    unanswerable = [(c, a) for c, a in zip(cases, answers) if not c.answerable]

    def rate(values: Iterable[bool]) -> float:
        values = list(values)
        return sum(values) / len(values) if values else float("nan")

    latencies = [a.latency_ms for a in answers]
    return {
        "questions": len(cases),
        "answerable": len(answerable),
        "hit@1": rate(s["rank"] == 1 for _, _, s in answerable),
        "hit@5": rate(s["rank"] is not None and s["rank"] <= 5 for _, _, s in answerable),
        "mrr": statistics.fmean([1 / s["rank"] if s["rank"] else 0.0 for _, _, s in answerable])
        if answerable else float("nan"),
        "span@4": rate(s["span_top4"] for _, _, s in answerable),
        "cited": rate(s["cited"] for _, _, s in answerable),
        "quoted": rate(s["quoted"] for _, _, s in answerable),
        "abstain_ok": rate(a.abstained for _, a in unanswerable),
        "abstain_bad": rate(a.abstained for _, a, _ in answerable),
        "latency_p50_ms": statistics.median(latencies) if latencies else float("nan"),
    }


def result_line(case: Case, answer: Answer) -> dict:
    data = answer.to_json()
    return {
        "id": case.id, "question": case.question, "answer": data["answer"],
        "abstained": answer.abstained, "reason": answer.reason,
        "citations": [{k: c[k] for k in ("n", "source", "source_id", "title", "url", "passage")}
                      for c in data["citations"]],
        "retrieved": [{k: p[k] for k in ("source", "source_id", "text", "score")}
                      for p in data["retrieved"]],
        "latency_ms": data["latency_ms"], "tone_ms": data["tone_ms"], "draft": answer.draft,
        "toned": answer.toned, "tone_reason": answer.tone_reason,
    }


def run_eval(pipeline: Pipeline, cases: list[Case], out: Path | None = None,
             on_case: Callable[[int, int], None] | None = None) -> dict[str, float]:
    answers, scores = [], []
    handle = out.open("w", encoding="utf-8") if out else None
    try:
        for i, case in enumerate(cases, 1):
            try:
                answer = pipeline.answer(case.question)
            except QuestionError as exc:
                answer = Answer(case.question, text=str(exc), abstained=True, reason="invalid_question")
            answers.append(answer)
            scores.append(score_case(case, answer))
            if handle:
                handle.write(json.dumps({**result_line(case, answer), **scores[-1]}) + "\n")
            if on_case:
                on_case(i, len(cases))
    finally:
        if handle:
            handle.close()
    return summarise(cases, answers, scores)
