"""Every walk of config/ragvsft.yaml against the rule, written here independently of the YAML.

The rule (also in the YAML's header comment):
  gap = unsure                                   -> neither (find the failures first)
  knowledge side (gap knowledge|both):
    source live|small                            -> a tool call / the prompt: no RAG, no FT
    source docs: RAG, unless ALL of stable, no citations, small, latency-critical, budget
                                                 -> fine-tune the facts in
  behaviour side (gap behaviour|both):
    prompt already tried AND budget              -> fine-tune, otherwise prompt first
  combine: RAG+FT -> hybrid; RAG -> rag; FT -> fine_tune; nothing -> neither

The walks are enumerated by clicking through the engine (view/step), not read from the YAML, and
each is checked three ways: its outcome matches the rule; no question it skipped could have
changed the outcome; every question it asked could have changed the outcome given the answers
before it (no filler questions).
"""

from __future__ import annotations

import itertools

import pytest

from bot.decision import Result, Step, all_paths, start, step, view

DOMAIN = {
    "gap": ("knowledge", "behaviour", "both", "unsure"),
    "source": ("docs", "live", "small"),
    "updates": ("frequent", "stable"),
    "citations": ("yes", "no"),
    "size": ("large", "small"),
    "latency": ("critical", "relaxed"),
    "budget": ("yes", "no"),
    "prompt_tried": ("yes", "no"),
}


def rule(a: dict[str, str]) -> str:
    if a["gap"] == "unsure":
        return "neither"
    uses_rag = uses_ft = False
    if a["gap"] in ("knowledge", "both") and a["source"] == "docs":
        bake_facts_in = (a["updates"] == "stable" and a["citations"] == "no"
                         and a["size"] == "small" and a["latency"] == "critical"
                         and a["budget"] == "yes")
        uses_ft = uses_ft or bake_facts_in
        uses_rag = uses_rag or not bake_facts_in
    if a["gap"] in ("behaviour", "both") and a["prompt_tried"] == "yes" and a["budget"] == "yes":
        uses_ft = True
    if uses_rag and uses_ft:
        return "hybrid"
    if uses_rag:
        return "rag"
    if uses_ft:
        return "fine_tune"
    return "neither"


def completions(fixed: dict[str, str]):
    """Every full assignment that agrees with `fixed`."""
    free = [q for q in DOMAIN if q not in fixed]
    for values in itertools.product(*(DOMAIN[q] for q in free)):
        yield {**fixed, **dict(zip(free, values))}


def walk_with(tree, answers: dict[str, str]) -> tuple[list[tuple[str, str]], Result]:
    """Click through the engine answering each question from `answers`."""
    state, asked = start(tree), []
    while isinstance(shown := view(tree, state), Step):
        choice = answers[shown.question_id]
        asked.append((shown.question_id, choice))
        state = step(tree, state, choice)
    return asked, shown


def enumerate_walks(tree):
    """All complete walks, found by trying every choice the engine offers."""
    found = []

    def go(state, asked):
        shown = view(tree, state)
        if isinstance(shown, Result):
            found.append((tuple(asked), shown))
            return
        for choice in shown.choices:
            go(step(tree, state, choice.id), asked + [(shown.question_id, choice.id)])

    go(start(tree), [])
    return found


WALKS_EXPECTED = 32


def test_question_answers_match_the_rules_domain(tree):
    asked = {node.question.id: tuple(a.id for a in node.question.answers)
             for node in tree.nodes.values()}
    assert asked == DOMAIN


def test_walks_are_enumerated_and_agree_with_all_paths(tree):
    walks = enumerate_walks(tree)
    assert len(walks) == WALKS_EXPECTED
    assert sorted((tuple(a for _, a in asked), r.key) for asked, r in walks) == sorted(all_paths(tree))
    assert {r.key for _, r in walks} == {"rag", "fine_tune", "hybrid", "neither"}


