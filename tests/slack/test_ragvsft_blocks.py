"""The /ragvsft Block Kit builders, tested directly: Slack's limits on every screen of every walk,
escaping of tree text, ids that have listeners, and the state key."""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

import pytest

from bot.config import REPO_ROOT, parse_settings
from bot.decision import (
    Result,
    Tradeoff,
    all_paths,
    button_values,
    encode_state,
    load_tree,
    parse_tree,
    start,
    step,
    view,
)
from bot.slack import ids
from bot.slack.ragvsft import blocks as rb
from bot.slack.listeners.commands import ragvsft as listeners
from bot.slack.ragvsft.handler import Ragvsft, state_key
from tests.decision.conftest import MINI
from tests.slack.helpers import all_text

SECRET = "s3cret"
TREE = load_tree()


def check_limits(message: dict[str, Any]) -> None:
    """Everything Slack would refuse in a message (blocks, texts, buttons)."""
    blocks = message["blocks"]
    assert 0 < len(blocks) <= 50
    assert message["text"] and len(message["text"]) <= 3000
    for block in blocks:
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= 3000
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
        elif block["type"] == "header":
            assert len(block["text"]["text"]) <= 150 and block["text"]["type"] == "plain_text"
        elif block["type"] == "actions":
            elements = block["elements"]
            assert 1 <= len(elements) <= 25
            action_ids = [e["action_id"] for e in elements]
            assert len(set(action_ids)) == len(action_ids)  # unique within the block
            for e in elements:
                assert len(e["text"]["text"]) <= 75 and e["text"]["type"] == "plain_text"
                assert 0 < len(e["value"]) <= 2000 and len(e["action_id"]) <= 255
        else:
            raise AssertionError(f"unexpected block type {block['type']}")


def every_screen(tree, secret: str = SECRET):
    """Every question screen and every result of every walk through `tree`."""
    kit = Ragvsft(tree, secret.encode())
    for path, _ in all_paths(tree):
        state = start(tree)
        for answer_id in path:
            yield kit.screen(encode_state(state, kit.key))
            state = step(tree, state, answer_id)
        yield kit.screen(encode_state(state, kit.key))
        yield kit.screen(encode_state(state, kit.key), shared=True)
        yield kit.shared_result(encode_state(state, kit.key), "U0ALICE")
    yield kit.symptom_menu(notice=rb.UNKNOWN_SYMPTOM_NOTICE)
    for symptom in tree.symptoms:
        yield kit.symptom(symptom.id)
        yield kit.shared_symptom(symptom.id, "U0ALICE")


def test_every_screen_of_the_real_tree_keeps_slacks_limits():
    screens = list(every_screen(TREE))
    assert len(screens) > 100
    for message in screens:
        check_limits(message)


def test_every_emitted_action_id_has_a_listener_and_every_listener_is_used():
    registered: list[Any] = []

    class Recorder:
        def command(self, name):
            registered.append(("command", name))
            return lambda f: f

        def action(self, matcher):
            registered.append(("action", matcher))
            return lambda f: f

    listeners.register(Recorder())
    matchers = [m for kind, m in registered if kind == "action"]
    assert ("command", "/ragvsft") in registered

    def matches(matcher, action_id: str) -> bool:
        if isinstance(matcher, re.Pattern):
            return bool(matcher.match(action_id))
        return matcher == action_id

    emitted = {e["action_id"] for message in every_screen(TREE) for b in message["blocks"]
               if b["type"] == "actions" for e in b["elements"]}
    emitted |= {e["action_id"] for b in rb.symptom_menu_message(TREE.symptoms)["blocks"]
                if b["type"] == "actions" for e in b["elements"]}
    for action_id in emitted:
        assert sum(matches(m, action_id) for m in matchers) == 1, action_id
    for matcher in matchers:
        assert any(matches(matcher, a) for a in emitted), matcher
    assert all(a.startswith("ragbot_ragvsft_") for a in emitted)


def hostile_tree():
    data = copy.deepcopy(MINI)
    q = data["questions"][0]
    q["text"] = "Ping <!channel> & read <https://evil.example|this> @here?"
    q["why"] = "Because <@U0BOSS> said so & <#C1|eng> agreed."
    q["answers"][0]["label"] = "Yes <!everyone> " + "very " * 30 + "long label"
    q["answers"][0]["reason"] = "<!here> reason & more"
    for o in data["outcomes"]:
        o["title"] = "<!channel> " + o["title"]
    return parse_tree(data)


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    out = []
    for b in message["blocks"]:
        if b["type"] == "section":
            out.append(b["text"]["text"])
        elif b["type"] == "context":
            out += [e["text"] for e in b["elements"]]
    return out


