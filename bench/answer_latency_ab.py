"""Answer latency (retrieve + compose, tone off) of two composers, side by side in one run.

    .venv/bin/python bench/answer_latency_ab.py --config CONFIG --composer OLD.py QUESTIONS.jsonl [--limit N]

OLD.py is another compose.py (e.g. `git show REV:bot/answering/compose.py > old.py`). Each
question is answered by both, alternating which goes first, so machine load drifts hit both.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bot.answering import compose as compose_module
from bot.answering import pipeline as pipeline_module
from bot.answering.pipeline import Pipeline
from bot.config import load_settings
from bot.evaluation import load_cases
from compose_replay import load_composer  # bench/ is on sys.path when run as a script


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("questions", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--composer", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    old = load_composer(args.composer)
    composers = {"new": lambda _c: compose_module.compose, "old": lambda _c: old}
    pipeline = Pipeline(load_settings(args.config))
    pipeline.answer("warm up")
    times: dict[str, list[float]] = {"new": [], "old": []}
    for i, case in enumerate(load_cases(args.questions)[:args.limit]):
        for name in (("new", "old") if i % 2 else ("old", "new")):
            pipeline_module.composer_for = composers[name]
            started = time.perf_counter()
            pipeline.answer(case.question)
            times[name].append((time.perf_counter() - started) * 1000)
    for name, values in times.items():
        print(f"{name}: answer p50 {statistics.median(values):.0f} ms over {len(values)} questions")


if __name__ == "__main__":
    main()
