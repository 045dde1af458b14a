"""Slack's platform rules, each a signed request dispatched to the real Bolt app in-process.

These use `StubPipeline` (instant answers): what they check is the Slack layer, not answers.
"""

import re
import time

from bot import records as store
from bot.knowledge.index import Index
from fake_slack import BOT_ID, BOT_USER_ID
from fake_slack.signing import mention, message
from tests.slack.helpers import StubPipeline, all_text

PINGS = re.compile(r"<[!@#]|(?<![\w.+-])@(channel|here|everyone)\b", re.IGNORECASE)


def settle(bot, channel="D0CONTROL"):
    """Send a DM and wait for its answer: events sent before it have been handled by then."""
    bot.sender.event(message("control question", channel=channel, channel_type="im"))
    bot.fake.wait_posts(1, channel)


def test_bad_signature_is_401_and_does_nothing(bot_factory):
    bot = bot_factory(answers=StubPipeline())
    reply = bot.sender.event(mention("hi", channel="C0SIG"), bad_signature=True)
    assert reply.status == 401
    wrong_secret = type(bot.sender)(bot.sender.target, secret="not-the-secret")
    assert wrong_secret.event(mention("hi", channel="C0SIG")).status == 401
    settle(bot)
    assert bot.fake.posts("C0SIG") == [] and bot.pipeline.calls[0]["question"] == "control question"


def test_timestamp_older_than_five_minutes_is_rejected(bot_factory):
    bot = bot_factory(answers=StubPipeline())
    stale = int(time.time()) - 6 * 60
    assert bot.sender.event(mention("replayed", channel="C0OLD"), timestamp=stale).status == 401
    fresh = int(time.time()) - 60
    assert bot.sender.event(mention("fresh", channel="C0OLD"), timestamp=fresh).status == 200
    bot.fake.wait_posts(1, "C0OLD")
    assert [c["question"] for c in bot.pipeline.calls] == ["fresh"]


def test_retried_event_is_answered_once(bot_factory):
    bot = bot_factory(answers=StubPipeline())
    event = mention("how do I reset my VPN token?", channel="C0RETRY")
    replies = [bot.sender.event(event, event_id="Ev0RETRY0001", retry_num=n)
               for n in (None, 1, 2, 3)]
    assert [r.status for r in replies] == [200] * 4  # every delivery is acked
    bot.fake.wait_posts(1, "C0RETRY")
    settle(bot)
    assert len(bot.fake.posts("C0RETRY")) == 1
    assert len(bot.fake.calls_to("reactions.add")) == 2  # the question and the control


def test_seen_events_survive_a_restart(bot_factory, fake_slack):
    first = bot_factory(answers=StubPipeline())
    event = mention("how do I reset my VPN token?", channel="C0RESTART")
    first.sender.event(event, event_id="Ev0RESTART01")
    fake_slack.wait_posts(1, "C0RESTART")
    first.stop()

    second = bot_factory(answers=StubPipeline())  # same data dir, fresh process state
    assert second.sender.event(event, event_id="Ev0RESTART01", retry_num=1).status == 200
    settle(second)
    assert len(fake_slack.posts("C0RESTART")) == 1 and second.pipeline.calls[0]["question"] == \
        "control question"


