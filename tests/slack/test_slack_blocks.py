"""Block Kit builders: pure functions, checked against Slack's limits directly."""

import re
from datetime import datetime, timedelta, timezone

from bot.answering.types import NO_INDEX, NO_MATCH, PRIVATE_ONLY, Answer, Citation, Passage
from bot.slack import blocks, ids
from bot.slack.listeners.actions import register as register_actions
from fake_slack.web_api import message_problem

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


def citation(n, **kw):
    base = dict(n=n, source="handbook", source_id="it/vpn.md", title="VPN – setup",
                url="https://wiki.example/it/vpn.md", passage="p", headings="VPN > Token reset",
                updated_at=NOW - timedelta(days=3))
    return Citation(**{**base, **kw})


def answer(text="Open the reset page. [1]", cites=None, **kw):
    return Answer("q?", text=text, draft=text, citations=cites or [citation(1)],
                  index_updated_at=NOW - timedelta(minutes=5), **kw)


def test_answer_has_text_sources_freshness_and_feedback_buttons():
    [msg] = blocks.answer_messages(answer(), "abc123", now=NOW)
    kinds = [b["type"] for b in msg["blocks"]]
    assert kinds == ["section", "section", "context", "actions"]
    assert msg["blocks"][0]["text"]["text"] == "Open the reset page. [1]"
    sources = msg["blocks"][1]["text"]["text"]
    assert sources == ("*Sources*\n[1] <https://wiki.example/it/vpn.md|VPN – setup › Token reset>"
                       " · updated 3 days ago")
    assert msg["blocks"][2]["elements"][0]["text"].endswith("Index synced 5 minutes ago.")
    buttons = msg["blocks"][3]["elements"]
    assert [b["action_id"] for b in buttons] == [ids.FEEDBACK_UP, ids.FEEDBACK_DOWN]
    assert {b["value"] for b in buttons} == {"abc123"}
    assert msg["text"] == "Open the reset page. [1]"
    assert message_problem(msg) is None


def test_private_citations_are_marked():
    [msg] = blocks.answer_messages(answer(cites=[citation(1, source="leadership")]), "a", now=NOW,
                                   private_sources={"leadership"})
    assert ":lock: private" in msg["blocks"][1]["text"]["text"]


def test_long_answers_are_split_into_sections_and_messages_within_limits():
    text = " ".join(f"Sentence number {i} says something useful & true. [1]" for i in range(3000))
    cites = [citation(n, title=f"Page {n} " + "x" * 150) for n in range(1, 120)]
    messages = blocks.answer_messages(answer(text, cites), "id1", now=NOW)
    assert len(messages) >= 2
    for msg in messages:
        assert message_problem(msg) is None
        assert len(msg["blocks"]) <= blocks.BLOCK_LIMIT
        assert 0 < len(msg["text"]) <= blocks.FALLBACK_LIMIT
        for b in msg["blocks"]:
            if b["type"] == "section":
                assert len(b["text"]["text"]) <= blocks.SECTION_LIMIT
                assert not re.search(r"&(a|am|amp?)?$", b["text"]["text"])  # no cut entity
    assert [b["type"] for m in messages for b in m["blocks"]].count("actions") == 1
    assert messages[-1]["blocks"][-1]["type"] == "actions"
    shown = " ".join(b["text"]["text"] for m in messages for b in m["blocks"]
                     if b["type"] == "section")
    assert "Sentence number 2999" in shown and "[119]" in shown


def test_split_text_never_loses_text_and_respects_the_limit():
    text = "&amp;" * 1000 + " tail"
    pieces = blocks.split_text(text, 3000)
    assert all(len(p) <= 3000 for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    assert all(p.endswith(";") or p.endswith("tail") for p in pieces)


def test_abstentions_say_why():
    nearest = [Passage("1", "handbook", "it/vpn.md", "VPN", "https://wiki.example/vpn", "", "t")]
    no_match = blocks.abstain_message(Answer("q", "", abstained=True, reason=NO_MATCH,
                                             nearest=nearest), NOW)
    assert "couldn't find this in the wiki" in no_match["text"]
    assert "<https://wiki.example/vpn|VPN>" in no_match["blocks"][0]["text"]["text"]
    private = blocks.abstain_message(Answer("q", "", abstained=True, reason=PRIVATE_ONLY), NOW)
    assert "only pages that match are in sources that can't be shown here" in private["text"]
    empty = blocks.abstain_message(Answer("q", "", abstained=True, reason=NO_INDEX), NOW)
    assert "Nothing is indexed yet" in empty["text"]


def test_error_message_carries_the_error_id():
    msg = blocks.error_message("1f2e3d4c")
    assert "1f2e3d4c" in msg["text"] and "`1f2e3d4c`" in msg["blocks"][0]["text"]["text"]


def test_every_action_id_the_builders_emit_has_a_listener():
    class Recorder:
        def __init__(self):
            self.ids = []

        def action(self, action_id):
            self.ids.append(action_id)
            return lambda f: f

    recorder = Recorder()
    register_actions(recorder)
    [msg] = blocks.answer_messages(answer(), "x", now=NOW)
    emitted = {e["action_id"] for b in msg["blocks"] if b["type"] == "actions"
               for e in b["elements"]}
    assert emitted == set(recorder.ids)
