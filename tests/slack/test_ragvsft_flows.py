"""`/ragvsft` in Slack: signed slash commands and button clicks dispatched to the real Bolt app
in-process, the app's WebClient and the clicks' response_url pointed at the loopback fake of
Slack. No demo index is needed (the walk never touches the pipeline), so these tests use
their own small bot and stay fast.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.config import REPO_ROOT, Settings, parse_settings
from bot.decision import TreeError, all_paths, load_tree
from bot.slack.answerer import Answerer
from bot.slack.app import build_app
from bot.slack.ragvsft.blocks import SHARED_NOTE, STALE_NOTICE, UNKNOWN_SYMPTOM_NOTICE
from bot.slack.serve import make_client
from fake_slack import SIGNING_SECRET, TEAM_ID, FakeSlack
from fake_slack.signing import post
from tests.slack.helpers import StubPipeline, all_text

TREE = load_tree()
FIRST_QUESTION = TREE.nodes[TREE.start].question.text
USER, CHANNEL = "U0ALICE", "C0GENERAL"


class RagvsftBot:
    """One app process: the Bolt app (sent signed requests in-process) + a fake Slack it talks to."""

    def __init__(self, settings: Settings, fake: FakeSlack, secret: str = SIGNING_SECRET) -> None:
        self.fake, self.secret = fake, secret
        self.answerer = Answerer(settings, StubPipeline())
        self.app = build_app(settings, StubPipeline(),
                             make_client("xoxb-test-token", fake.base_url),
                             signing_secret=secret, answerer=self.answerer)

    def stop(self) -> None:
        self.answerer.close(wait=True)

    def command(self, text: str = "", channel: str = CHANNEL) -> dict[str, Any]:
        """`/ragvsft <text>` as Slack sends it; returns the ack body (the ephemeral reply)."""
        form = {"token": "legacy", "team_id": TEAM_ID, "team_domain": "brightwave",
                "channel_id": channel, "channel_name": "general", "user_id": USER,
                "user_name": "alice", "command": "/ragvsft", "text": text,
                "api_app_id": "A0RAGBOT", "response_url": self.fake.response_url("cmd"),
                "trigger_id": "1.2.3"}
        reply = post(self.app, urlencode(form).encode(), "application/x-www-form-urlencoded",
                     secret=self.secret)
        assert reply.status == 200, reply.body
        assert reply.seconds < 1.0  # acked with the reply itself, nothing slow in front
        return reply.json()

    def click(self, button: dict[str, Any], channel: str = CHANNEL) -> dict[str, Any]:
        """Click `button` (a button element of a message) and return what replaced the message."""
        seen = len(self.fake.responses())
        payload = {"type": "block_actions", "team": {"id": TEAM_ID}, "api_app_id": "A0RAGBOT",
                   "user": {"id": USER, "username": "alice", "team_id": TEAM_ID},
                   "channel": {"id": channel, "name": "general"},
                   "container": {"type": "message", "message_ts": "1.0", "channel_id": channel,
                                 "is_ephemeral": True},
                   "trigger_id": "1.2.3", "response_url": self.fake.response_url("click"),
                   "actions": [{"type": "button", "action_id": button["action_id"],
                                "block_id": "b", "value": button["value"],
                                "text": button["text"], "action_ts": str(time.time())}]}
        body = urlencode({"payload": json.dumps(payload)}).encode()
        reply = post(self.app, body, "application/x-www-form-urlencoded", secret=self.secret)
        assert reply.status == 200, reply.body
        return self.fake.wait_responses(seen + 1)[-1]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return parse_settings({"data_dir": str(tmp_path / "data"), "tone": {"enabled": False}},
                          REPO_ROOT)


@pytest.fixture
def bots(settings: Settings, fake_slack: FakeSlack) -> Iterator:
    started: list[RagvsftBot] = []

    def start(**kw: Any) -> RagvsftBot:
        started.append(RagvsftBot(kw.pop("settings", settings), fake_slack, **kw))
        return started[-1]

    yield start
    for bot in started:
        bot.stop()


@pytest.fixture
def bot(bots) -> RagvsftBot:
    return bots()


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The message's buttons by label."""
    return {e["text"]["text"]: e for b in message["blocks"] if b["type"] == "actions"
            for e in b["elements"]}


def answer(message: dict[str, Any], label: str) -> dict[str, Any]:
    return next(e for name, e in buttons(message).items() if name.startswith(label))


def labels_for(path: tuple[str, ...]) -> list[str]:
    """The button labels that take `path` through the tree."""
    node, labels = TREE.nodes[TREE.start], []
    for answer_id in path:
        labels.append(node.question.answer(answer_id).label)
        route = node.routes[answer_id]
        node = TREE.nodes[route.next] if route.next else None
    return labels