def test_own_and_other_bots_messages_and_edits_are_ignored(bot_factory, demo_settings):
    bot = bot_factory(answers=StubPipeline())
    thread = "1700000000.000100"
    store.add_thread_question(Index(demo_settings).engine, "C0LOOP", thread, "how do I reset my VPN?")
    ignored = [
        message("my own answer [1]", channel="C0LOOP", thread_ts=thread, user=BOT_USER_ID,
                bot_id=BOT_ID),
        message("another bot", channel="C0LOOP", thread_ts=thread, user="U0OTHERBOT",
                bot_id="B0OTHER"),
        message("legacy bot", channel="C0LOOP", thread_ts=thread, user=None,
                subtype="bot_message", bot_id="B0OLD"),
        message("", channel="C0LOOP", thread_ts=thread, user=None, subtype="message_changed",
                message={"type": "message", "user": "U0ALICE", "text": "edited question?"}),
        message("", channel="C0LOOP", thread_ts=thread, user=None, subtype="message_deleted",
                deleted_ts="1700000000.000200"),
        {**mention("bots mentioning bots", channel="C0LOOP"), "bot_id": "B0OTHER"},
    ]
    for event in ignored:
        assert bot.sender.event(event).status == 200  # acked, so Slack doesn't retry
    follow_up = message("and on Linux?", channel="C0LOOP", thread_ts=thread)
    bot.sender.event(follow_up)
    [post] = bot.fake.wait_posts(1, "C0LOOP")
    settle(bot)
    assert len(bot.fake.posts("C0LOOP")) == 1 and post["thread_ts"] == thread
    assert [c["question"] for c in bot.pipeline.calls] == ["and on Linux?", "control question"]
    assert bot.pipeline.calls[0]["history"] == ["how do I reset my VPN?"]
    reacted = {c.params["timestamp"] for c in bot.fake.calls_to("reactions.add")}
    assert follow_up["ts"] in reacted and len(reacted) == 2


def test_replies_in_threads_the_bot_does_not_own_are_ignored(bot_factory):
    bot = bot_factory(answers=StubPipeline())
    bot.sender.event(message("talking among humans", channel="C0HUMANS", thread_ts="1.000001"))
    bot.sender.event(message("top-level chatter", channel="C0HUMANS"))
    settle(bot)
    assert bot.fake.posts("C0HUMANS") == [] and not [
        c for c in bot.fake.calls_to("reactions.add") if c.params["channel"] == "C0HUMANS"]


def test_mention_in_a_thread_is_answered_once_although_slack_sends_two_events(bot_factory,
                                                                            demo_settings):
    bot = bot_factory(answers=StubPipeline())
    thread = "1700000001.000100"
    store.add_thread_question(Index(demo_settings).engine, "C0TWIN", thread, "first question")
    ts = "1700000001.000300"
    text = f"<@{BOT_USER_ID}> and on Linux?"
    bot.sender.event(message(text, channel="C0TWIN", thread_ts=thread, ts=ts))
    bot.sender.event(mention("and on Linux?", channel="C0TWIN", thread_ts=thread, ts=ts))
    bot.fake.wait_posts(1, "C0TWIN")
    settle(bot)
    assert len(bot.fake.posts("C0TWIN")) == 1


def test_rate_limited_post_is_waited_out_and_the_answer_arrives(bot_factory):
    bot = bot_factory(answers=StubPipeline())
    bot.fake.rate_limit("chat.postMessage", times=1)
    bot.sender.event(mention("how do I reset my VPN token?", channel="C0RATE"))
    [post] = bot.fake.wait_posts(1, "C0RATE", timeout=15)
    [limited] = [c for c in bot.fake.calls_to("chat.postMessage", ok_only=False) if c.status == 429]
    accepted = [c for c in bot.fake.calls_to("chat.postMessage") if c.params.get("_accepted")][0]
    assert accepted.at - limited.at >= 1.0  # Retry-After: 1 was honoured
    assert "vpn.example/reset" in all_text(post)


def test_long_answers_are_split_and_every_message_is_accepted(bot_factory):
    from datetime import datetime, timezone

    from bot.answering.types import Citation

    text = " ".join(f"Step {i}: do the thing & check it. [{i % 60 + 1}]" for i in range(4000))
    cites = [Citation(n=n, source="handbook", source_id=f"p{n}.md", title=f"Page {n} " + "x" * 100,
                      url=f"https://wiki.brightwave.example/p{n}.md", passage="p",
                      updated_at=datetime(2026, 1, 1, tzinfo=timezone.utc)) for n in range(1, 61)]
    bot = bot_factory(answers=StubPipeline(text=text, citations=cites))
    question = mention("tell me everything", channel="C0LONG")
    bot.sender.event(question)
    bot.fake.wait_for(lambda: bot.fake.calls_to("reactions.remove"))
    posts = bot.fake.posts("C0LONG")
    rejected = [c for c in bot.fake.calls_to("chat.postMessage") if not c.params.get("_accepted")]
    assert rejected == [] and len(posts) >= 2  # the fake refuses what Slack refuses
    assert all(p["thread_ts"] == question["ts"] for p in posts)
    assert posts[-1]["blocks"][-1]["type"] == "actions"
    assert "Step 3999" in all_text(posts[-2]) + all_text(posts[-1])


