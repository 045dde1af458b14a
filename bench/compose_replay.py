"""Replay a question set's retrieval through the composer: measure composer changes in seconds.

    .venv/bin/python bench/compose_replay.py --config CONFIG --cache DIR QUESTIONS.jsonl
        [--save NAME] [--diff NAME] [--show]

The first run retrieves every question as `Pipeline.answer` does (question vector, hybrid
search, answerability score, neighbouring-chunk expansion) and stores it in DIR with every unit
vector the composer asks for. Later runs replay those passages through the *current*
`compose` and `Pipeline` abstention code, so a composer variant is scored on exactly the
passages `ragbot eval` would give it, with the same `score_case`/`summarise` metrics
(retrieval metrics cannot move here: retrieval is frozen). `--save NAME` keeps the per-question
outcome; `--diff NAME` lists the questions whose `cited`/`quoted`/abstention changed since.
Needs a synced index for the first run only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pickle
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bot.answering import compose as compose_module
from bot.answering import pipeline as pipeline_module
from bot.answering.pipeline import Pipeline
from bot.config import load_settings
from bot.evaluation import METRICS, load_cases, score_case, summarise


def load_composer(path: Path):
    """`compose` of another compose.py (an older version, say), with the current signature."""
    spec = importlib.util.spec_from_file_location("other_compose", path)
    other = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(other)

    def composer(*args, idf=None, **kwargs):
        draft = other.compose(*args, **kwargs)
        return draft and compose_module.Draft(draft.text, draft.citations, draft.best_score)

    return composer


class CachedEmbed:
    """embed_documents with a persistent text -> vector memo."""

    def __init__(self, path: Path, embed) -> None:
        self.path, self._embed = path, embed
        self.memo: dict[str, np.ndarray] = pickle.loads(path.read_bytes()) if path.exists() else {}
        self.added = 0

    def __call__(self, texts: list[str]) -> list[np.ndarray]:
        todo = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if todo:
            for text, vector in zip(todo, self._embed(todo)):
                self.memo[text] = np.asarray(vector, dtype=np.float32)
            self.added += len(todo)
        return [self.memo[t] for t in texts]

    def save(self) -> None:
        if self.added:
            self.path.write_bytes(pickle.dumps(self.memo))


def retrieved(pipeline: Pipeline, cases, path: Path) -> dict[str, dict]:
    stored: dict[str, dict] = pickle.loads(path.read_bytes()) if path.exists() else {}
    cfg = pipeline.settings.retrieval
    for case in cases:
        if case.id in stored:
            continue
        r = pipeline.retriever
        vector = r.embed(case.question)
        passages = r.search(case.question, query_vector=vector)
        score = pipeline.answerability(case.question, passages)
        r.expand(passages, cfg.passages, cfg.neighbours)
        stored[case.id] = {"vector": vector, "passages": passages, "score": score}
    path.write_bytes(pickle.dumps(stored))
    return stored


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("questions", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--save")
    parser.add_argument("--diff")
    parser.add_argument("--show", action="store_true", help="print every answer")
    parser.add_argument("--composer", type=Path, help="score this compose.py instead (e.g. "
                        "`git show REV:bot/answering/compose.py > old.py`), for a before/after")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a constant of bot.answering.compose for this run")
    args = parser.parse_args()
    for item in args.set:
        name, value = item.split("=", 1)
        if not hasattr(compose_module, name):
            parser.error(f"bot.answering.compose has no {name}")
        setattr(compose_module, name, type(getattr(compose_module, name))(
            value if not isinstance(getattr(compose_module, name), bool) else value == "1"))
    settings = load_settings(args.config)
    pipeline = Pipeline(settings)
    if args.composer:
        replayed = load_composer(args.composer)
        pipeline_module.composer_for = lambda _config: replayed
    cases = load_cases(args.questions)
    args.cache.mkdir(parents=True, exist_ok=True)
    stem = args.questions.stem
    stored = retrieved(pipeline, cases, args.cache / f"{stem}.retrieved.pkl")
    embed = CachedEmbed(args.cache / "units.pkl", pipeline.retriever.embeddings.embed_documents)
    answers, scores, outcome, timings = [], [], {}, []
    for case in cases:
        got = stored[case.id]
        started = time.perf_counter()
        answer = pipeline.compose_answer(case.question, got["vector"], got["passages"],
                                         got["score"], embed_many=embed)
        timings.append((time.perf_counter() - started) * 1000)
        answers.append(answer)
        scores.append(score_case(case, answer))
        outcome[case.id] = {"cited": scores[-1]["cited"], "quoted": scores[-1]["quoted"],
                            "abstained": answer.abstained, "answerable": case.answerable,
                            "question": case.question, "expected": case.answer,
                            "answer": answer.draft or answer.text}
        if args.show:
            print(f"\n{case.id} {'A' if case.answerable else 'U'} {case.question}\n  "
                  f"expected: {case.answer}\n  got: {answer.draft or answer.text}")
    embed.save()
    summary = summarise(cases, answers, scores)
    print("  ".join(f"{k} {summary[k]:.3f}" for k in METRICS)
          + f"  compose p50 {statistics.median(timings):.1f} ms (unit vectors cached)")
    if args.save:
        (args.cache / f"{stem}.{args.save}.json").write_text(json.dumps(outcome, indent=1))
    if args.diff:
        before = json.loads((args.cache / f"{stem}.{args.diff}.json").read_text())
        for cid, now in outcome.items():
            old = before.get(cid)
            if old and any(old[k] != now[k] for k in ("cited", "quoted", "abstained")):
                flags = " ".join(f"{k} {int(old[k])}->{int(now[k])}"
                                 for k in ("cited", "quoted", "abstained") if old[k] != now[k])
                print(f"\n{cid} [{flags}] {now['question']}\n  expected: {now['expected']}\n"
                      f"  was: {old['answer']}\n  now: {now['answer']}")


if __name__ == "__main__":
    main()
