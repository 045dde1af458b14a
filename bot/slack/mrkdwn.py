"""Making text from the wiki or from a user safe to put in a Slack message.

`safe()` is the one function every piece of wiki or user text goes through before it lands in a
block or in a message's fallback `text`. After it, the text cannot ping anyone and cannot form a
link or a mention:

- Slack's own syntax is turned into what it displays, unlinked: `<!channel>` -> "@channel",
  `<@U024BE7LH>` -> "@U024BE7LH", `<!subteam^S0|@oncall>` -> "@oncall", `<#C1|eng>` -> "#eng",
  `<https://x|label>` -> "label (https://x)";
- every "@channel", "@here", "@everyone" (raw, or produced by the step above) gets a word joiner
  (U+2060) after the "@", so not even a client with `link_names` turns it into a broadcast;
- `&`, `<`, `>` are escaped as Slack asks (`&amp;`, `&lt;`, `&gt;`), so nothing left can open a
  `<...>` control sequence.
Links the bot builds itself (`link()`) are made after this, from an escaped label and a URL that
cannot close the link early.

`markdown_to_mrkdwn()` turns the little Markdown the wiki's sentences carry into Slack's
dialect (`**bold**` -> `*bold*`); it runs on text that `safe()` already made inert.
"""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"

_SLACK_SYNTAX = re.compile(r"<([^<>\n]{1,500})>")
_BROADCAST = re.compile(r"(?<![\w.+-])@(channel|here|everyone)\b", re.IGNORECASE)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")


def _display(match: re.Match[str]) -> str:
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("!subteam^"):
        return label if label.startswith("@") else "@" + (label or target[len("!subteam^"):])
    if target.startswith("!"):  # <!channel>, <!here|here>, <!everyone>, <!date^...|text>
        word = target[1:].split("^", 1)[0]
        if word in {"channel", "here", "everyone"}:
            return "@" + word
        return label or word
    if target.startswith("@"):  # <@U123> or <@U123|name>
        return "@" + (label or target[1:])
    if target.startswith("#"):  # <#C123|eng>
        return "#" + (label or target[1:])
    if re.match(r"(?i)(https?|mailto):", target):
        return f"{label} ({target})" if label and label != target else target
    return match.group(0)  # not Slack syntax (e.g. "<2 GB>"): escaping below keeps it as text


def escape(text: str) -> str:
    """Slack's three control characters, escaped (nothing else)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe(text: str | None) -> str:
    """Wiki or user text, made inert: no mention, broadcast or link can survive it."""
    text = _SLACK_SYNTAX.sub(_display, text or "")
    text = _BROADCAST.sub(lambda m: "@" + WORD_JOINER + m.group(1), text)
    return escape(text)


def plain(text: str | None) -> str:
    """Slack-formatted text from an event (a question) -> what the person typed, unescaped.

    For the pipeline only: whatever comes out goes through `safe()` again before Slack sees it.
    """
    text = _SLACK_SYNTAX.sub(_display, text or "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def markdown_to_mrkdwn(text: str) -> str:
    """`**bold**` -> `*bold*`; call on text `safe()` returned."""
    return _BOLD.sub(r"*\1*", text)


def link(url: str | None, label: str) -> str:
    """A link the bot builds: `label` is wiki text (made safe), `url` comes from config.

    Only http(s) URLs become links; anything else is shown as plain text.
    """
    label = safe(label)
    if not url or not re.match(r"(?i)https?://", url):
        return label
    target = escape(url).replace("|", "%7C")
    return f"<{target}|{label}>" if label else f"<{target}>"