def test_tree_text_is_made_inert_and_long_labels_are_cut_but_listed_in_full():
    tree = hostile_tree()
    for message in every_screen(tree):
        check_limits(message)
        plain_texts = [e["text"]["text"] for b in message["blocks"] if b["type"] == "actions"
                       for e in b["elements"]]
        plain_texts += [b["text"]["text"] for b in message["blocks"] if b["type"] == "header"]
        for text in mrkdwn_texts(message) + plain_texts + [message["text"]]:
            assert "<!" not in text and "<http" not in text and "<#" not in text
            assert "<@U0BOSS" not in text
            assert not re.search(r"@(channel|here|everyone)\b", text), text
    kit = Ragvsft(tree, SECRET.encode())
    first = kit.command("")
    text = all_text(first)
    assert "&amp; read this (https://evil.example)" in text
    long_button = next(
        e for b in first["blocks"] if b["type"] == "actions" for e in b["elements"]
        if e["action_id"] == f"{ids.RAGVSFT_ANSWER}_0")
    label = long_button["text"]["text"]
    assert label.startswith("1. ") and label.endswith("…")
    assert "very " * 30 + "long label" in text  # the full label, under the question


def test_a_result_too_long_for_one_message_is_cut_and_keeps_its_buttons():
    result = Result(key="rag", title="RAG", summary="s " * 2000,
                    reasons=tuple(f"reason {i} " + "x" * 2900 for i in range(60)),
                    tradeoffs=(Tradeoff("Cost", "cheap & cheerful"),), next_steps=("go",))
    buttons = button_values(TREE, start(TREE), SECRET)
    message = rb.result_message(result, buttons, share_value="v")
    check_limits(message)
    assert message["blocks"][-1]["type"] == "actions"
    assert rb.TOO_LONG in all_text(message)
    check_limits(rb.shared_result_message(result, "U0ALICE"))


def test_shared_messages_name_who_ran_it_and_have_no_buttons():
    kit = Ragvsft(TREE, SECRET.encode())
    path, _ = all_paths(TREE)[0]
    state = start(TREE)
    for answer_id in path:
        state = step(TREE, state, answer_id)
    shared = kit.shared_result(encode_state(state, kit.key), "U0ALICE")
    assert shared["blocks"][0]["elements"][0]["text"].startswith("<@U0ALICE> ran `/ragvsft`")
    assert not any(b["type"] == "actions" for b in shared["blocks"])
    forged = kit.shared_result(encode_state(state, kit.key), "U1> <!channel")
    assert forged["blocks"][0]["elements"][0]["text"].startswith("Someone ran")
    # a value that is not a finished walk is never shared
    assert kit.shared_result(encode_state(start(TREE), kit.key), "U0ALICE") is None


def test_first_screen_back_stays_put_and_later_back_goes_one_step():
    kit = Ragvsft(TREE, SECRET.encode())
    first = kit.command("")
    nav = {e["action_id"]: e["value"] for e in first["blocks"][-1]["elements"]}
    assert nav[ids.RAGVSFT_BACK] == nav[ids.RAGVSFT_RESTART] == encode_state(start(TREE), kit.key)
    shown = view(TREE, start(TREE))
    assert shown.text in all_text(first)


def test_state_key_prefers_the_signing_secret_then_the_bot_token(monkeypatch):
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert state_key("abc") == b"abc"
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "from-env")
    assert state_key(None, "xoxb-1") == b"from-env"  # Socket Mode with the secret set
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    derived = state_key(None, "xoxb-1")
    assert derived == state_key(None, "xoxb-1") != b"xoxb-1"  # stable, and not the token
    assert derived != hashlib.sha256(b"xoxb-1").digest()
    assert len(state_key(None, None)) == 32  # last resort: random per process
    assert state_key(None, None) != state_key(None, None)


def test_the_configured_tree_is_the_one_served(tmp_path):
    import yaml

    custom = tmp_path / "tree.yaml"
    custom.write_text(yaml.safe_dump(MINI))
    settings = parse_settings({"ragvsft": {"tree": str(custom)}}, REPO_ROOT)
    kit = Ragvsft.load(settings, SECRET)
    assert "First?" in all_text(kit.command(""))


@pytest.mark.parametrize("text, expect", [
    ("symptom", "Which symptom"), ("SYMPTOMS", "Which symptom"), ("symptom cost", "Distil"),
    ("help", "/ragvsft symptom")])
def test_command_arguments(text, expect):
    assert expect in all_text(Ragvsft(TREE, SECRET.encode()).command(text))
