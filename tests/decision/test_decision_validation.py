"""A broken tree file must stop start-up with a message naming the node / answer at fault."""

from __future__ import annotations

import textwrap

import pytest

from bot.decision import TreeError, load_tree, parse_tree
from bot.decision.loader import DEFAULT_TREE_PATH

OUTCOMES_YAML = """
outcomes:
  - {id: rag, title: RAG, summary: s, tradeoffs: [{aspect: Cost, text: t}], next_steps: [go]}
  - {id: neither, title: Neither, summary: s, tradeoffs: [{aspect: Cost, text: t}], next_steps: [go]}
"""
QUESTIONS_YAML = """
questions:
  - id: q1
    text: First?
    why: Because.
    answers:
      - {id: "yes", label: "Yes", reason: "r"}
      - {id: "no", label: "No", reason: "r"}
  - id: q2
    text: Second?
    why: Because.
    answers:
      - {id: "yes", label: "Yes", reason: "r"}
      - {id: "no", label: "No", reason: "r"}
"""


def load_yaml(tmp_path, body: str):
    path = tmp_path / "tree.yaml"
    path.write_text(textwrap.dedent(body) + QUESTIONS_YAML + OUTCOMES_YAML)
    return load_tree(path)


def errors_of(data) -> list[str]:
    with pytest.raises(TreeError) as info:
        parse_tree(data)
    return info.value.errors


def test_the_shipped_tree_is_valid():
    tree = load_tree()
    assert tree.source == str(DEFAULT_TREE_PATH)
    assert len(tree.symptoms) == 6
    assert tree.longest_path == 8


def test_minimal_tree_is_valid(mini):
    tree = parse_tree(mini)
    assert set(tree.nodes) == {"a", "b"} and tree.longest_path == 2


# ---- the three the issue names, each written out in full ------------------------------------


def test_dangling_reference(tmp_path):
    with pytest.raises(TreeError) as info:
        load_yaml(tmp_path, """
            start: a
            nodes:
              - {id: a, ask: q1, go: {"yes": {next: b}, "no": {outcome: rag}}}
              - {id: b, ask: q2, go: {"yes": {next: c}, "no": {outcome: neither}}}
        """)
    assert info.value.errors == ["node 'b', answer 'yes': next node 'c' does not exist"]
    assert str(tmp_path / "tree.yaml") in str(info.value)


def test_unreachable_node(tmp_path):
    with pytest.raises(TreeError) as info:
        load_yaml(tmp_path, """
            start: a
            nodes:
              - {id: a, ask: q1, go: {"yes": {outcome: rag}, "no": {outcome: neither}}}
              - {id: orphan, ask: q2, go: {"yes": {outcome: rag}, "no": {outcome: neither}}}
        """)
    assert info.value.errors == ["node 'orphan' is unreachable from start node 'a'"]


def test_cycle(tmp_path):
    with pytest.raises(TreeError) as info:
        load_yaml(tmp_path, """
            start: a
            nodes:
              - {id: a, ask: q1, go: {"yes": {next: b}, "no": {outcome: rag}}}
              - {id: b, ask: q2, go: {"yes": {outcome: neither}, "no": {next: a}}}
        """)
    assert info.value.errors == ["cycle: a --yes--> b --no--> a"]


# ---- the other checks, one mutation of a minimal valid tree each -----------------------------


def test_duplicate_ids(mini):
    mini["nodes"].append(dict(mini["nodes"][1]))
    mini["questions"][0]["answers"].append({"id": "yes", "label": "Again", "reason": "r"})
    mini["outcomes"].append(mini["outcomes"][0])
    errors = errors_of(mini)
    assert "duplicate node id 'b'" in errors
    assert "question 'q1': duplicate answer id 'yes'" in errors
    assert "duplicate outcome id 'rag'" in errors


def test_duplicate_question_and_symptom_ids(mini):
    mini["questions"].append(dict(mini["questions"][0]))
    mini["symptoms"].append(dict(mini["symptoms"][0]))
    assert errors_of(mini) == ["duplicate question id 'q1'", "duplicate symptom id 's1'"]


def test_answer_with_both_next_and_outcome(mini):
    mini["nodes"][0]["go"]["yes"] = {"next": "b", "outcome": "rag"}
    assert errors_of(mini) == ["node 'a', answer 'yes': has both next and outcome; give exactly one"]


def test_answer_with_neither_next_nor_outcome(mini):
    mini["nodes"][0]["go"]["no"] = {}
    assert errors_of(mini) == ["node 'a', answer 'no': has neither next nor outcome; give exactly one"]


def test_unknown_outcome(mini):
    mini["nodes"][1]["go"]["no"] = {"outcome": "magic"}
    assert errors_of(mini) == ["node 'b', answer 'no': outcome 'magic' is not defined "
                               "(defined: rag, neither)"]


def test_outcome_key_outside_the_recommendations(mini):
    mini["outcomes"][1]["id"] = "prayer"
    mini["nodes"][1]["go"]["no"] = {"outcome": "prayer"}
    assert errors_of(mini) == ["outcome 'prayer': unknown recommendation key "
                               "(allowed: rag, fine_tune, hybrid, neither)"]


