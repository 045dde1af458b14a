"""Block Kit for `/ragvsft`: pure functions of the decision engine's data and pre-signed values.

Nothing here signs, decodes or talks to Slack (bot/slack/ragvsft/handler.py does); the caller passes the
`Buttons` (signed walk states) from `bot.decision.button_values`, so every screen is a function of
(what to show, what each button carries) and is tested directly.

Slack's limits, kept by construction:
- section and context text at most 3,000 characters: long text is split into several sections by
  `blocks.sections` (never inside an `&amp;` entity), a context line is cut with "…";
- at most 50 blocks: `_fit` shortens the middle of a screen and keeps its buttons;
- button text at most 75 characters and header text at most 150 (plain_text, cut with "…"); a
  cut answer label is also listed in full under the question, so no choice is hidden;
- button value at most 2,000 characters: the loader refuses a tree whose longest walk would not
  fit (bot/decision/loader.py), and a symptom value is its id (at most 32 characters);
- action ids unique within a block (`_<n>` suffixes, see bot/slack/ids.py).

Escaping: every tree text that lands in mrkdwn goes through `mrkdwn.safe` (no mention, broadcast or
link survives it). plain_text (button labels, the header) is not parsed by Slack, so it gets the
same treatment minus the entity escaping (`plain(safe(text))`: Slack syntax shown as its display
text, broadcasts defused), since a literal "&amp;" could otherwise show on a button.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.decision import Buttons, Result, Step, Symptom
from bot.slack import ids
from bot.slack.blocks import BLOCK_LIMIT, SECTION_LIMIT, Block, Message, fallback, sections
from bot.slack.mrkdwn import plain, safe

BUTTON_TEXT_LIMIT = 75
HEADER_LIMIT = 150
ACTIONS_LIMIT = 25  # elements in one actions block

TITLE = "RAG or fine-tuning?"
STALE_NOTICE = ("That button came from an older or altered version of this walk, so it could "
                "not be resumed. Starting over.")
UNKNOWN_SYMPTOM_NOTICE = "That symptom is no longer in the list. Pick one again."
SHARED_NOTE = "Posted in this channel."
EMOJI = {"rag": ":books:", "fine_tune": ":hammer_and_wrench:", "hybrid": ":jigsaw:",
         "neither": ":memo:"}
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")

HELP_TEXT = ("*/ragvsft* walks you through whether retrieval (RAG), fine-tuning, both or neither "
             "fits your problem, a few questions at a time. Only you see the walk; share the "
             "result in the channel when you are done.\n"
             "• `/ragvsft` start the walk\n"
             "• `/ragvsft symptom` start from what is going wrong (made-up facts, format, cost, "
             "...)")


# ---- small pieces ------------------------------------------------------------------------------


def _plain(text: str, limit: int) -> str:
    text = " ".join(plain(safe(text)).split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _cut(mrkdwn: str, limit: int = SECTION_LIMIT) -> str:
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = mrkdwn[:limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]  # don't leave half an "&amp;"
    return cut.rstrip() + "…"


def _context(mrkdwn: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(mrkdwn)}]}


def _button(action_id: str, text: str, value: str, style: str | None = None) -> Block:
    button = {"type": "button", "action_id": action_id, "value": value,
              "text": {"type": "plain_text", "text": _plain(text, BUTTON_TEXT_LIMIT),
                       "emoji": True}}
    if style:
        button["style"] = style
    return button


def _actions(buttons: list[Block]) -> list[Block]:
    return [{"type": "actions", "elements": buttons[i:i + ACTIONS_LIMIT]}
            for i in range(0, len(buttons), ACTIONS_LIMIT)]


def _notice(notice: str | None) -> list[Block]:
    return [_context(f":warning: {safe(notice)}")] if notice else []


def _fit(body: list[Block], tail: list[Block], note: str) -> list[Block]:
    """`body` + `tail` within BLOCK_LIMIT: when too long, body is cut and ends with `note`."""
    room = BLOCK_LIMIT - len(tail)
    if len(body) > room:
        body = body[:room - 1] + [_context(note)]
    return body + tail


def _bullets(items: Sequence[str]) -> str:
    return "\n".join(f"• {safe(item)}" for item in items)


def _message(blocks: list[Block], text: str) -> Message:
    return {"text": fallback(text), "blocks": blocks}


def _who(user_id: str) -> str:
    """A mention of the person who ran the walk; only a well-formed user id becomes one."""
    return f"<@{user_id}>" if USER_ID.match(user_id or "") else "Someone"


# ---- the walk ----------------------------------------------------------------------------------


def step_message(step: Step, buttons: Buttons, notice: str | None = None) -> Message:
    """One question: the one-line why, an answer button each, then Back and Start over (always
    shown; on the first question Back stays put)."""
    cut = [a for a in step.choices if len(" ".join(a.label.split())) > BUTTON_TEXT_LIMIT]
    question = f"*{safe(step.text)}*"
    if cut:  # a label too long for its button is listed in full here
        question += "\n" + "\n".join(f"{i}. {safe(a.label)}"
                                     for i, a in enumerate(step.choices, 1))
    labels = [a.label if not cut else f"{i}. {a.label}" for i, a in enumerate(step.choices, 1)]
    answers = [_button(f"{ids.RAGVSFT_ANSWER}_{i}", label, buttons.answers[a.id])
               for i, (a, label) in enumerate(zip(step.choices, labels, strict=True))]
    body = [*_notice(notice),
            _context(f"*{TITLE}*  ·  question {step.number} of up to {step.max_total}"),
            *sections(question),
            _context(f"_Why this matters:_ {safe(step.why)}")]
    tail = _actions(answers)
    if step.answered:
        tail.append(_context("So far: " + "  ›  ".join(safe(label) for _, label in step.answered)))
    tail.append({"type": "actions", "elements": [
        _button(ids.RAGVSFT_BACK, "Back", buttons.back or buttons.restart),
        _button(ids.RAGVSFT_RESTART, "Start over", buttons.restart)]})
    blocks = _fit(body, tail, "…")
    return _message(blocks, f"{TITLE} Question {step.number}: {safe(step.text)}")


def _result_body(result: Result) -> list[Block]:
    header = {"type": "header", "text": {"type": "plain_text", "emoji": True, "text": _plain(
        f"{EMOJI.get(result.key, ':bulb:')} {result.title}", HEADER_LIMIT)}}
    tradeoffs = "\n".join(f"• *{safe(t.aspect)}:* {safe(t.text)}" for t in result.tradeoffs)
    steps = "\n".join(f"{i}. {safe(s)}" for i, s in enumerate(result.next_steps, 1))
    body = [header, *sections(safe(result.summary))]
    if result.reasons:
        body += sections("*Why, from the answers*\n" + _bullets(result.reasons))
    if tradeoffs:
        body += sections("*Trade-offs*\n" + tradeoffs)
    if steps:
        body += sections("*Next steps*\n" + steps)
    if result.answers:
        body.append(_context("Answers: " + "  ›  ".join(safe(label)
                                                         for _, label in result.answers)))
    return body


TOO_LONG = "The rest is cut to fit one Slack message; `ragbot ragvsft` prints it in full."


def result_message(result: Result, buttons: Buttons, share_value: str, *,
                   notice: str | None = None, shared: bool = False) -> Message:
    """The recommendation, privately: reasons, trade-offs, next steps; Share in channel (until
    shared, then a note says so), Back and Start over."""
    nav = [_button(ids.RAGVSFT_BACK, "Back", buttons.back or buttons.restart),
           _button(ids.RAGVSFT_RESTART, "Start over", buttons.restart)]
    if shared:
        tail = [_context(f":white_check_mark: {SHARED_NOTE}"), {"type": "actions", "elements": nav}]
    else:
        share = _button(ids.RAGVSFT_SHARE, "Share in channel", share_value, style="primary")
        tail = [{"type": "actions", "elements": [share, *nav]}]
    blocks = _fit([*_notice(notice), *_result_body(result)], tail, TOO_LONG)
    return _message(blocks, f"Recommendation: {safe(result.title)}. {safe(result.summary)}")


def shared_result_message(result: Result, user_id: str) -> Message:
    """The result as posted in the channel: who ran it, no buttons (a click there would change
    the message for everyone)."""
    who = _who(user_id)
    lead = _context(f"{who} ran `/ragvsft` ({TITLE})")
    tail = [_context("Try it yourself: `/ragvsft`, or `/ragvsft symptom` to start from a symptom.")]
    blocks = _fit([lead, *_result_body(result)], tail, TOO_LONG)
    return _message(blocks, f"{who} ran /ragvsft. Recommendation: {safe(result.title)}")


# ---- symptoms ----------------------------------------------------------------------------------


def symptom_menu_message(symptoms: Sequence[Symptom], notice: str | None = None) -> Message:
    """Pick a symptom; each button's value is the symptom's id."""
    if not symptoms:
        return _message([_context("This decision tree has no symptoms configured.")],
                        "This decision tree has no symptoms configured.")
    buttons = [_button(f"{ids.RAGVSFT_SYMPTOM}_{i}", s.label, s.id)
               for i, s in enumerate(symptoms)]
    body = [*_notice(notice), _context(f"*{TITLE}*  ·  start from a symptom"),
            *sections("*Which symptom are you seeing?*"),
            _context("_Why start here:_ each symptom has a usual first fix; you get what to try "
                     "first, and what to try if that does not work.")]
    blocks = _fit(body, _actions(buttons), "…")
    return _message(blocks, f"{TITLE} Which symptom are you seeing?")


def _symptom_body(symptom: Symptom) -> list[Block]:
    text = f"*{safe(symptom.label)}*"
    if symptom.why:
        text += f"\n_Why it happens:_ {safe(symptom.why)}"
    return [*sections(text), *sections(f"*Try first*\n{safe(symptom.first_try)}"),
            *sections(f"*If that fails*\n{safe(symptom.if_fails)}")]


def symptom_message(symptom: Symptom, restart_value: str, *, shared: bool = False) -> Message:
    """What to try for one symptom, privately: Share in channel, Start over (the symptom list),
    and the full question walk."""
    nav = [_button(ids.RAGVSFT_SYMPTOMS, "Start over", "menu"),
           _button(ids.RAGVSFT_RESTART, "Take the full walk", restart_value)]
    if shared:
        tail = [_context(f":white_check_mark: {SHARED_NOTE}"), {"type": "actions", "elements": nav}]
    else:
        share = _button(ids.RAGVSFT_SYMPTOM_SHARE, "Share in channel", symptom.id, style="primary")
        tail = [{"type": "actions", "elements": [share, *nav]}]
    blocks = _fit([_context(f"*{TITLE}*  ·  symptom"), *_symptom_body(symptom)], tail, TOO_LONG)
    return _message(blocks, f"{safe(symptom.label)}. Try first: {safe(symptom.first_try)}")


def shared_symptom_message(symptom: Symptom, user_id: str) -> Message:
    who = _who(user_id)
    blocks = _fit([_context(f"{who} ran `/ragvsft symptom` ({TITLE})"), *_symptom_body(symptom)],
                  [_context("Try it yourself: `/ragvsft symptom`.")], TOO_LONG)
    return _message(blocks, f"{who} ran /ragvsft symptom: {safe(symptom.label)}")


# ---- other replies -----------------------------------------------------------------------------


def help_message(unknown: str | None = None) -> Message:
    text = HELP_TEXT
    if unknown:
        text = f"I don't know `/ragvsft {safe(_plain(unknown, 50))}`.\n" + text
    return _message(sections(text), text)


def share_failed_message(error: str) -> Message:
    """Shown privately when the result could not be posted (Slack's error code named)."""
    text = (f"I couldn't post in this conversation (`{safe(error)}`). Invite me to the channel "
            "with `/invite`, or copy the result from above.")
    return _message([_context(f":warning: {text}")], text)