def test_command_replies_privately_with_the_first_question(bot):
    reply = bot.command()
    assert reply["response_type"] == "ephemeral"
    text = all_text(reply)
    assert FIRST_QUESTION in text and "Why this matters" in text
    assert "question 1 of up to" in text
    assert set(buttons(reply)) == {*(a.label for a in TREE.nodes[TREE.start].question.answers),
                                   "Back", "Start over"}
    assert not bot.fake.posts()  # nothing visible in the channel


def test_each_click_replaces_the_message_with_the_next_question(bot):
    first = bot.command()
    second = bot.click(answer(first, "It lacks facts"))
    assert second["replace_original"] is True
    assert "Where do the facts it needs live?" in all_text(second)
    assert "question 2 of up to" in all_text(second)
    assert "So far: It lacks facts" in all_text(second)
    assert {"Back", "Start over"} <= set(buttons(second))
    third = bot.click(answer(second, "In documents"))
    assert "How often does that knowledge change?" in all_text(third)


def test_back_and_start_over(bot):
    first = bot.command()
    second = bot.click(answer(first, "It lacks facts"))
    third = bot.click(answer(second, "In documents"))
    back = bot.click(buttons(third)["Back"])
    assert "Where do the facts it needs live?" in all_text(back)
    again = bot.click(buttons(third)["Start over"])
    assert FIRST_QUESTION in all_text(again) and "So far" not in all_text(again)
    # Back on the first question stays there instead of failing
    assert FIRST_QUESTION in all_text(bot.click(buttons(first)["Back"]))


@pytest.mark.parametrize("outcome, title", [("hybrid", "Both: fine-tune the behaviour"),
                                            ("neither", "Neither yet")])
def test_a_full_walk_ends_in_a_recommendation_with_reasons_and_trade_offs(bot, outcome, title):
    path = next(p for p, key in all_paths(TREE) if key == outcome)
    message = bot.command()
    for label in labels_for(path):
        message = bot.click(answer(message, label))
    text = all_text(message)
    assert title in text
    header = next(b for b in message["blocks"] if b["type"] == "header")
    assert title in header["text"]["text"]
    node = TREE.nodes[TREE.start]
    for answer_id in path:  # every answer's reason is quoted under "Why"
        chosen = node.question.answer(answer_id)
        assert " ".join(chosen.reason.split())[:60] in " ".join(text.split())
        route = node.routes[answer_id]
        node = TREE.nodes[route.next] if route.next else None
    for aspect in ("Update speed", "Cost", "Latency", "Explainability", "Failure modes"):
        assert f"*{aspect}" in text
    assert "*Next steps*\n1. " in text
    assert {"Share in channel", "Back", "Start over"} == set(buttons(message))


def finished_walk(bot) -> dict[str, Any]:
    message = bot.command()
    for label in ("It lacks facts", "In documents", "More than once a month"):
        message = bot.click(answer(message, label))
    assert "RAG: look the facts up" in all_text(message)
    return message


def test_share_posts_the_result_visibly_naming_who_ran_it(bot):
    result = finished_walk(bot)
    after = bot.click(buttons(result)["Share in channel"])
    [shared] = bot.fake.posts(CHANNEL)
    assert f"<@{USER}> ran `/ragvsft`" in all_text(shared)
    assert "RAG: look the facts up" in all_text(shared)
    assert "*Why, from the answers*" in all_text(shared)
    assert not any(b["type"] == "actions" for b in shared["blocks"])  # no buttons for everyone
    assert after["replace_original"] is True and SHARED_NOTE in all_text(after)
    assert "Share in channel" not in buttons(after) and "Start over" in buttons(after)


def test_share_where_the_bot_is_not_a_member_posts_through_the_response_url(bot):
    bot.fake.not_in_channel.add("C0NOTMINE")
    result = finished_walk(bot)
    seen = len(bot.fake.responses())
    share = buttons(result)["Share in channel"]
    bot.click(share, channel="C0NOTMINE")
    responses = bot.fake.wait_responses(seen + 2)[seen:]
    visible = next(r for r in responses if r.get("response_type") == "in_channel")
    assert visible["replace_original"] is False and f"<@{USER}>" in all_text(visible)
    assert not bot.fake.posts("C0NOTMINE")
    assert [c.params["channel"] for c in bot.fake.calls_to("chat.postMessage")] == ["C0NOTMINE"]
    assert SHARED_NOTE in all_text(responses[-1])  # the private copy says it was shared


