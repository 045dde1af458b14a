"""The regression suite: every demo question through the real pipeline, with floors from
measurement (see README "Evaluation"). A change that makes answers worse fails here.

Measured on tests/eval/demo_questions.jsonl with `ragbot eval` (tone off; the tone stage cannot
change facts or citations, and is measured by `ragbot tone eval`). The floors sit a little under
the measurement so that noise-free changes pass and real regressions do not.
"""

import json

from bot.config import REPO_ROOT
from bot.evaluation import load_cases, run_eval

QUESTIONS = REPO_ROOT / "tests" / "eval" / "demo_questions.jsonl"

FLOORS = {"hit@1": 0.78, "hit@5": 0.96, "mrr": 0.86, "span@4": 0.85, "cited": 0.72,
          "abstain_ok": 0.20}
CEILINGS = {"abstain_bad": 0.05}


def test_question_set_shape():
    cases = load_cases(QUESTIONS)
    assert len(cases) >= 60
    assert sum(not c.answerable for c in cases) >= 10


def test_demo_regression_suite(demo_pipeline, tmp_path):
    out = tmp_path / "results.jsonl"
    summary = run_eval(demo_pipeline, load_cases(QUESTIONS), out)
    print(json.dumps(summary, indent=1))
    for key, floor in FLOORS.items():
        assert summary[key] >= floor, (key, summary[key], floor)
    for key, ceiling in CEILINGS.items():
        assert summary[key] <= ceiling, (key, summary[key], ceiling)
    line = json.loads(out.read_text().splitlines()[0])
    assert {"id", "question", "answer", "abstained", "citations", "retrieved", "latency_ms",
            "draft", "toned", "tone_reason"} <= set(line)
    assert len(line["retrieved"]) >= 10
    assert {"n", "source_id", "title", "url", "passage"} <= set(line["citations"][0]) \
        if line["citations"] else True
