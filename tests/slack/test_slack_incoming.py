"""Which events are questions: no bot loops, no edits, one answer per message."""

import pytest

from bot.slack.incoming import question_from_mention, question_from_message

BOT = "U0RAGBOT"


def msg(**kw):
    return {"type": "message", "user": "U1", "text": "hi", "ts": "2.0", "channel": "C1",
            "channel_type": "channel", **kw}


def test_mention_strips_the_bot_and_keeps_the_question():
    q = question_from_mention({"type": "app_mention", "user": "U1", "ts": "1.0", "channel": "C1",
                               "text": f"<@{BOT}> how do I reset my VPN token?"}, BOT)
    assert q.text == "how do I reset my VPN token?" and not q.follow_up_only and not q.in_thread


@pytest.mark.parametrize("event", [
    msg(user=BOT, channel_type="im"),
    msg(bot_id="B0OTHER", channel_type="im"),
    msg(subtype="bot_message", channel_type="im"),
    msg(subtype="message_changed", channel_type="im", message={"text": "edited"}),
    msg(subtype="message_deleted", channel_type="im"),
    msg(subtype="channel_join", channel_type="im"),
    msg(user=None, channel_type="im"),
])
def test_bots_edits_and_deletions_are_never_questions(event):
    assert question_from_message(event, BOT) is None


def test_bot_mentions_from_bots_are_ignored():
    assert question_from_mention({"type": "app_mention", "user": "U2", "bot_id": "B2", "ts": "1",
                                  "channel": "C1", "text": f"<@{BOT}> loop?"}, BOT) is None


def test_dm_is_a_question_and_channel_chatter_is_not():
    assert question_from_message(msg(channel_type="im", channel="D1"), BOT).text == "hi"
    assert question_from_message(msg(), BOT) is None


def test_thread_reply_is_a_follow_up_candidate_unless_it_mentions_the_bot():
    q = question_from_message(msg(thread_ts="1.0", text="and on Linux?"), BOT)
    assert q.follow_up_only and q.in_thread and q.thread_ts == "1.0"
    assert question_from_message(msg(thread_ts="1.0", text=f"<@{BOT}> and Linux?"), BOT) is None
    assert question_from_message(msg(thread_ts="1.0", text="x", subtype="thread_broadcast"), BOT)
