"""Back / start over, and the walk state carried in a Slack button value."""

from __future__ import annotations

import copy

import pytest
import yaml

from bot.decision import (DEFAULT_TREE_PATH, InvalidStep, Result, StaleOrTamperedState, State,
                          Step, all_paths, back, button_values, decode_state, encode_state,
                          parse_tree, start, start_over, step, view)
from bot.decision.engine import result

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def walk(tree, *answers) -> State:
    state = start(tree)
    for a in answers:
        state = step(tree, state, a)
    return state


# ---- back and start over ----------------------------------------------------------------------


def test_first_question(tree):
    shown = view(tree, start(tree))
    assert isinstance(shown, Step)
    assert (shown.node_id, shown.number, shown.can_go_back, shown.answered) == ("start", 1, False, ())
    assert shown.max_total == 8
    assert [c.id for c in shown.choices] == ["knowledge", "behaviour", "both", "unsure"]
    assert shown.why


def test_back_undoes_exactly_one_answer(tree):
    two = walk(tree, "knowledge", "docs")
    assert view(tree, two).question_id == "updates"
    one = back(two)
    assert one.path == ("knowledge",)
    assert view(tree, one).question_id == "source"
    assert view(tree, one).can_go_back


def test_back_at_the_first_question_is_a_no_op(tree):
    assert back(start(tree)) == start(tree)


def test_back_from_the_result_returns_to_the_last_question(tree):
    done = walk(tree, "knowledge", "docs", "frequent")
    assert isinstance(view(tree, done), Result)
    assert result(tree, done).key == "rag"
    again = back(done)
    assert result(tree, again) is None
    assert view(tree, again).question_id == "updates"
    assert result(tree, step(tree, again, "stable")) is None  # a different answer, a longer walk


def test_start_over_forgets_everything(tree):
    assert start_over(tree) == State((), tree.version)
    assert view(tree, start_over(tree)).node_id == "start"


def test_answering_after_the_end_or_with_a_wrong_id_is_refused(tree):
    with pytest.raises(InvalidStep, match="ended"):
        step(tree, walk(tree, "unsure"), "knowledge")
    with pytest.raises(InvalidStep, match="node 'k_source' has no answer 'frequent'"):
        step(tree, walk(tree, "knowledge"), "frequent")


def test_step_counts_and_recap(tree):
    shown = view(tree, walk(tree, "both", "docs"))
    assert (shown.number, shown.max_total) == (3, 8)
    assert shown.answered[0] == ("What is actually going wrong with the model today?",
                                 "Both: missing facts and wrong behaviour")


# ---- encode / decode --------------------------------------------------------------------------


def every_state(tree):
    seen = set()
    for path, _ in all_paths(tree):
        for i in range(len(path) + 1):
            seen.add(path[:i])
    return [State(p, tree.version) for p in sorted(seen)]


def test_round_trip_of_every_reachable_state(tree):
    states = every_state(tree)
    assert len(states) > 32
    for state in states:
        value = encode_state(state, SECRET)
        assert len(value) <= 2000
        assert decode_state(value, tree, SECRET) == state


def test_value_is_short_and_plain(tree):
    longest = max((p for p, _ in all_paths(tree)), key=lambda p: len("-".join(p)))
    value = encode_state(State(longest, tree.version), SECRET)
    assert len(value) < 120
    assert value.startswith(f"w1.{tree.version}.")
    assert value.isascii() and " " not in value


def test_tampered_tag(tree):
    value = encode_state(walk(tree, "knowledge", "docs"), SECRET)
    flipped = value[:-1] + ("A" if value[-1] != "A" else "B")
    with pytest.raises(StaleOrTamperedState) as info:
        decode_state(flipped, tree, SECRET)
    assert info.value.reason == "bad_tag"


def test_tampered_path_keeps_the_old_tag(tree):
    value = encode_state(walk(tree, "knowledge", "docs", "stable"), SECRET)
    forged = value.replace("stable", "frequent")
    with pytest.raises(StaleOrTamperedState) as info:
        decode_state(forged, tree, SECRET)
    assert info.value.reason == "bad_tag"


def test_other_secret(tree):
    value = encode_state(walk(tree, "both"), SECRET)
    with pytest.raises(StaleOrTamperedState) as info:
        decode_state(value, tree, "another-secret")
    assert info.value.reason == "bad_tag"


def test_unknown_answer_id_even_when_signed(tree):
    value = encode_state(State(("knowledge", "telepathy"), tree.version), SECRET)
    with pytest.raises(StaleOrTamperedState) as info:
        decode_state(value, tree, SECRET)
    assert info.value.reason == "invalid_path"
    assert "telepathy" in str(info.value) and "k_source" in str(info.value)


def test_path_longer_than_the_walk(tree):
    value = encode_state(State(("unsure", "docs"), tree.version), SECRET)
    with pytest.raises(StaleOrTamperedState) as info:
        decode_state(value, tree, SECRET)
    assert info.value.reason == "invalid_path"


def test_stale_tree_version_starts_over(tree):
    data = yaml.safe_load(DEFAULT_TREE_PATH.read_text())
    edited = copy.deepcopy(data)
    edited["questions"][0]["text"] = "What goes wrong today?"
    new_tree = parse_tree(edited)
    assert parse_tree(data).version == tree.version  # same content, same version
    assert new_tree.version != tree.version
    old_value = encode_state(walk(tree, "knowledge"), SECRET)
    with pytest.raises(StaleOrTamperedState) as info:
        decode_state(old_value, new_tree, SECRET)
    assert info.value.reason == "stale_version"
    # the engine itself refuses a state from another version too
    with pytest.raises(StaleOrTamperedState):
        view(new_tree, walk(tree, "knowledge"))


@pytest.mark.parametrize("value", ["", "garbage", "w1.a.b", "w2.abc.knowledge.tag", "a.b.c.d.e",
                                   "w1." + "x" * 2000 + ".p.t", None])
def test_malformed_values(tree, value):
    with pytest.raises(StaleOrTamperedState) as info:
        decode_state(value, tree, SECRET)
    assert info.value.reason in ("malformed", "bad_tag")


def test_empty_secret_is_refused(tree):
    with pytest.raises(ValueError, match="empty secret"):
        encode_state(start(tree), "")


def test_button_values(tree):
    state = walk(tree, "knowledge")
    buttons = button_values(tree, state, SECRET)
    assert set(buttons.answers) == {"docs", "live", "small"}
    assert decode_state(buttons.answers["live"], tree, SECRET).path == ("knowledge", "live")
    assert decode_state(buttons.back, tree, SECRET).path == ()
    assert decode_state(buttons.restart, tree, SECRET).path == ()
    assert button_values(tree, start(tree), SECRET).back is None
    ended = button_values(tree, walk(tree, "knowledge", "live"), SECRET)
    assert ended.answers == {} and ended.back is not None
