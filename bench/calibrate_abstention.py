"""Choose `retrieval.min_score` from measurement: how answerable and unanswerable questions score.

    .venv/bin/python bench/calibrate_abstention.py --config CONFIG QUESTIONS.jsonl [...]

For every question it records the pipeline's answerability score (best dense similarity plus
the rare-term coverage bonus),
then prints, for a range of thresholds, the share of unanswerable questions that would abstain
(want high) and of answerable ones that would (want low). Needs a synced index.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.answering.pipeline import Pipeline
from bot.config import load_settings
from bot.evaluation import load_cases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("questions", nargs="+", type=Path)
    parser.add_argument("--config", type=Path)
    args = parser.parse_args()
    settings = load_settings(args.config)
    pipeline = Pipeline(settings)
    scored: list[tuple[bool, float]] = []
    for path in args.questions:
        for case in load_cases(path):
            passages = pipeline.retriever.search(case.question)
            scored.append((case.answerable, pipeline.answerability(case.question, passages)))
    answerable = sorted(s for a, s in scored if a)
    unanswerable = sorted(s for a, s in scored if not a)
    print(f"{len(answerable)} answerable, {len(unanswerable)} unanswerable")
    print("threshold  abstain_ok(unanswerable)  abstain_bad(answerable)")
    for step in range(30, 81, 2):
        t = step / 100
        ok = sum(s < t for s in unanswerable) / max(1, len(unanswerable))
        bad = sum(s < t for s in answerable) / max(1, len(answerable))
        print(f"  {t:.2f}      {ok:6.3f}                   {bad:6.3f}")


if __name__ == "__main__":
    main()