def test_symptom_mode_picks_a_symptom_and_says_what_to_try(bot):
    menu = bot.command("symptom")
    assert menu["response_type"] == "ephemeral"
    assert "Which symptom are you seeing?" in all_text(menu)
    assert {s.label for s in TREE.symptoms} <= set(buttons(menu))
    shown = bot.click(buttons(menu)["It is too expensive at scale"])
    text = all_text(shown)
    assert "*Try first*" in text and "*If that fails*" in text and "Distil" in text
    assert {"Share in channel", "Start over"} <= set(buttons(shown))
    bot.click(buttons(shown)["Share in channel"])
    [shared] = bot.fake.posts(CHANNEL)
    assert f"<@{USER}> ran `/ragvsft symptom`" in all_text(shared) and "Distil" in all_text(shared)
    again = bot.click(buttons(shown)["Start over"])
    assert "Which symptom are you seeing?" in all_text(again)
    walk = bot.click(buttons(shown)["Take the full walk"])
    assert FIRST_QUESTION in all_text(walk)
    # an unknown symptom id (edited value, or removed from the tree) shows the list again
    gone = bot.click({**buttons(menu)["It answers in the wrong tone"], "value": "nope"})
    assert UNKNOWN_SYMPTOM_NOTICE in all_text(gone) and "Which symptom" in all_text(gone)


def tamper(value: str) -> str:
    head, tag = value.rsplit(".", 1)
    return f"{head}.{'A' if tag[0] != 'A' else 'B'}{tag[1:]}"


def test_a_tampered_or_foreign_value_starts_over_with_a_notice(bot):
    first = bot.command()
    second = bot.click(answer(first, "It lacks facts"))
    docs = answer(second, "In documents")
    for value in (tamper(docs["value"]),  # the tag no longer matches
                  docs["value"].replace(".knowledge-docs.", ".knowledge-live."),  # edited path
                  "w1.0000000000.knowledge.AAAAAAAAAAAAAAAA",  # another tree version
                  "not a state at all"):
        restarted = bot.click({**docs, "value": value})
        assert restarted["replace_original"] is True
        assert STALE_NOTICE in all_text(restarted) and FIRST_QUESTION in all_text(restarted)
    # a forged Share value posts nothing
    result = finished_walk(bot)
    share = buttons(result)["Share in channel"]
    refused = bot.click({**share, "value": tamper(share["value"])})
    assert STALE_NOTICE in all_text(refused) and not bot.fake.posts()


def test_a_walk_continues_on_another_process_but_not_under_another_key(bots):
    one, two = bots(), bots()
    second = one.click(answer(one.command(), "It lacks facts"))
    assert "How often" in all_text(two.click(answer(second, "In documents")))  # no session
    other_key = bots(secret="another-signing-secret")
    assert STALE_NOTICE in all_text(other_key.click(answer(second, "In documents")))


def test_help_and_unknown_arguments(bot):
    assert "`/ragvsft symptom`" in all_text(bot.command("help"))
    unknown = all_text(bot.command("<!channel> frobnicate"))
    assert "I don't know" in unknown and "<!channel>" not in unknown


def test_a_broken_tree_stops_start_up_with_the_validation_message(tmp_path, settings, fake_slack,
                                                                  monkeypatch, capsys):
    bad = tmp_path / "tree.yaml"
    bad.write_text("start: nowhere\nquestions: []\nnodes: []\noutcomes: []\n")
    broken = settings.model_copy(update={"ragvsft": settings.ragvsft.model_copy(
        update={"tree": bad})})
    with pytest.raises(TreeError, match="invalid decision tree"):
        build_app(broken, StubPipeline(), make_client("xoxb-t", fake_slack.base_url),
                  signing_secret=SIGNING_SECRET)
    # `ragbot serve` exits 2 with the message, before it loads any model
    from bot.slack import serve

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-t")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setattr("bot.answering.pipeline.Pipeline.warm_up",
                        lambda self: pytest.fail("loaded models before checking the tree"))
    with pytest.raises(SystemExit) as exited:
        serve.serve_forever(broken, http=True, port=0)
    assert exited.value.code == 2
    assert "invalid decision tree" in capsys.readouterr().err


def test_the_tree_path_comes_from_config_relative_to_the_config_file(tmp_path):
    (tmp_path / "conf").mkdir()
    parsed = parse_settings({"ragvsft": {"tree": "trees/t.yaml"}}, tmp_path / "conf")
    assert parsed.ragvsft.tree == (tmp_path / "conf" / "trees" / "t.yaml").resolve()
    assert parse_settings({}, tmp_path).ragvsft.tree is None  # the repo's config/ragvsft.yaml