def test_empty_question_text(mini):
    mini["questions"][1]["text"] = "   "
    assert errors_of(mini) == ["question 'q2': text is empty"]


def test_empty_answer_label_and_outcome_step(mini):
    mini["questions"][0]["answers"][1]["label"] = ""
    mini["outcomes"][0]["next_steps"] = [""]
    assert errors_of(mini) == ["question 'q1', answer 'no': label is empty",
                               "outcome 'rag': next step 1 is empty"]


def test_node_asks_unknown_question(mini):
    mini["nodes"][1]["ask"] = "q9"
    assert errors_of(mini) == ["node 'b' asks question 'q9', which does not exist"]


def test_route_for_an_answer_the_question_lacks_and_missing_route(mini):
    mini["nodes"][1]["go"] = {"yes": {"outcome": "rag"}, "maybe": {"outcome": "neither"}}
    assert errors_of(mini) == [
        "node 'b', answer 'maybe': question 'q2' has no such answer (answers: yes, no)",
        "node 'b', answer 'no': no route (give next or outcome)",
    ]


def test_missing_start_node(mini):
    mini["start"] = "zz"
    assert errors_of(mini) == ["start node 'zz' does not exist"]


def test_unreachable_outcome_and_unused_question(mini):
    mini["nodes"][0]["go"]["yes"] = {"outcome": "rag"}
    mini["nodes"].pop(1)
    assert errors_of(mini) == ["outcome 'neither' is defined but no reachable answer leads to it",
                               "question 'q2' is not asked by any node"]


def test_question_asked_twice_on_one_walk(mini):
    mini["nodes"][1]["ask"] = "q1"
    mini["nodes"].append({"id": "c", "ask": "q2", "go": {"yes": {"outcome": "rag"},
                                                         "no": {"outcome": "neither"}}})
    mini["nodes"][0]["go"]["no"] = {"next": "c"}
    assert errors_of(mini) == ["question 'q1' is asked twice on one walk: by node 'a' "
                               "and again by node 'b'"]


def test_bad_id_characters(mini):
    mini["nodes"][1]["id"] = "B-2"
    mini["nodes"][0]["go"]["yes"] = {"next": "B-2"}
    assert errors_of(mini) == ["node id 'B-2' must be 1-32 lowercase letters, digits or '_', "
                               "starting with a letter"]


def test_unknown_key_names_the_item_by_id(mini):
    mini["questions"][1]["answers"][0]["colour"] = "red"
    assert errors_of(mini) == ["questions[q2].answers[yes].colour: unknown key"]


def test_missing_field(mini):
    del mini["questions"][0]["why"]
    assert errors_of(mini) == ["questions[q1].why: Field required"]


def test_all_problems_are_reported_together(mini):
    mini["nodes"][0]["go"]["yes"] = {"next": "nowhere"}
    mini["nodes"][1]["go"]["no"] = {"outcome": "magic"}
    assert len(errors_of(mini)) == 2


def test_walk_too_long_for_a_slack_button_value(mini):
    # 70 yes/no questions in a chain, with 32-character answer ids: the last walk is > 2000 chars
    long_yes, long_no = "y" * 32, "n" * 32
    n = 70
    mini["questions"] = [{"id": f"q{i}", "text": "?", "why": "w",
                          "answers": [{"id": long_yes, "label": "Y", "reason": "r"},
                                      {"id": long_no, "label": "N", "reason": "r"}]}
                         for i in range(n)]
    mini["nodes"] = [{"id": f"n{i}", "ask": f"q{i}",
                      "go": {long_yes: ({"next": f"n{i + 1}"} if i < n - 1 else {"outcome": "rag"}),
                             long_no: {"outcome": "neither"}}} for i in range(n)]
    mini["start"] = "n0"
    [error] = errors_of(mini)
    assert "more than a Slack button value holds (2000)" in error


def test_yaml_duplicate_key_is_an_error(tmp_path):
    path = tmp_path / "tree.yaml"
    path.write_text("start: a\nstart: b\n")
    with pytest.raises(TreeError) as info:
        load_tree(path)
    assert "duplicate key 'start'" in str(info.value)


def test_unquoted_yes_gets_a_hint(tmp_path):
    with pytest.raises(TreeError) as info:
        load_yaml(tmp_path, """
            start: a
            nodes:
              - {id: a, ask: q1, go: {yes: {outcome: rag}, "no": {outcome: neither}}}
              - {id: b, ask: q2, go: {"yes": {outcome: rag}, "no": {outcome: neither}}}
        """)
    [error] = info.value.errors
    assert error.startswith("nodes[a].go.true (key): ")
    assert "quote them" in error


def test_missing_file(tmp_path):
    with pytest.raises(TreeError, match="cannot read the file"):
        load_tree(tmp_path / "absent.yaml")


def test_not_a_mapping():
    with pytest.raises(TreeError, match="must hold a mapping"):
        parse_tree(["start"])
