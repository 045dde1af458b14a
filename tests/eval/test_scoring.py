"""How one answer is scored against its case (bot/evaluation.py)."""

from bot.answering.types import Answer, Citation, Passage
from bot.evaluation import Case, score_case, summarise

SPAN = "Recordings are deleted after 30 days"


def _passage(page: str, text: str) -> Passage:
    return Passage(id=page, source="wiki", source_id=page, title=page, url="", headings="",
                   text=text)


def _citation(n: int, page: str, text: str) -> Citation:
    return Citation(n=n, source="wiki", source_id=page, title=page, url="", passage=text)


CASE = Case("q1", "how long are zoom recordings kept?", ("policies/zoom.md",), SPAN, True)
HOLDER = "Cloud storage. **Recordings** are deleted after 30 days. Hosts may share them."


def test_a_cited_and_quoted_answer():
    draft = "Cloud storage. [1] Recordings are deleted after 30 days. [1]"
    answer = Answer(CASE.question, text="Sure! " + draft, draft=draft,
                    citations=[_citation(1, "policies/zoom.md", HOLDER)],
                    retrieved=[_passage("other.md", "x"), _passage("policies/zoom.md", HOLDER)])
    assert score_case(CASE, answer) == {"rank": 2, "span_top4": True, "cited": True,
                                        "quoted": True}


def test_citing_the_right_passage_without_quoting_the_span():
    draft = "Hosts may share them. [1]"
    answer = Answer(CASE.question, text=draft, draft=draft,
                    citations=[_citation(1, "policies/zoom.md", HOLDER)],
                    retrieved=[_passage("policies/zoom.md", HOLDER)])
    score = score_case(CASE, answer)
    assert score["cited"] and not score["quoted"]


def test_markers_are_dropped_before_matching_and_an_abstention_scores_nothing():
    split = "Recordings are deleted [1] after 30 days. [2]"
    answer = Answer(CASE.question, text=split, draft=split,
                    citations=[_citation(1, "a.md", "Recordings are deleted")],
                    retrieved=[_passage("a.md", "Recordings are deleted")])
    # markers are dropped before matching: the words the reader sees, in order
    assert score_case(CASE, answer)["quoted"]
    abstained = Answer(CASE.question, text="", draft=SPAN, abstained=True,
                       retrieved=[_passage("policies/zoom.md", HOLDER)])
    score = score_case(CASE, abstained)
    assert score["span_top4"] and not score["cited"] and not score["quoted"]


def test_summary_rates_quoted_over_answerable_questions():
    unanswerable = Case("q2", "who is the CFO?", (), "", False)
    quoted = {"rank": 1, "span_top4": True, "cited": True, "quoted": True}
    missed = {"rank": None, "span_top4": False, "cited": False, "quoted": False}
    answers = [Answer("a", text="x"), Answer("b", text="y"), Answer("c", text="", abstained=True)]
    summary = summarise([CASE, CASE, unanswerable], answers, [quoted, missed, missed])
    assert summary["quoted"] == 0.5 and summary["cited"] == 0.5 and summary["abstain_ok"] == 1.0