def test_text_that_would_ping_is_neutralised_everywhere(bot_factory):
    from datetime import datetime, timezone

    from bot.answering.types import Citation

    text = ("Ping <!channel> and <!here|here> and <!everyone>, then <@U024BE7LH> and "
            "<!subteam^S0INC|@oncall>; raw @channel, @here, @everyone & a <b>tag</b>. [1]")
    cites = [Citation(n=1, source="handbook", source_id="x.md", title="<!here> Title @everyone",
                      url="https://wiki.brightwave.example/x.md", passage="p",
                      headings="X > <@U1> section",
                      updated_at=datetime(2026, 1, 1, tzinfo=timezone.utc))]
    bot = bot_factory(answers=StubPipeline(text=text, citations=cites))
    bot.sender.event(mention("<!channel> what now?", channel="C0PING"))
    [post] = bot.fake.wait_posts(1, "C0PING")
    shown = all_text(post)
    assert not PINGS.search(shown), shown
    assert "&amp; a &lt;b&gt;tag&lt;/b&gt;" in shown
    assert ("<https://wiki.brightwave.example/x.md|@\u2060here Title @\u2060everyone › @U1 section>"
            in shown)
    assert bot.pipeline.calls[0]["question"] == "@channel what now?"  # what the person typed


def test_pipeline_error_is_reported_with_an_error_id(bot_factory):
    bot = bot_factory(answers=StubPipeline(error=RuntimeError("index exploded")))
    bot.sender.event(mention("how do I reset my VPN token?", channel="C0ERR"))
    [post] = bot.fake.wait_posts(1, "C0ERR")
    assert re.search(r"error id `[0-9a-f]{8}`", all_text(post))
    assert "index exploded" not in all_text(post)
    bot.fake.wait_for(lambda: bot.fake.calls_to("reactions.remove"))


def test_a_refused_answer_post_still_ends_in_an_error_id(bot_factory):
    bot = bot_factory(answers=StubPipeline())
    bot.fake.fail_next("chat.postMessage", "not_in_channel")
    bot.sender.event(mention("how do I reset my VPN token?", channel="C0REFUSED"))
    [post] = bot.fake.wait_posts(1, "C0REFUSED")
    assert re.search(r"error id `[0-9a-f]{8}`", all_text(post))


def test_empty_question_says_what_to_do(bot_factory):
    bot = bot_factory(answers=StubPipeline())
    bot.sender.event(mention("", channel="C0EMPTY"))
    [post] = bot.fake.wait_posts(1, "C0EMPTY")
    assert "The question is empty" in all_text(post) and bot.pipeline.calls == []


def test_full_queue_says_busy_instead_of_staying_silent(bot_factory):
    bot = bot_factory(answers=StubPipeline(), max_pending=0)
    bot.sender.event(mention("how do I reset my VPN token?", channel="C0BUSY"))
    [post] = bot.fake.wait_posts(1, "C0BUSY")
    assert "ask again in a minute" in all_text(post)


def test_url_verification_challenge(bot_factory):
    bot = bot_factory(answers=StubPipeline())
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    reply = bot.sender.envelope({"token": "t", "challenge": challenge, "type": "url_verification"})
    assert reply.status == 200 and challenge.encode() in reply.body


def test_unknown_answer_vote_is_not_stored_but_answered(bot_factory):
    from fake_slack.signing import block_action

    bot = bot_factory(answers=StubPipeline())
    reply = bot.sender.action(block_action("ragbot_feedback_up", "no-such-answer", channel="C0V"))
    assert reply.status == 200
    [call] = bot.fake.wait_for(lambda: bot.fake.calls_to("chat.postEphemeral"))
    assert "can't find that answer" in call.params["text"]

