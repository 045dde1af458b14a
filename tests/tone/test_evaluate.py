"""bot/tone/evaluate.py: the voice measures on hand-made replies (no model)."""

from __future__ import annotations

import pytest

from bot.tone.evaluate import chrf, run_model, score_texts, split_voice, style_markers, table_rows
from bot.tone.evaluate import report
from bot.tone.stage import ToneOutcome
from bot.tone.train import Pair

DRAFT = ("Expenses are submitted in Expensify within 30 days of the purchase date. [1] "
         "Expenses over $75 do not need a receipt. [2]")
REPLY = ("Happy to help! You submit expenses in Expensify within 30 days of the purchase date. "
         "[1] Expenses over $75 don't need a receipt. [2] Hope that helps!")


def test_style_markers_of_an_on_brand_reply():
    assert split_voice(DRAFT, REPLY) == (
        "Happy to help!", "You submit expenses in Expensify within 30 days of the purchase date. "
        "[1] Expenses over $75 don't need a receipt. [2]", "Hope that helps!")
    assert style_markers(DRAFT, REPLY) == {"opener": True, "closer": True,
                                           "second_person": True, "contractions": True}


def test_the_draft_itself_has_no_style_markers():
    assert not any(style_markers(DRAFT, DRAFT).values())


def test_opener_and_closer_do_not_count_as_body_voice():
    reply = "Here's what you need. " + DRAFT + " Let us know if you're stuck."
    assert style_markers(DRAFT, reply) == {"opener": True, "closer": True,
                                           "second_person": False, "contractions": False}


def test_chrf():
    assert chrf(REPLY, REPLY) == pytest.approx(100)
    assert chrf("xyz qqq", REPLY) < 5
    assert chrf(DRAFT, REPLY) < chrf(REPLY.replace("Hope that helps!", ""), REPLY) < 100


class Scripted:
    def __init__(self, replies):
        self.replies = iter(replies)

    def rewrite(self, draft):
        text = next(self.replies)
        return ToneOutcome(text, text != draft, None if text != draft else "facts changed: x",
                           rewrite=text, latency_ms=100)


def test_report_table():
    pairs = [Pair("h-1", DRAFT, REPLY), Pair("h-2", DRAFT, REPLY)]
    base = run_model(Scripted([DRAFT, DRAFT]), pairs)
    adapter = run_model(Scripted([REPLY, DRAFT]), pairs)
    assert base["summary"]["acceptance"] == 0 and adapter["summary"]["acceptance"] == 0.5
    assert adapter["summary"]["facts_kept_sent"] == 1.0
    assert adapter["summary"]["reasons"] == {"facts changed": 1}
    result = report(base, adapter, pairs)
    rows = {row[0]: row[1:] for row in table_rows(result)}
    assert rows["guard acceptance"] == ("-", "0%", "50%", "100%")
    assert rows["opener (raw / sent)"] == ("0%", "0% / 0%", "50% / 50%", "100%")
    assert score_texts(pairs, [REPLY, REPLY])["style_score"] == 1.0
