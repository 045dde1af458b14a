"""Which Slack events are questions for the bot, and what the question is. Pure.

An event becomes a `Question` only when a person addressed the bot:
- `app_mention`: someone @mentioned it in a channel (top level or in a thread);
- `message` in a DM (`channel_type: im`);
- `message` in a thread of a channel, without a mention: a *candidate* follow-up, answered only
  if the bot owns that thread (the answering job checks; the store knows).
Never a question, so the bot can never answer itself or loop with another bot:
- its own messages and any message with a `bot_id` (other bots, apps, workflows);
- subtypes other than plain messages, thread broadcasts and file shares (`message_changed`,
  `message_deleted`, `bot_message`, `channel_join`, ...);
- a `message` that @mentions the bot outside a DM: its `app_mention` twin answers it (the
  `msg:<channel>:<ts>` claim in the store makes sure only once, whichever arrives first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.slack.mrkdwn import plain

ANSWERED_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    user: str
    channel: str
    ts: str
    thread_ts: str | None  # the thread it was asked in; None at the top level
    channel_type: str | None  # from the event when Slack sends it (message events do)
    follow_up_only: bool = False  # answer only if the bot owns `thread_ts`

    @property
    def in_thread(self) -> bool:
        return bool(self.thread_ts) and self.thread_ts != self.ts


def _from_person(event: dict[str, Any], bot_user_id: str | None) -> bool:
    user = event.get("user")
    return bool(user) and user != bot_user_id and not event.get("bot_id") \
        and not event.get("bot_profile") and event.get("subtype") in ANSWERED_SUBTYPES \
        and not event.get("hidden")


def _strip_mention(text: str, bot_user_id: str | None) -> str:
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", " ", text)
    return " ".join(plain(text).split())


def question_from_mention(event: dict[str, Any], bot_user_id: str | None) -> Question | None:
    if not _from_person(event, bot_user_id) or not event.get("channel") or not event.get("ts"):
        return None
    return Question(text=_strip_mention(event.get("text") or "", bot_user_id), user=event["user"],
                    channel=event["channel"], ts=event["ts"], thread_ts=event.get("thread_ts"),
                    channel_type=event.get("channel_type"))


def question_from_message(event: dict[str, Any], bot_user_id: str | None) -> Question | None:
    if not _from_person(event, bot_user_id) or not event.get("channel") or not event.get("ts"):
        return None
    text = event.get("text") or ""
    channel_type = event.get("channel_type")
    base = dict(user=event["user"], channel=event["channel"], ts=event["ts"],
                thread_ts=event.get("thread_ts"), channel_type=channel_type)
    if channel_type == "im":
        return Question(text=_strip_mention(text, bot_user_id), **base)
    if bot_user_id and f"<@{bot_user_id}" in text:
        return None  # the app_mention event for this message answers it
    thread_ts = event.get("thread_ts")
    if not thread_ts or thread_ts == event["ts"]:
        return None  # top-level chatter in a channel is not for the bot
    return Question(text=_strip_mention(text, bot_user_id), follow_up_only=True, **base)
