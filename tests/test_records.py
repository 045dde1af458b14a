"""The app's tables: claims (dedupe), thread history, answers, votes -> eval cases."""

import json
import threading

from bot import records as store
from bot.evaluation import load_cases
from bot.slack.vote_cases import cases_from_votes, export_cases, quoted_span
from bot.knowledge.index import Index


def fresh_engine(tmp_path):
    from bot.config import Settings

    engine = Index(Settings(data_dir=tmp_path)).engine
    return engine


def test_claim_is_first_wins_across_threads(tmp_path):
    engine = fresh_engine(tmp_path)
    results = []
    threads = [threading.Thread(target=lambda: results.append(store.claim(engine, "ev:1")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert store.claim(engine, "ev:2")


def test_thread_history(tmp_path):
    engine = fresh_engine(tmp_path)
    assert store.thread_questions(engine, "C1", "1.0") is None
    store.add_thread_question(engine, "C1", "1.0", "how do I reset my VPN token?")
    store.add_thread_question(engine, "C1", "1.0", "and on Linux?")
    assert store.thread_questions(engine, "C1", "1.0") == ["how do I reset my VPN token?",
                                                          "and on Linux?"]


def record(answer_id, question="how do I reset my VPN token?"):
    return store.AnswerRecord(
        id=answer_id, question=question, channel="C1",
        answer="Open https://vpn.brightwave.example/reset (this page works without VPN). [1]",
        draft="Open https://vpn.brightwave.example/reset (this page works without VPN). [1]",
        citations=[{"n": 1, "source": "handbook", "source_id": "it/vpn.md", "title": "VPN",
                    "url": "u", "passage": "## Reset\nOpen https://vpn.brightwave.example/reset "
                                           "(this page works without VPN). Then log in."}])


def test_votes_last_click_wins_and_keep_question_answer_citations(tmp_path):
    engine = fresh_engine(tmp_path)
    rec = record("a1")
    store.save_answer(engine, rec)
    assert store.get_answer(engine, "a1").citations[0]["source_id"] == "it/vpn.md"
    store.record_vote(engine, rec, "U1", "down")
    store.record_vote(engine, rec, "U1", "up")
    [row] = store.votes(engine)
    assert (row["vote"], row["user"], row["question"]) == ("up", "U1", rec.question)
    assert row["citations"][0]["source_id"] == "it/vpn.md" and row["answer"] == rec.answer


def test_export_writes_eval_cases_and_review_cases_are_skipped_with_a_count(tmp_path):
    engine = fresh_engine(tmp_path)
    good, bad = record("good"), record("bad", "how do I expense a laptop?")
    for rec in (good, bad):
        store.save_answer(engine, rec)
    store.record_vote(engine, good, "U1", "up")
    store.record_vote(engine, good, "U2", "up")
    store.record_vote(engine, bad, "U1", "up")
    store.record_vote(engine, bad, "U3", "down")
    out = tmp_path / "cases.jsonl"
    assert export_cases(store.votes(engine), out) == (1, 1)
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    ready, review = rows["slack-good"], rows["slack-bad"]
    assert ready["sources"] == ["it/vpn.md"] and ready["answerable"] is True
    assert ready["answer"].startswith("Open https://vpn.brightwave.example/reset")
    assert ready["votes"] == {"up": 2, "down": 0}
    assert review["review"] is True and review["sources"] == []
    assert review["cited_sources"] == ["it/vpn.md"] and review["bot_answer"] == bad.answer
    cases = load_cases(out)
    assert [c.id for c in cases] == ["slack-good"] and cases.review_skipped == 1


def test_quoted_span_is_a_sentence_a_cited_passage_contains():
    assert quoted_span("Foo bar baz. [1] Not quoted at all here. [2]",
                       ["x foo   bar baz y"]) == "Foo bar baz"
    assert quoted_span("Invented text entirely. [1]", ["something else"]) == ""
    assert cases_from_votes([]) == []
