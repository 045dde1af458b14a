"""Block Kit messages the bot posts: pure functions of data, tested directly.

Every message is a dict with `blocks` and a plain-text fallback `text` (notifications, screen
readers, clients without Block Kit), ready for `chat.postMessage(**message)`.

Slack's limits, kept by construction rather than hoped for:
- a section's text is at most 3,000 characters: long text is split into several sections, at a
  paragraph, line, sentence or word boundary, never inside an `&amp;`-style entity;
- a message has at most 50 blocks: `paginate` spreads the blocks over several messages (posted in
  order in the same thread), the feedback buttons always on the last one;
- the fallback text is kept under 3,000 characters (Slack truncates at 40,000).
All wiki and user text goes through `mrkdwn.safe` (one function); links are built by
`mrkdwn.link` from config URLs.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from bot.answering.types import NO_MATCH, PRIVATE_ONLY, Answer, Citation, abstain_text
from bot.slack import ids
from bot.slack.mrkdwn import link, markdown_to_mrkdwn, safe
from bot.timefmt import ago

SECTION_LIMIT = 3000
BLOCK_LIMIT = 50
FALLBACK_LIMIT = 3000

Block = dict[str, Any]
Message = dict[str, Any]


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at the most natural boundary."""
    pieces: list[str] = []
    text = text.strip()
    while len(text) > limit:
        window = text[:limit]
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            at = window.rfind(sep)
            if at >= limit // 3:
                cut = at + (1 if sep == ". " else 0)
                break
        if cut <= 0:
            cut = limit
            amp = window.rfind("&", max(0, limit - 6))
            if amp != -1 and ";" not in window[amp:]:
                cut = amp  # don't cut "&amp;" in half
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def sections(mrkdwn: str) -> list[Block]:
    """`mrkdwn` as section blocks, split at natural boundaries within SECTION_LIMIT."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": piece}}
            for piece in split_text(mrkdwn)]


def _context(mrkdwn: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn[:SECTION_LIMIT]}]}


def fallback(text: str) -> str:
    """A notification-sized plain fallback from text that `safe` already made inert."""
    text = " ".join(text.split())
    if len(text) <= FALLBACK_LIMIT:
        return text
    cut = text.rfind(" ", 0, FALLBACK_LIMIT - 1)
    return text[:cut if cut > 0 else FALLBACK_LIMIT - 1] + "…"


def citation_line(c: Citation, now: datetime | None = None, private: bool = False) -> str:
    section = c.headings.split(" > ")[-1].strip() if c.headings else ""
    label = c.title or c.source_id
    if section and section != label:
        label = f"{label} › {section}"
    line = f"[{c.n}] {link(c.url, label)} · updated {ago(c.updated_at, now)}"
    return line + (" · :lock: private" if private else "")


def freshness_line(updated_at: datetime | None, now: datetime | None = None) -> str:
    if updated_at is None:
        return ":arrows_counterclockwise: The index has no completed sync yet."
    return f":arrows_counterclockwise: Index synced {ago(updated_at, now)}."


def feedback_block(answer_id: str) -> Block:
    def button(action_id: str, emoji: str, label: str) -> dict:
        return {"type": "button", "action_id": action_id, "value": answer_id,
                "text": {"type": "plain_text", "text": f"{emoji} {label}", "emoji": True}}

    return {"type": "actions", "block_id": ids.FEEDBACK_BLOCK,
            "elements": [button(ids.FEEDBACK_UP, ":thumbsup:", "Helpful"),
                         button(ids.FEEDBACK_DOWN, ":thumbsdown:", "Not right")]}


def paginate(blocks: list[Block], fallback_text: str, limit: int = BLOCK_LIMIT) -> list[Message]:
    """Blocks spread over messages of at most `limit` blocks; the first carries `fallback_text`."""
    messages = []
    for start in range(0, len(blocks), limit):
        part = blocks[start:start + limit]
        text = fallback_text if start == 0 else fallback(_first_text(part) or "(continued)")
        messages.append({"text": text, "blocks": part})
    return messages or [{"text": fallback_text, "blocks": []}]


def _first_text(blocks: list[Block]) -> str:
    for block in blocks:
        if block.get("type") == "section":
            return block["text"]["text"]
    return ""


def answer_messages(answer: Answer, answer_id: str, *, now: datetime | None = None,
                    private_sources: Collection[str] = ()) -> list[Message]:
    """The cited answer: text, Sources, index freshness, feedback buttons."""
    body = markdown_to_mrkdwn(safe(answer.text))
    sources = "\n".join(citation_line(c, now, c.source in private_sources)
                        for c in answer.citations)
    blocks = sections(body)
    if sources:
        blocks += sections(f"*Sources*\n{sources}")
    blocks.append(_context(freshness_line(answer.index_updated_at, now)))
    blocks.append(feedback_block(answer_id))
    return paginate(blocks, fallback(safe(answer.text)))


def abstain_message(answer: Answer, now: datetime | None = None) -> Message:
    """Why there is no answer, and the closest pages when nothing matched well enough."""
    text = safe(abstain_text(answer))
    lines = [f":warning: {text}"]
    if answer.reason == NO_MATCH and answer.nearest:
        lines.append("Closest pages I found:")
        lines += [f"• {link(p.url, p.title or p.source_id)}" for p in answer.nearest]
    elif answer.reason == PRIVATE_ONLY:
        lines.append("Ask in a conversation where those sources are allowed, or ask the "
                     "bot's admins which channel that is.")
    blocks = sections("\n".join(lines)) + [_context(freshness_line(answer.index_updated_at, now))]
    return {"text": fallback(text), "blocks": blocks}


def question_error_message(message: str) -> Message:
    """The question itself cannot be answered (empty, too long); says what to change."""
    text = safe(message)
    return {"text": fallback(text), "blocks": sections(f":pencil2: {text}")}


def error_message(error_id: str) -> Message:
    text = (f"Something went wrong on my side, so I have no answer this time (error id "
            f"`{safe(error_id)}`). Please try again; if it keeps happening, tell the bot's "
            "admins that id.")
    return {"text": fallback(text.replace("`", "")), "blocks": sections(f":boom: {text}")}


def busy_message() -> Message:
    text = ("I'm answering a lot of questions right now and can't take this one. "
            "Please ask again in a minute.")
    return {"text": text, "blocks": sections(f":hourglass: {text}")}


def restarting_message() -> Message:
    text = "I'm restarting and couldn't get to this question. Please ask again in a minute."
    return {"text": text, "blocks": sections(f":arrows_counterclockwise: {text}")}


def vote_thanks(vote: str) -> str:
    if vote == "up":
        return ":thumbsup: Thanks! Your vote is recorded."
    return (":thumbsdown: Thanks, your vote is recorded. Flagged answers are reviewed and "
            "become test cases, so the bot gets this right next time.")


UNKNOWN_ANSWER = "I can't find that answer any more, so the vote was not recorded."