@pytest.mark.parametrize("index", range(WALKS_EXPECTED))
def test_each_walk_follows_the_rule_and_asks_what_matters(tree, index):
    asked, result = enumerate_walks(tree)[index]
    given = dict(asked)
    assert len(given) == len(asked), "a question was asked twice"

    # 1. the outcome is the rule's, whatever the unasked questions would have been answered:
    #    so no question that could change the outcome was skipped
    outcomes = {rule(full) for full in completions(given)}
    assert outcomes == {result.key}, (asked, outcomes)

    # 2. every asked question could have changed the outcome, given the answers before it
    for i, (qid, _) in enumerate(asked):
        before = dict(asked[:i])
        swing = False
        for full in completions(before):
            if {rule({**full, qid: alt}) for alt in DOMAIN[qid]} != {rule(full)}:
                swing = True
                break
        assert swing, f"question {qid!r} after {before} cannot change the outcome"

    # 3. the reasons are the chosen answers' own, one per answer, in order
    assert len(result.reasons) == len(asked)


def test_every_full_assignment_reaches_the_rules_outcome(tree):
    """The same check from the other side: all 768 combinations of answers."""
    count = 0
    for full in completions({}):
        _, result = walk_with(tree, full)
        assert result.key == rule(full), full
        count += 1
    assert count == 4 * 3 * 2 ** 6


@pytest.mark.parametrize("answers, key", [
    # the seed tree's own branches, in our walk
    ({"gap": "knowledge", "source": "docs", "updates": "frequent"}, "rag"),
    ({"gap": "knowledge", "source": "docs", "updates": "stable", "citations": "yes"}, "rag"),
    ({"gap": "knowledge", "source": "docs", "updates": "stable", "citations": "no",
      "size": "large"}, "rag"),
    ({"gap": "knowledge", "source": "docs", "updates": "stable", "citations": "no",
      "size": "small", "latency": "critical", "budget": "yes"}, "fine_tune"),
    ({"gap": "knowledge", "source": "docs", "updates": "stable", "citations": "no",
      "size": "small", "latency": "critical", "budget": "no"}, "rag"),
    ({"gap": "behaviour", "prompt_tried": "yes", "budget": "yes"}, "fine_tune"),
    # when you need neither
    ({"gap": "unsure"}, "neither"),
    ({"gap": "knowledge", "source": "live"}, "neither"),
    ({"gap": "behaviour", "prompt_tried": "no"}, "neither"),
    # hybrid
    ({"gap": "both", "source": "docs", "updates": "frequent", "prompt_tried": "yes",
      "budget": "yes"}, "hybrid"),
    ({"gap": "both", "source": "docs", "updates": "frequent", "prompt_tried": "no"}, "rag"),
])
def test_named_walks(tree, answers, key):
    asked, result = walk_with(tree, {**{q: v[0] for q, v in DOMAIN.items()}, **answers})
    assert dict(asked) == answers
    assert result.key == key


def test_reasons_come_from_the_answers_given(tree):
    base = {"gap": "knowledge", "source": "docs", "updates": "stable"}
    _, by_citations = walk_with(tree, {**base, "citations": "yes"})
    _, by_size = walk_with(tree, {**base, "citations": "no", "size": "large"})
    assert by_citations.key == by_size.key == "rag"
    assert by_citations.reasons != by_size.reasons
    assert any("traceable" in r for r in by_citations.reasons)
    assert any("too much material" in r for r in by_size.reasons)
    assert by_citations.answers[-1] == ("Must each answer show where it came from?",
                                        "Yes, people need to check or audit answers")


def test_answer_steps_come_before_the_outcomes_steps(tree):
    _, result = walk_with(tree, {"gap": "knowledge", "source": "live"})
    assert result.key == "neither"
    assert "tool (function call)" in result.next_steps[0]
    assert result.next_steps[1:] == tree.outcomes["neither"].next_steps


@pytest.mark.parametrize("key", ["rag", "fine_tune", "hybrid", "neither"])
def test_each_outcome_covers_the_trade_offs_the_issue_asks_for(tree, key):
    outcome = tree.outcomes[key]
    aspects = [t.aspect for t in outcome.tradeoffs]
    assert aspects == ["Update speed", "Cost", "Latency", "Explainability", "Failure modes to watch"]
    assert len(outcome.next_steps) >= 3


def test_latency_and_cost_figures_are_the_articles(tree):
    def text(key, aspect):
        return next(t.text for t in tree.outcomes[key].tradeoffs if t.aspect == aspect)

    assert "0.5 to 2 seconds" in text("rag", "Latency")
    assert "0.2 to 0.5 seconds" in text("fine_tune", "Latency")
    assert "$200 per million" in text("rag", "Cost") and "$50" in text("rag", "Cost")
    assert "$50 to $500" in text("fine_tune", "Cost")
    assert tree.outcomes["neither"].title.startswith("Neither yet")
